-- locus.cli: the `locus` command's subcommands.
local cli = {}

local usage = [[
usage: locus [command] [args]

  locus                     interactive console with `locus` loaded
  locus run FILE [ARGS]     run a Lua script with `locus` loaded (arg[0] = FILE, arg[1..] = ARGS)
  locus inspect PATH [--json]  tensors (name, dtype, shape, bytes) and metadata of a checkpoint
                           file or model directory
  locus convert SRC OUT.gguf [--type f32|f16|bf16|q8_0|q4_0|q4_k|q5_k|q6_k|q4_k_m] [--encoders f16|bf16]
                [--vision-tower DIR]
                           a checkpoint to GGUF. A LLaMA or GroundingGPT directory becomes one model
                           file: llama.cpp's names and metadata, the tokenizer with its added tokens,
                           config.json, the adapters; --encoders f16|bf16 adds the CLIP tower and
                           keeps EVA and ImageBind in that type (bf16: GroundingGPT's own, and what
                           --precision bf16 multiplies fastest); `ground --model OUT.gguf` runs it. Any other
                           checkpoint keeps its tensor names and metadata. --type converts 2-D float
                           weights (the LLM's only, for a model; rows a multiple of 32 for
                           q8_0/q4_0, of 256 for the K-quants; others stay as stored), leaving 1-D
                           tensors (norms, biases) as they are, as llama.cpp does; q4_k_m is
                           llama.cpp's Q4_K_M mix (q6_k for output and some attn_v/ffn_down, q4_k
                           elsewhere, q8_0 for rows not a multiple of 256; doc/checkpoints.md);
                           bool and u8 tensors become i8 and i32 (GGUF has neither)
  locus tokenize --model PATH [--no-bos] [--pieces] [--added-token-spaces keep|strip] TEXT
                           token ids of TEXT (PATH: tokenizer.model, a GGUF file or a model
                           directory with its added tokens); --pieces prints id and piece per line;
                           --added-token-spaces: transformers 4.34's (keep, default) or 4.31's
                           (strip) whitespace around added tokens (doc/llm.md)
  locus generate --model PATH --prompt TEXT [--max-new-tokens N] [--temperature T] [--top-k K]
                [--top-p P] [--repetition-penalty R] [--seed S] [--stop TEXT] [--no-bos] [--json]
                [--added-token-spaces keep|strip] [--kv-cache f32|f16]
                           text from a LLaMA-architecture model (HF directory or GGUF), streamed;
                           --json prints one object {text, tokens, prompt_tokens, stopped, timing}
  locus ground --model DIR|FILE.gguf [--vision-tower DIR] [--image FILE] [--video FILE] [--audio FILE] [--json] [--draw OUT.png]
              [--max-new-tokens N] [--temperature T] [--top-p P] [--top-k K] [--repetition-penalty R] [--seed S]
              [--threads N] [--template training] [--added-token-spaces keep|strip] [--kv-cache f32|f16]
              [--precision exact|fast|bf16 | --precision image=bf16,llm=fast,...] [--raw-tokens]
              [--eva F --blip2 F] [--imagebind F]
              QUESTION
                           GroundingGPT's answer about an image, a video and/or a sound, with its boxes
                           in pixels of the photo and spans in seconds of the video; --json prints
                           {text, tokens, prompt_tokens, boxes, spans, problems, image, video, timing}; --draw
                           writes the photo with the boxes numbered as listed; the question is text
                           (its "<im_patch>" is not the token) unless --raw-tokens
  locus chat --model DIR [--vision-tower DIR] [--image FILE] [--video FILE] [--audio FILE] [--temperature T]
             [--max-new-tokens N] [options of ground]
                           a conversation about the media in the terminal (Ctrl-D ends it); they are
                           encoded once, and every answer's boxes and spans are listed
  locus dump --model DIR [--vision-tower DIR] [--image FILE] [--video FILE] [--audio FILE] --prompt QUESTION --out DIR
            [--greedy N] [--pixel-values F.npy] [--frames F.npy] [--fbank F.npy]
                           every stage as .npy: pixel_values, image_features, image_embeds;
                           frame_indices, frames, eva_features (frame 0), video_embeds;
                           fbank [3, 1, 128, 204], audio_clip_embeds, audio_embeds;
                           input_ids, logits (last prompt position), greedy
  locus eval TASK --model M [--vision-tower DIR] --data PATH [--images DIR | --videos DIR | --media DIR]
             [--split S,S...] [--limit N] [--out RUN.jsonl] [--resume] [--shard I/N] [--prompt TEMPLATE]
             [--box-format xyxy|xywh] [--split-by unc|umd|google] [options of ground]
                           scores the model on TASK (refcoco, refcoco+, refcocog, charades-sta, jsonl,
                           scenes (the demo model's held-out scenes, drawn into --data DIR), or a
                           FILE.lua returning a task) as the papers do; one JSON line per sample,
                           flushed as it is answered; --resume skips the samples RUN.jsonl holds;
                           shards come from --shard or mpirun's / Slurm's environment (doc/eval.md)
  locus eval report RUN.jsonl... [--json OUT.json]
                           merges runs and shards: the papers' table (markdown) and JSON
  locus train --model DIR --data train.json [--images DIR] --trainable PATTERN [--trainable ...] --steps N
              --lr LR --out DIR [--batch B] [--save-every K] [--resume] [--warmup N] [--weight-decay W]
              [--clip C] [--max-length L] [--seed S] [--on-bad skip|refuse] [--threads N]
              [--template training|inference]
                           trains the weights whose names match PATTERN ("*" any run of characters,
                           e.g. 'model.mm_vision_projector.*', GroundingGPT's stage 1) on GroundingGPT's
                           training JSON with AdamW; OUT is a model directory (`ground --model OUT`)
                           with checkpoints every K steps; --resume goes on from the last (doc/training.md)
  locus scenes DIR [--count N] [--seed S] [--multi-turn] [--shapes 1-4] [--size 0.25-0.5]
             [--background plain|noisy] [--colours distinct|any]
                           synthetic photos of coloured shapes (doc/eval.md): DIR/images/*.png,
                           DIR/train.json (GroundingGPT's training pairs), DIR/eval.jsonl (for
                           `locus eval scenes`); the same seed gives the same scenes everywhere;
                           --shapes, --size (of the shorter side) and --background narrow them (a
                           curriculum); --colours any lets a colour repeat (then only colour and
                           shape together name a shape); --multi-turn puts a photo's questions in
                           one conversation
  locus kernel install [--user | --prefix DIR] [--command PATH]
                           registers the Jupyter kernel "Lua (locus)" (default prefix /usr/local;
                           --user: ~/.local/share/jupyter) running this locus (or PATH); doc/notebooks.md
  locus kernel --connection-file F
                           runs the kernel (what Jupyter starts)
  locus info                version, library, CPU features, kernels and threads
  locus help                this text

Environment: LOCUS_NUM_THREADS (threads), LOCUS_KERNEL=ref|avx2|avx512 (force a kernel path),
LOCUS_PRECISION=exact|fast|bf16 (the products: f32 activations; integer products for quantized
weights; and bf16 activations for bf16 weights on CPUs with AVX512_BF16; doc/llm.md).]]

local function fail(msg)
  io.stderr:write("locus: ", tostring(msg), "\n")
  return 1
end

local commands = {}

-- Options of one command: spec maps "--name" to "flag", "string", "number" or "list" (repeatable);
-- returns the options by name and the positional arguments. Mistakes raise errors for main().
local function parse(cmd, args, spec, max_positional)
  local opts, positional = {}, {}
  local i = 1
  while i <= #args do
    local a, kind = args[i], spec[args[i]]
    if kind == "flag" then
      opts[a] = true
    elseif kind then
      local v = args[i + 1]
      if v == nil then error(cmd .. ": " .. a .. " needs a value", 0) end
      if kind == "number" then v = tonumber(v) or error(cmd .. ": " .. a .. " needs a number, got " .. v, 0) end
      if kind == "list" then
        opts[a] = opts[a] or {}
        table.insert(opts[a], v)
      else
        opts[a] = v
      end
      i = i + 1
    elseif a:sub(1, 2) == "--" then
      error(cmd .. ": unknown option " .. a, 0)
    else
      positional[#positional + 1] = a
    end
    i = i + 1
  end
  if #positional > max_positional then error(cmd .. ": too many arguments (quote text that has spaces)", 0) end
  return opts, positional
end

function commands.run(args)
  local file = args[1]
  if not file then return fail("run: missing FILE\n" .. usage) end
  local chunk, err = loadfile(file)
  if not chunk then return fail(err) end
  _G.locus = require "locus"
  local script_args = { [0] = file }
  for i = 2, #args do script_args[i - 1] = args[i] end
  _G.arg = script_args
  local ok, res = xpcall(chunk, debug.traceback, unpack(script_args))
  if not ok then return fail(res) end
  return type(res) == "number" and res or 0
end

local function human_bytes(n)
  local units = { "B", "KB", "MB", "GB", "TB" }
  local i = 1
  while n >= 1024 and i < #units do
    n = n / 1024
    i = i + 1
  end
  return i == 1 and ("%d B"):format(n) or ("%.1f %s"):format(n, units[i])
end

-- metadata values in one line each: long arrays are summarized
local function short_value(v)
  if type(v) == "string" and (#v > 80 or v:find("\n")) then return ("[text, %d bytes]"):format(#v) end
  if type(v) ~= "table" then return tostring(v) end
  local n = #v
  if n > 8 then return ("[%d %ss]"):format(n, type(v[1]) == "string" and "string" or type(v[1])) end
  local parts = {}
  for i = 1, n do parts[i] = short_value(v[i]) end
  return "[" .. table.concat(parts, ", ") .. "]"
end

function commands.inspect(args)
  local o, pos = parse("inspect", args, { ["--json"] = "flag" }, 1)
  local path, as_json = pos[1], o["--json"]
  if not path then return fail("inspect: missing PATH\n" .. usage) end
  local w = require("locus").weights.open(path)
  local infos, metadata = w:infos(), w:metadata()
  if as_json then
    local json = require "locus.json"
    local tensors = {}
    for i, info in ipairs(infos) do
      tensors[i] = json.object({ name = info.name, dtype = info.dtype or info.stored_type, shape = json.array(info.shape) },
        { "name", "dtype", "shape" })
    end
    -- the metadata as the file orders it (GGUF's own order), not re-sorted
    print(('{"format":%s,"tensors":%s,"metadata":%s}'):format(json.encode(w:format()), json.encode(json.array(tensors)),
      w:metadata_json()))
    return 0
  end
  local rows, widths, total = {}, { 4, 5, 5, 5 }, 0
  for i, info in ipairs(infos) do
    rows[i] = { info.name, info.dtype or info.stored_type, "[" .. table.concat(info.shape, ", ") .. "]", tostring(info.nbytes) }
    for c = 1, 4 do widths[c] = math.max(widths[c], #rows[i][c]) end
    total = total + info.nbytes
  end
  local fmt = ("%%-%ds  %%-%ds  %%-%ds  %%%ds"):format(widths[1], widths[2], widths[3], widths[4])
  print(("%s (%s)"):format(path, w:format()))
  print(fmt:format("name", "dtype", "shape", "bytes"))
  for _, r in ipairs(rows) do print(fmt:format(r[1], r[2], r[3], r[4])) end
  print(("%d tensors, %s (%d bytes)"):format(#rows, human_bytes(total), total))
  local keys = {}
  for k in pairs(metadata) do keys[#keys + 1] = k end
  table.sort(keys)
  if #keys > 0 then print("metadata:") end
  for _, k in ipairs(keys) do print(("  %s = %s"):format(k, short_value(metadata[k]))) end
  return 0
end

function commands.convert(args)
  local o, pos = parse("convert", args, { ["--type"] = "string", ["--encoders"] = "string", ["--vision-tower"] = "string" }, 2)
  local src, out = pos[1], pos[2]
  if not (src and out) then return fail("convert: need SRC and OUT.gguf\n" .. usage) end
  local quantize = require("locus").quantize
  if o["--type"] and not quantize.is_type(o["--type"]) then
    return fail("convert: --type must be one of " .. table.concat(quantize.types, ", ") .. ", not '" .. o["--type"] .. "'")
  end
  if o["--encoders"] and o["--encoders"] ~= "f16" and o["--encoders"] ~= "bf16" then
    return fail("convert: --encoders takes f16 or bf16, not '" .. o["--encoders"] .. "'")
  end
  local n, as_model = require("locus").convert.run(src, out, { type = o["--type"], encoders = o["--encoders"],
    vision_tower = o["--vision-tower"] })
  print(("%s: %d tensors%s%s"):format(out, n, as_model and ", one model file (llama.cpp's names, tokenizer, config)" or "",
    o["--type"] and (" (2-D weights as " .. o["--type"] .. ")") or ""))
  return 0
end

function commands.tokenize(args)
  local o, pos = parse("tokenize", args, { ["--model"] = "string", ["--no-bos"] = "flag", ["--pieces"] = "flag",
    ["--added-token-spaces"] = "string" }, 1)
  local model, bos, pieces, text = o["--model"], not o["--no-bos"], o["--pieces"], pos[1]
  if not (model and text) then return fail("tokenize: need --model PATH and TEXT\n" .. usage) end
  local tok = require("locus").tokenizer.load(model, { added_token_spaces = o["--added-token-spaces"] })
  local ids = tok:encode(text, { bos = bos })
  if pieces then
    for _, id in ipairs(ids) do print(("%d\t%s"):format(id, tok:piece(id))) end
  else
    print(table.concat(ids, " "))
  end
  return 0
end

local function now() return require("locus.core").clock() end

function commands.generate(args)
  local numbers = { ["--max-new-tokens"] = "max_new_tokens", ["--temperature"] = "temperature", ["--top-k"] = "top_k",
    ["--top-p"] = "top_p", ["--repetition-penalty"] = "repetition_penalty", ["--seed"] = "seed" }
  local spec = { ["--model"] = "string", ["--prompt"] = "string", ["--stop"] = "list", ["--no-bos"] = "flag", ["--json"] = "flag",
    ["--added-token-spaces"] = "string", ["--kv-cache"] = "string" }
  for k in pairs(numbers) do spec[k] = "number" end
  local opts = parse("generate", args, spec, 0)
  local o = { max_new_tokens = 128, prompt = opts["--prompt"], stop = opts["--stop"] or {}, bos = not opts["--no-bos"] }
  for flag, key in pairs(numbers) do
    if opts[flag] then o[key] = opts[flag] end
  end
  local model, as_json = opts["--model"], opts["--json"]
  if not (model and o.prompt) then return fail("generate: need --model PATH and --prompt TEXT\n" .. usage) end
  local m = require("locus").llm.load(model, { added_token_spaces = opts["--added-token-spaces"], kv_cache = opts["--kv-cache"] })
  local t0, t_first = now(), nil
  o.on_token = function(text)
    t_first = t_first or now()
    if not as_json then
      io.write(text)
      io.flush()
    end
  end
  local out = m:generate(o)
  local t1 = now()
  t_first = t_first or t1
  if not as_json then
    io.write("\n")
    return 0
  end
  local json = require "locus.json"
  local decode_n = math.max(#out.ids - 1, 0)
  print(json.encode(json.object({ text = out.text, tokens = json.array(out.ids), prompt_tokens = out.prompt_tokens,
    stopped = out.stopped or json.null,
    timing = json.object({ prefill_s = t_first - t0, decode_s = t1 - t_first,
      decode_tokens_per_s = decode_n > 0 and decode_n / math.max(t1 - t_first, 1e-9) or 0 }, { "prefill_s", "decode_s" }) },
    { "text", "tokens", "prompt_tokens", "stopped", "timing" })))
  return 0
end

local ground_spec = { ["--model"] = "string", ["--vision-tower"] = "string", ["--image"] = "string", ["--video"] = "string",
  ["--eva"] = "string", ["--blip2"] = "string", ["--audio"] = "string", ["--imagebind"] = "string", ["--json"] = "flag",
  ["--draw"] = "string", ["--max-new-tokens"] = "number", ["--temperature"] = "number", ["--top-p"] = "number",
  ["--top-k"] = "number", ["--repetition-penalty"] = "number", ["--seed"] = "number", ["--threads"] = "number",
  ["--template"] = "string", ["--added-token-spaces"] = "string", ["--kv-cache"] = "string", ["--precision"] = "string",
  ["--raw-tokens"] = "flag" }

-- --precision P (every stage) or STAGE=P,STAGE=P (image, video, audio, llm)
local function precision_of(text)
  if not text or not text:find("=") then return text end
  local out = {}
  for item in text:gmatch("[^,]+") do
    local stage, p = item:match("^%s*([%w_]+)%s*=%s*([%w_]+)%s*$")
    if not stage then error("--precision: expected STAGE=PRECISION, got '" .. item .. "'", 0) end
    out[stage] = p
  end
  return out
end

local function load_groundinggpt(o)
  local locus = require "locus"
  if o["--threads"] then locus.set_num_threads(o["--threads"]) end
  return locus.load(o["--model"], { vision_tower = o["--vision-tower"], template = o["--template"], eva = o["--eva"],
    blip2 = o["--blip2"], imagebind = o["--imagebind"], added_token_spaces = o["--added-token-spaces"],
    kv_cache = o["--kv-cache"], precision = precision_of(o["--precision"]) })
end

-- The media and the generation options of ground, chat and dump's command line, for locus.pipeline.
local function request_of(o)
  local media = { image = o["--image"] and require("locus").image.read(o["--image"]), video = o["--video"],
    audio = o["--audio"] }
  local gen = { max_new_tokens = o["--max-new-tokens"], temperature = o["--temperature"], top_p = o["--top-p"],
    top_k = o["--top-k"], repetition_penalty = o["--repetition-penalty"], seed = o["--seed"] }
  return media, gen
end

local function print_grounding(parsed, indent)
  for i, b in ipairs(parsed.boxes) do
    print(("%s%d. %s: [%d, %d, %d, %d] px"):format(indent, i, b.phrase ~= "" and b.phrase or "(box)", b.x0 or -1, b.y0 or -1,
      b.x1 or -1, b.y1 or -1))
  end
  for _, sp in ipairs(parsed.spans) do
    if sp.t0 then
      print(("%s%s: %.2f s to %.2f s"):format(indent, sp.phrase ~= "" and sp.phrase or "(span)", sp.t0, sp.t1))
    else
      print(("%s%s: %.3f to %.3f of the video"):format(indent, sp.phrase ~= "" and sp.phrase or "(span)", sp.f0, sp.f1))
    end
  end
  for _, p in ipairs(parsed.problems) do io.stderr:write(("locus: ignored %s: %s\n"):format(p.text, p.reason)) end
end

-- The JSON object `ground --json` prints: text, tokens (the answer's), prompt_tokens (how many), boxes
-- (pixels of the photo and fractions of the padded square), spans (seconds and fractions; null
-- seconds without a duration), problems, the media's size, and each stage's seconds.
function cli.ground_json(r)
  local json = require "locus.json"
  local boxes, spans, problems = json.array(), json.array(), json.array()
  for i, b in ipairs(r.boxes) do
    boxes[i] = json.object({ phrase = b.phrase, box = b.x0 and json.array { b.x0, b.y0, b.x1, b.y1 } or json.null,
      fractions = json.array { b.fx0, b.fy0, b.fx1, b.fy1 } }, { "phrase", "box", "fractions" })
  end
  for i, sp in ipairs(r.spans) do
    spans[i] = json.object({ phrase = sp.phrase, seconds = sp.t0 and json.array { sp.t0, sp.t1 } or json.null,
      fractions = json.array { sp.f0, sp.f1 } }, { "phrase", "seconds", "fractions" })
  end
  for i, p in ipairs(r.problems or {}) do problems[i] = json.object({ text = p.text, reason = p.reason }, { "text", "reason" }) end
  return json.object({ text = r.text, tokens = json.array(r.tokens), prompt_tokens = r.prompt_tokens, boxes = boxes,
    spans = spans, problems = problems,
    image = r.width and json.object({ width = r.width, height = r.height }, { "width", "height" }) or nil,
    video = r.duration and { duration = r.duration } or nil, timing = r.timing },
    { "text", "tokens", "prompt_tokens", "boxes", "spans", "problems", "image", "video", "timing" })
end

local function has_media(o) return o["--image"] or o["--video"] or o["--audio"] end

function commands.ground(args)
  local o, pos = parse("ground", args, ground_spec, 1)
  if not (o["--model"] and has_media(o) and pos[1]) then
    return fail("ground: need --model DIR, --image FILE, --video FILE and/or --audio FILE, and a QUESTION\n" .. usage)
  end
  local m = load_groundinggpt(o)
  local media, gen = request_of(o)
  gen.question, gen.raw_tokens = pos[1], o["--raw-tokens"]
  for k, v in pairs(media) do gen[k] = v end
  local r = m:ground(gen)
  if o["--draw"] and media.image then
    local I = require("locus").image
    I.save(o["--draw"], I.draw_boxes(media.image, r.boxes))
  end
  if o["--json"] then
    print(require("locus.json").encode(cli.ground_json(r)))
    return 0
  end
  print(r.text)
  print_grounding(r, "  ")
  return 0
end

-- A conversation in the terminal about an image, a video and/or a sound: the media are encoded once,
-- every turn is prompted with the turns before it.
function commands.chat(args)
  local o = parse("chat", args, ground_spec, 0)
  if not (o["--model"] and has_media(o)) then
    return fail("chat: need --model DIR and --image FILE, --video FILE and/or --audio FILE\n" .. usage)
  end
  local m = load_groundinggpt(o)
  local media, gen = request_of(o)
  local enc = m:encode(media)
  local read = require("locus.console").line_reader()
  local history = {}
  io.stdout:setvbuf("line")
  gen.on_token = function(text) io.write(text) end
  while true do
    local q = read("Human: ")
    if not q then
      print()
      return 0
    end
    if q:match("%S") then
      local ids = m:prompt_ids { question = q, history = history, media = enc, raw_tokens = o["--raw-tokens"] }
      io.write("Assistant: ")
      local out = m:answer(ids, enc.rows, gen)
      print()
      print_grounding(m:parse(out.text, enc), "  ")
      history[#history + 1] = { q, out.text }
    end
  end
end

-- Every stage of a request as .npy, for comparison with PyTorch: the media's stages in the order
-- locus.pipeline runs them, the prompt's ids, the logits at its last position, and (--greedy N)
-- N greedy ids without stop strings.
function commands.dump(args)
  local spec = { ["--prompt"] = "string", ["--out"] = "string", ["--greedy"] = "number", ["--pixel-values"] = "string",
    ["--frames"] = "string", ["--fbank"] = "string" }
  for k, v in pairs(ground_spec) do spec[k] = v end
  local o = parse("dump", args, spec, 0)
  if not (o["--model"] and o["--out"] and o["--prompt"] and (has_media(o) or o["--pixel-values"] or o["--frames"]
      or o["--fbank"])) then
    return fail("dump: need --model DIR, --image FILE (or --pixel-values F.npy), --video FILE (or --frames F.npy) "
      .. "and/or --audio FILE (or --fbank F.npy), --prompt QUESTION and --out DIR\n" .. usage)
  end
  local locus = require "locus"
  local m = load_groundinggpt(o)
  local media = request_of(o)
  for flag, key in pairs { ["--pixel-values"] = "pixel_values", ["--frames"] = "frames", ["--fbank"] = "fbank" } do
    if o[flag] then media[key] = locus.npy.load(o[flag]) end
  end
  os.execute("mkdir -p '" .. o["--out"]:gsub("'", "'\\''") .. "'")
  local function save(name, t) locus.npy.save(o["--out"] .. "/" .. name .. ".npy", t) end
  local enc = m:encode(media, { record = true })
  for _, stage in ipairs(enc.stages) do save(stage[1], stage[2]) end
  local ids = m:prompt_ids { question = o["--prompt"], media = enc, raw_tokens = o["--raw-tokens"] }
  save("input_ids", locus.tensor.from(ids, "i64"))
  save("logits", m:logits(m:splice(ids, enc.rows)))
  local n = o["--greedy"] or 0
  if n > 0 then save("greedy", locus.tensor.from(m:answer(ids, enc.rows, { max_new_tokens = n, stop = {} }).ids, "i64")) end
  print(("wrote the stages to %s"):format(o["--out"]))
  return 0
end

-- `locus eval report FILES...`: the table of one or many results files.
local function eval_report(args)
  local o, files = parse("eval report", args, { ["--json"] = "string" }, math.huge)
  if #files == 0 then return fail("eval report: which results files? (RUN.jsonl...)\n" .. usage) end
  local report = require "locus.eval.report"
  local rep = report.merge(files)
  print(report.markdown(rep))
  if rep.duplicates > 0 then
    io.stderr:write(("locus: %d samples appear in more than one file and were counted once (%d with different "
      .. "verdicts)\n"):format(rep.duplicates, rep.disagreements))
  end
  if rep.torn > 0 then io.stderr:write(("locus: ignored %d torn last lines (killed runs)\n"):format(rep.torn)) end
  local out = o["--json"] or files[1]:gsub("%.jsonl$", "") .. ".report.json"
  local locus = require "locus"
  locus.write_text(out, require("locus.json").encode(report.json(rep)) .. "\n")
  io.stderr:write(("locus: wrote %s\n"):format(out))
  return 0
end

function commands.eval(args)
  if args[1] == "report" then return eval_report({ select(2, unpack(args)) }) end
  local spec = { ["--data"] = "string", ["--images"] = "string", ["--videos"] = "string", ["--media"] = "string",
    ["--split"] = "string", ["--limit"] = "number", ["--out"] = "string", ["--resume"] = "flag", ["--shard"] = "string",
    ["--prompt"] = "string", ["--box-format"] = "string", ["--split-by"] = "string" }
  for k, v in pairs(ground_spec) do spec[k] = v end
  local o, pos = parse("eval", args, spec, 1)
  if not (pos[1] and o["--model"] and o["--data"]) then
    return fail("eval: need a TASK, --model M and --data PATH\n" .. usage)
  end
  local eval = require "locus.eval"
  local task = eval.task(pos[1])
  local splits
  if o["--split"] then
    splits = {}
    for s in o["--split"]:gmatch("[^,%s]+") do splits[#splits + 1] = s end
  end
  if o["--limit"] and (o["--limit"] < 1 or o["--limit"] ~= math.floor(o["--limit"])) then
    return fail("eval: --limit wants a whole number of samples >= 1")
  end
  if o["--box-format"] and o["--box-format"] ~= "xyxy" and o["--box-format"] ~= "xywh" then
    return fail("eval: --box-format is xyxy or xywh, not " .. o["--box-format"])
  end
  local shard = o["--shard"] and eval.parse_shard(o["--shard"]) or eval.shard_from_env()
  local out = eval.shard_path(o["--out"] or ("eval-%s.jsonl"):format(task.name:gsub("[^%w_+-]", "_")), shard)
  local opts = { data = o["--data"], media = o["--media"] or o["--images"] or o["--videos"], splits = splits,
    split_by = o["--split-by"], box_format = o["--box-format"], limit = o["--limit"], out = out, resume = o["--resume"],
    shard = shard, prompt = o["--prompt"], max_new_tokens = o["--max-new-tokens"], temperature = o["--temperature"],
    top_p = o["--top-p"], top_k = o["--top-k"], repetition_penalty = o["--repetition-penalty"], seed = o["--seed"],
    progress = require("locus.eval.progress").new { label = shard and ("[shard %d/%d] "):format(shard[1], shard[2]) or "" } }
  -- the data is read, and the output checked, before the model is loaded
  opts.samples = eval.samples(task, opts)
  if require("locus.eval.dataset").exists(out) and not opts.resume then
    return fail(("eval: %s exists: --resume to go on with it, or another --out"):format(out))
  end
  local m = load_groundinggpt(o)
  local stats = eval.run(m, task, opts)
  io.stderr:write(("locus: %d answered (%d correct), %d already done; results in %s\n"):format(stats.done,
    stats.correct, stats.skipped, out))
  return 0
end

function commands.train(args)
  local spec = { ["--model"] = "string", ["--data"] = "string", ["--images"] = "string", ["--trainable"] = "list",
    ["--steps"] = "number", ["--lr"] = "number", ["--out"] = "string", ["--batch"] = "number", ["--save-every"] = "number",
    ["--resume"] = "flag", ["--warmup"] = "number", ["--weight-decay"] = "number", ["--clip"] = "number",
    ["--max-length"] = "number", ["--seed"] = "number", ["--on-bad"] = "string", ["--threads"] = "number", ["--template"] = "string" }
  local o = parse("train", args, spec, 0)
  if not (o["--model"] and o["--data"] and o["--trainable"] and o["--steps"] and o["--lr"] and o["--out"]) then
    return fail("train: need --model, --data, --trainable, --steps, --lr and --out\n" .. usage)
  end
  local locus = require "locus"
  if o["--threads"] then locus.set_num_threads(o["--threads"]) end
  local tty = require("ffi").C.isatty(2) == 1
  local function progress(r)
    local line = ("step %d/%d  loss %.4f  %.0f tokens/s  lr %.3g  ETA %ds"):format(r.step, r.steps, r.loss,
      r.tokens / r.rate, r.lr, math.floor(r.eta + 0.5))
    io.stderr:write(tty and ("\r" .. line .. "\27[K") or (line .. "\n"))
    if tty and r.step == r.steps then io.stderr:write("\n") end
  end
  local tr = require("locus.train").new { model = o["--model"], data = o["--data"], images = o["--images"],
    trainable = o["--trainable"], steps = o["--steps"], lr = o["--lr"], out = o["--out"], batch = o["--batch"],
    save_every = o["--save-every"], resume = o["--resume"], warmup = o["--warmup"], weight_decay = o["--weight-decay"],
    clip = o["--clip"], max_length = o["--max-length"], seed = o["--seed"], on_bad = o["--on-bad"], template = o["--template"],
    progress = progress }
  if tr.step >= tr.opts.steps then
    io.stderr:write(("locus: %s is already at step %d of %d\n"):format(o["--out"], tr.step, tr.opts.steps))
    return 0
  end
  tr:run()
  io.stderr:write(("locus: trained %d weights to step %d; the model is %s (locus ground --model %s)\n"):format(#tr.names,
    tr.step, o["--out"], o["--out"]))
  return 0
end

function commands.scenes(args)
  local o, pos = parse("scenes", args, { ["--count"] = "number", ["--seed"] = "number", ["--multi-turn"] = "flag",
    ["--shapes"] = "string", ["--size"] = "string", ["--background"] = "string", ["--colours"] = "string" }, 1)
  if not pos[1] then return fail("scenes: which directory? (locus scenes DIR [--count N] [--seed S] [--multi-turn])") end
  local function range(flag, lo, hi, whole)
    local v = o[flag]
    if not v then return nil end
    local a, b = v:match("^([%d.]+)%-([%d.]+)$")
    a, b = tonumber(a), tonumber(b)
    if not (a and b and a >= lo and b <= hi and a <= b and (not whole or (a % 1 == 0 and b % 1 == 0))) then
      return false, fail(("scenes: %s wants MIN-MAX within %s-%s, not %s"):format(flag, lo, hi, v))
    end
    return { a, b }
  end
  local shapes, rc1 = range("--shapes", 1, 4, true)
  if shapes == false then return rc1 end
  local size, rc2 = range("--size", 0.05, 0.9)
  if size == false then return rc2 end
  if o["--background"] and o["--background"] ~= "plain" and o["--background"] ~= "noisy" then
    return fail("scenes: --background is plain or noisy, not " .. o["--background"])
  end
  if o["--colours"] and o["--colours"] ~= "distinct" and o["--colours"] ~= "any" then
    return fail("scenes: --colours is distinct or any, not " .. o["--colours"])
  end
  for _, k in ipairs { "--count", "--seed" } do
    local v = o[k]
    if v and (v < (k == "--count" and 1 or 0) or v ~= math.floor(v) or v > 2 ^ 31) then
      return fail(("scenes: %s wants a whole number%s, not %s"):format(k, k == "--count" and " >= 1" or " >= 0", v))
    end
  end
  local out = require("locus.scenes").write(pos[1], { count = o["--count"] or 100, seed = o["--seed"] or 1,
    multi_turn = o["--multi-turn"], shapes = shapes, size = size, background = o["--background"], colours = o["--colours"] })
  local questions = 0
  for _, s in ipairs(out) do questions = questions + #s.shapes end
  print(("wrote %d scenes (%d questions) to %s: images/, train.json, eval.jsonl"):format(#out, questions, pos[1]))
  return 0
end

function commands.kernel(args)
  if args[1] == "install" then
    local o = parse("kernel install", { select(2, unpack(args)) }, { ["--user"] = "flag", ["--prefix"] = "string",
      ["--command"] = "string" }, 0)
    if o["--user"] and o["--prefix"] then return fail("kernel install: --user or --prefix, not both") end
    local dir = require("locus.kernel.spec").install { user = o["--user"], prefix = o["--prefix"], command = o["--command"] }
    print(("installed the kernelspec \"Lua (locus)\" in %s"):format(dir))
    return 0
  end
  local o = parse("kernel", args, { ["--connection-file"] = "string" }, 0)
  if not o["--connection-file"] then return fail("kernel: need --connection-file F (or: kernel install)\n" .. usage) end
  return require("locus.kernel").run(o["--connection-file"])
end

function commands.info()
  local locus = require "locus"
  local core = locus.core
  print(("locus %s"):format(locus.version))
  print(("library   %s"):format(core.library_path or "(system)"))
  print(("header    %s"):format(core.header_path))
  print(("cpu       %s"):format(locus.cpu_features()))
  print(("kernels   %s"):format(locus.kernel_path()))
  print(("threads   %d"):format(locus.num_threads()))
  local p = locus.precision()
  print(("precision %s (Q8_0/Q4_0/K-quant weights: %s; bf16 weights: %s)"):format(p,
    p == "exact" and "f32 activations" or "integer products",
    p == "bf16" and "bf16 activations" or "f32 activations"))
  return 0
end

function commands.help()
  print(usage)
  return 0
end

function cli.main(argv)
  local name = argv[1]
  if name == nil then return require("locus.console").run() end
  if name == "-h" or name == "--help" then name = "help" end
  if name == "--version" then
    print(require("locus").version)
    return 0
  end
  local cmd = commands[name]
  if not cmd then return fail("unknown command '" .. name .. "'\n" .. usage) end
  local rest = {}
  for i = 2, #argv do rest[#rest + 1] = argv[i] end
  local ok, rc = pcall(cmd, rest)
  -- liblocus's messages name the file and the problem; the Lua position would only be noise
  if not ok then return fail((tostring(rc):gsub("^[^:\n]*%.lua:%d+: ", ""))) end
  return rc
end

return cli
