-- One image-grounding request with GroundingGPT-7B's shapes, stage by stage, then a second question
-- about the same picture (as `locus chat` asks it): random weights in the real layout (bf16
-- GroundingGPT-7B, f32 CLIP ViT-L/14-336), written once to build/ by benchmarks/random_checkpoint.lua;
-- the tokenizer is LLaMA's from ../shared/assets.
--   bin/locus run benchmarks/ground.lua [--llm bf16|q8_0|q4_0|q4_k_m] [--encoders f16|bf16]
--                                       [--precision P | STAGE=P,...] [--torch] [--audio FILE | --video FILE] [IMAGE]
-- --audio asks about a sound instead (three 2-s clips through ImageBind's audio encoder and the
-- audio Q-Former), --video about a video (64 frames through EVA ViT-g and the two Q-Formers): the
-- model is the same GroundingGPT-7B with that branch at its real shapes
-- (build/bench-groundinggpt-7b-audio or -video, its LLM shards linked from the image model's).
-- --llm: bf16 runs the HF directory as it is; a quantized type runs the one-file model that
-- `locus convert --type` makes of it (build/bench-groundinggpt-7b-TYPE.gguf, written once);
-- --encoders puts the CLIP tower in that file too, in that type (else it is read, f32, from its
-- directory).
-- --precision: as `locus ground --precision` (default: the process's, "fast").
-- --torch: CLIP's tower in PyTorch too (Debian's python3-torch), f32 and bf16, same weights and threads.
-- Prints each stage's seconds, the total, the peak resident memory against the weights the request
-- touches plus the KV cache, and the second question's seconds.
local root = locus.core.checkout_root
local shared = root .. "/../shared/assets/"
local rc = dofile(root .. "/benchmarks/random_checkpoint.lua")
local model_dir, clip_dir = rc.image_model(root) -- written once

local opts, image_path = { llm = "bf16" }, shared .. "media/images/dog.jpeg"
local i = 1
while i <= #arg do
  if arg[i] == "--llm" or arg[i] == "--precision" or arg[i] == "--encoders" then
    opts[arg[i]:sub(3)] = arg[i + 1]
    i = i + 1
  elseif arg[i] == "--torch" then
    opts.torch = true
  elseif arg[i] == "--audio" or arg[i] == "--video" then
    opts[arg[i]:sub(3)] = arg[i + 1]
    i = i + 1
  else
    image_path = arg[i]
  end
  i = i + 1
end

local clock = locus.clock
local status = rc.proc_status
local function exists(p) local f = io.open(p); if f then f:close() end; return f ~= nil end
local function file_bytes(p)
  local f = io.open(p, "rb")
  local n = f:seek("end")
  f:close()
  return n
end

local base_dir = model_dir
local branch = opts.audio and "audio" or opts.video and "video"
if branch then
  -- the image model's shards (linked) and one more with the branch, under one index
  local dir = root .. "/build/bench-groundinggpt-7b-" .. branch
  if not exists(dir .. "/model.safetensors.index.json") then
    io.stderr:write(("writing %s (the %s branch)\n"):format(dir, branch))
    local list = branch == "audio" and rc.audio_branch() or rc.video_branch()
    rc.write(dir .. "/branch", list, { dtype = "bf16", seed = 9, shard_bytes = 1e12 })
    os.execute(("cd %s && mv branch/model.safetensors model-%s.safetensors && rmdir branch && "
      .. "ln -sf ../bench-groundinggpt-7b/model-0000[12]-of-00002.safetensors ../bench-groundinggpt-7b/tokenizer.model "
      .. "../bench-groundinggpt-7b/config.json ."):format(dir, branch))
    local map = require("cjson").decode(io.open(model_dir .. "/model.safetensors.index.json"):read("*a")).weight_map
    for _, t in ipairs(list) do map[t[1]] = "model-" .. branch .. ".safetensors" end
    local f = io.open(dir .. "/model.safetensors.index.json", "w")
    f:write(require("cjson").encode { metadata = {}, weight_map = map })
    f:close()
  end
  base_dir = dir
end
local model, llm_bytes = base_dir, 0
if opts.llm ~= "bf16" or opts.encoders then
  model = ("%s%s%s.gguf"):format(base_dir, opts.llm ~= "bf16" and ("-" .. opts.llm) or "", opts.encoders and ("-" .. opts.encoders) or "")
  if not exists(model) then
    io.stderr:write("converting " .. model .. "\n")
    locus.convert.run(base_dir, model, { type = opts.llm ~= "bf16" and opts.llm or nil, encoders = opts.encoders })
  end
  llm_bytes = file_bytes(model)
else
  for _, f in ipairs { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", branch and ("model-" .. branch .. ".safetensors") } do
    llm_bytes = llm_bytes + file_bytes(base_dir .. "/" .. f)
  end
end
local precision = opts.precision
if precision and precision:find("=") then
  local t = {}
  for stage, p in precision:gmatch("([%w_]+)=([%w_]+)") do t[stage] = p end
  precision = t
end

-- both files are mapped: read them once so that the disk is not what is measured
os.execute(("cat %s/*.safetensors %s > /dev/null 2>&1"):format(clip_dir, model ~= model_dir and model or (model_dir .. "/*.safetensors")))

local MAX_CONTEXT = 1024
local t = {}
local t0 = clock()
local m = locus.load(model, { max_context = MAX_CONTEXT, vision_tower = not opts.encoders and clip_dir or nil,
  precision = precision })
t.load = clock() - t0
local t1 = clock()
local kind, rows, w, h, q1, q2 = branch or "image"
if opts.video then
  local frames = m:preprocess_video(opts.video)
  t.preprocess = clock() - t1 -- 64 frames picked, decoded, squashed and normalized
  t1 = clock()
  rows = locus.core.with_precision(m:stage_precision("video"), m.encode_video, m, frames)
  t.encode = clock() - t1 -- EVA ViT-g, ln_vision, the frame and video Q-Formers, llama_proj
  t.project = 0
  q1, q2 = "When does the baby laugh? Answer with the start and end as fractions of the video.", "What does it hold?"
elseif opts.audio then
  local fbank = m:read_audio(opts.audio)
  t.preprocess = clock() - t1 -- three 2-s clips to filter banks
  t1 = clock()
  rows = locus.core.with_precision(m:stage_precision("audio"), m.encode_audio, m, fbank)
  t.encode = clock() - t1 -- ImageBind's audio encoder, the audio Q-Former, audio_llama_proj
  t.project = 0
  q1, q2 = "What is making this sound?", "Is it loud?"
else
  local px
  px, w, h = m:preprocess_image(image_path)
  t.preprocess = clock() - t1
  t1 = clock()
  local feats = locus.core.with_precision(m:stage_precision("image"), m.encode_image, m, px)
  t.encode = clock() - t1
  t1 = clock()
  rows = locus.core.with_precision(m:stage_precision("image"), m.project_image, m, feats)
  t.project = clock() - t1
  q1, q2 = "Where is the dog? Answer with its position in [x0, y0, x1, y1] format.", "What colour is it?"
end
t1 = clock()
local ids = m:prompt_ids { question = q1, [kind] = true }
t.prompt = clock() - t1
local first, n = nil, 0
t1 = clock()
local out = m:answer(ids, { [kind] = rows }, { max_new_tokens = 32, stop = {}, on_token = function()
  n = n + 1
  first = first or clock()
end })
local t2 = clock()
t.prefill, t.decode = first - t1, t2 - first
t.total = t2 - t0
local peak = status("VmHWM")

-- the second question, as chat asks it: the first turn in the history, the picture's rows reused
local t3 = clock()
local enc = { rows = { [kind] = rows } }
local ids2 = m:prompt_ids { question = q2, history = { { q1, out.text } }, media = enc }
local out2 = m:answer(ids2, enc.rows, { max_new_tokens = 32, stop = {} })
local second = clock() - t3

local kv_bytes = 32 * 2 * MAX_CONTEXT * 4096 * 4 -- layers x (K, V) x positions x width, f32
-- the CLIP directory's bytes count for an image (with --encoders the tower is in the model's file)
local clip_bytes = (opts.encoders or branch) and 0 or file_bytes(clip_dir .. "/model.safetensors")
local media = opts.audio and ("sound " .. opts.audio:match("[^/]+$")) or opts.video and ("video " .. opts.video:match("[^/]+$"))
  or ("image %s (%dx%d)"):format(image_path:match("[^/]+$"), w, h)
print(("%s; %d threads, kernels %s (%s); LLM %s, CLIP %s, precision %s; %s; prompt %d tokens"):format(
  io.open("/proc/cpuinfo"):read("*a"):match("model name%s*:%s*([^\n]+)") or "unknown CPU", locus.num_threads(),
  locus.kernel_path(), locus.cpu_features(), opts.llm, opts.encoders or "f32", opts.precision or locus.precision(), media, #ids))
print("\n| stage | seconds |\n|---|---:|")
for _, k in ipairs { "load", "preprocess", "encode", "project", "prompt", "prefill", "decode", "total" } do
  local label = k == "decode" and ("decode (%d tokens, %.2f tok/s)"):format(n - 1, (n - 1) / t.decode) or k
  print(("| %s | %.3f |"):format(label, t[k]))
end
print(("| second question (%d new prompt tokens of %d, %d tokens answered) | %.3f |"):format(#ids2 - out2.reused_tokens,
  #ids2, #out2.ids, second))
local touched = llm_bytes + clip_bytes + kv_bytes
print(("\npeak resident memory %.2f GB; the weights (model file(s) %.2f GB, CLIP directory %.2f GB) and the KV cache (%.2f GB) %.2f GB: %.2fx"):format(
  peak / 2 ^ 30, llm_bytes / 2 ^ 30, clip_bytes / 2 ^ 30, kv_bytes / 2 ^ 30, touched / 2 ^ 30, peak / touched))

if opts.torch then
  local results = {}
  for _, dtype in ipairs { "f32", "bf16" } do
    local p = io.popen(("/usr/bin/python3 %s/benchmarks/clip_torch.py %s %d %s 2>/dev/null"):format(root, clip_dir,
      locus.num_threads(), dtype))
    local line = p:read("*a")
    p:close()
    local ok, r = pcall(require("cjson").decode, line)
    results[dtype] = ok and r and r.encode_s
  end
  print(("CLIP tower to layer -2: locus %.2f s; PyTorch f32 %s, bf16 %s"):format(t.encode,
    results.f32 and ("%.2f s (%.2fx)"):format(results.f32, results.f32 / t.encode) or "n/a (python3-torch?)",
    results.bf16 and ("%.2f s (%.2fx)"):format(results.bf16, results.bf16 / t.encode) or "n/a"))
end
