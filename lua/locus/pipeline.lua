-- locus.pipeline: one grounding request as steps a caller composes, shared by every LLaVA-style
-- recipe (lua/locus/models/). `locus ground`, `chat`, `dump`, evaluation and notebooks are thin
-- fronts on this one sequence:
--
--   local enc = m:encode{image = "dog.jpg"}               -- media -> rows for the LLM, per modality
--   local ids = m:prompt_ids{question = "Where is the dog?", media = enc}
--   local out = m:answer(ids, enc.rows, {max_new_tokens = 64})   -- splice, prefill, decode
--   local parsed = m:parse(out.text, enc)                  -- boxes in pixels, spans in seconds
--   -- or all four: m:ground{image = "dog.jpg", question = "Where is the dog?"}
--
-- A recipe's model inherits these methods (setmetatable(Model, {__index = pipeline.Model})) and
-- provides self.llm, self.tokenizer, self.template and, for each modality it supports,
-- Model:encode_<kind>_input(media, record, lap) -> rows [N, D] and a table of facts for parsing
-- (the photo's width and height, the video's duration); record(name, tensor) keeps a stage for
-- `dump`, lap(name) closes a stage's clock.
local ffi = require "ffi"
local core = require "locus.core"
local prompt = require "locus.prompt"
local grounding = require "locus.grounding"
local tensor = require "locus.tensor"
local clock = core.clock

local pipeline = {}
local Model = {}
pipeline.Model = Model

-- The options of a request that reach llm:generate (sampling, stop strings, streaming); nothing
-- else does.
pipeline.GENERATE_OPTIONS = { "max_new_tokens", "temperature", "top_k", "top_p", "repetition_penalty", "seed", "stop",
  "on_token", "reuse" }

-- Where generated text goes when a request names no on_token: nowhere by default; the notebook
-- kernel streams it into the running cell.
pipeline.on_token = nil

-- What a request may hold for each modality: its file (a path, or a decoded u8 image) or an
-- input already prepared (pixel values, frames, filter banks).
pipeline.INPUTS = { image = { "image", "pixel_values" }, video = { "video", "frames" }, audio = { "audio", "fbank" } }

-- ---- precision per stage ---------------------------------------------------------------------------
-- A model may run its stages in different precisions (locus.set_precision): self.precision is nil
-- (every stage in the process's precision), a name for every stage, or a table {image =, video =,
-- audio =, llm =} (a missing stage runs in the process's precision).
pipeline.STAGES = { "image", "video", "audio", "llm" }

function pipeline.check_precision(p, where)
  local function check(v, stage)
    if v ~= nil and not core.PRECISIONS[v] then
      error(("%s: precision%s must be \"exact\", \"fast\" or \"bf16\", not %s"):format(where,
        stage and ("." .. stage) or "", tostring(v)), 3)
    end
  end
  if type(p) == "table" then
    for k, v in pairs(p) do
      local known = false
      for _, s in ipairs(pipeline.STAGES) do known = known or s == k end
      if not known then error(("%s: precision has no stage '%s' (image, video, audio, llm)"):format(where, tostring(k)), 3) end
      check(v, k)
    end
  else
    check(p)
  end
  return p
end

-- the precision stage `stage` runs in (nil: the process's)
function Model:stage_precision(stage)
  local p = self.precision
  if type(p) == "table" then return p[stage] end
  return p
end

-- ---- media encoded once ------------------------------------------------------------------------------
-- A second question about the same picture (chat, an evaluation with several questions per image)
-- reuses its rows: the last few inputs are kept with what identifies them — a file's device, inode,
-- size and modification time (locus_file_stamp), a tensor's dtype, shape and bytes — and the
-- precision they were computed in.
pipeline.ENCODED_KEPT = 8

local function same_tensor(a, b)
  if a:dtype() ~= b:dtype() then return false end
  local sa, sb = a:shape(), b:shape()
  if #sa ~= #sb then return false end
  for i = 1, #sa do if sa[i] ~= sb[i] then return false end end
  local ca, cb = a:contiguous(), b:contiguous()
  return ffi.C.memcmp(ca:data(), cb:data(), ca:nbytes()) == 0
end

local stamp_buf = ffi.new("char[160]")
local function identity(value)
  if type(value) == "string" then
    core.check(core.C.locus_file_stamp(value, stamp_buf, 160), "encode")
    return "file " .. ffi.string(stamp_buf)
  end
  if tensor.is_tensor(value) then return value end
  return nil -- something else: never reused
end

local function find_encoded(self, kind, key, precision)
  for i, e in ipairs(self.encoded or {}) do
    if e.kind == kind and e.precision == precision and type(e.key) == type(key)
        and (type(key) == "string" and e.key == key or type(key) ~= "string" and same_tensor(e.key, key)) then
      table.remove(self.encoded, i)
      table.insert(self.encoded, 1, e) -- most recent first
      return e
    end
  end
end

local function keep_encoded(self, entry)
  self.encoded = self.encoded or {}
  table.insert(self.encoded, 1, entry)
  while #self.encoded > pipeline.ENCODED_KEPT do table.remove(self.encoded) end
end

-- Forgets the media encoded so far.
function Model:forget_media() self.encoded = nil end

local function input_of(media, kind)
  for _, key in ipairs(pipeline.INPUTS[kind]) do
    if media[key] ~= nil then return media[key] end
  end
end

-- Step 1. The media of a request -> {rows = {audio =, video =, image =} (what the LLM receives),
-- stages = {{name, tensor}, ...} (every intermediate, in order, when opts.record), facts (width,
-- height, duration), timing = {stage_s = seconds}, reused = {kind = true} (the rows came from an
-- earlier request)}. Modalities go in the prompt's order (audio, video, image); each stage has its
-- own clock and runs in its own precision. opts.reuse = false encodes again; opts.record does too.
function Model:encode(media, opts)
  opts = opts or {}
  local enc = { rows = {}, stages = {}, timing = {}, reused = {} }
  local last = clock()
  local function record(name, t)
    if opts.record then enc.stages[#enc.stages + 1] = { name, t } end
  end
  local function lap(name)
    local now = clock()
    enc.timing[name] = now - last
    last = now
  end
  for _, kind in ipairs(prompt.ORDER) do
    if input_of(media, kind) ~= nil then
      local encode = self["encode_" .. kind .. "_input"]
      if not encode then error(("%s: this model takes no %s"):format(self.dir or "model", kind), 2) end
      local precision = self:stage_precision(kind) or core.precision()
      local key = not (opts.record or opts.reuse == false) and identity(input_of(media, kind)) or nil
      local kept = key and find_encoded(self, kind, key, precision)
      local rows, facts
      if kept then
        rows, facts = kept.rows, kept.facts
        enc.reused[kind] = true
        lap(kind .. "_reused_s")
      else
        rows, facts = core.with_precision(precision, encode, self, media, record, lap)
        if key then
          -- a tensor input is kept as a copy: the caller may change it afterwards
          keep_encoded(self, { kind = kind, key = type(key) == "string" and key or key:clone(), precision = precision,
            rows = rows, facts = facts })
        end
      end
      enc.rows[kind] = rows
      for k, v in pairs(facts or {}) do enc[k] = v end
    end
  end
  if media.duration then enc.duration = media.duration end -- a caller who knows better
  return enc
end

-- Step 2. The conversation as text: opts.question, opts.history ({{question, answer}, ...}),
-- opts.template (the model's by default), and the modality blocks of opts.media (an encode()
-- result) or of opts.image / video / audio = true. Also returns the stretches that are the caller's
-- words (locus.prompt), for input_ids.
function Model:prompt(opts)
  local o = { question = opts.question, history = opts.history, system = opts.system,
    template = opts.template or self.template, counts = self.token_counts }
  for _, kind in ipairs(prompt.ORDER) do o[kind] = opts[kind] or (opts.media and opts.media.rows[kind] ~= nil) end
  return prompt.build(o)
end

-- ... and as token ids (BOS first). The caller's words are text: a question holding
-- "<im_start>" cannot open an image block; opts.raw_tokens = true reads added tokens in them too.
function Model:prompt_ids(opts)
  local text, words = self:prompt(opts)
  return self:input_ids(text, not opts.raw_tokens and words or nil)
end

-- ids of prompt text; plain: stretches where added tokens are not recognised (tokenizer:encode)
function Model:input_ids(text, plain) return self.tokenizer:encode(text, { plain = plain }) end

-- Token embeddings of ids with each modality's rows written over its <X_patch> run (after its
-- <X_start>, whose embedding stays, as does <X_end>'s). rows: {image = [576, D], ...}.
function Model:splice(ids, rows)
  local x = self.llm:embed(ids)
  rows = rows or {}
  for kind in pairs(rows) do
    if not prompt.TOKENS[kind] then error(("splice: no modality '%s' (audio, video or image)"):format(tostring(kind)), 2) end
  end
  for _, kind in ipairs(prompt.ORDER) do
    local r, t = rows[kind], prompt.TOKENS[kind]
    if r then
      local start, patch = self.tokenizer:id(t.start), self.tokenizer:id(t.patch)
      local at
      for i, id in ipairs(ids) do
        if id == start then at = i end
      end
      if not at then error(("splice: the prompt has no %s for the %s rows"):format(t.start, kind), 2) end
      local n = r:size(1)
      for i = at + 1, at + n + 1 do
        if ids[i] ~= (i <= at + n and patch or self.tokenizer:id(t["end"])) then
          error(("splice: expected %d %s tokens after %s, then %s"):format(n, t.patch, t.start, t["end"]), 2)
        end
      end
      x:narrow(1, at + 1, n):copy(r)
    end
  end
  return x
end

-- Logits [vocab] at the last position of embeddings x (a fresh pass from position 0).
function Model:logits(x)
  local l = core.with_precision(self:stage_precision("llm"), self.llm.forward, self.llm, x, 0, { last = true })
  return l:view(l:size(2))
end

-- Step 3. The answer to prompt ids with the media rows spliced in: {text (trimmed), ids,
-- prompt_tokens, reused_tokens (the leading positions the KV cache already held: an earlier
-- request's or turn's, computed once), stopped, timing = {prompt_s, generate_s}}. opts: the generation options above;
-- max_new_tokens defaults to 512 or what the context has room for, stop to the template's "###".
function Model:answer(ids, rows, opts)
  opts = opts or {}
  local t0 = clock()
  local gen = {}
  for _, k in ipairs(pipeline.GENERATE_OPTIONS) do gen[k] = opts[k] end
  gen.embeds, gen.ids = self:splice(ids, rows), ids
  gen.max_new_tokens = opts.max_new_tokens or math.max(1, math.min(512, self.llm.config.max_context - #ids))
  gen.stop = opts.stop or { prompt.STOP }
  gen.on_token = opts.on_token or pipeline.on_token
  local t1 = clock()
  local out = core.with_precision(self:stage_precision("llm"), self.llm.generate, self.llm, gen)
  local text = out.text:gsub("^%s+", ""):gsub("%s+$", "")
  return { text = text, ids = out.ids, prompt_tokens = #ids, reused_tokens = out.reused_tokens, stopped = out.stopped,
    timing = { prompt_s = t1 - t0, generate_s = clock() - t1 } }
end

-- Step 4. Boxes (pixels of the photo) and spans (seconds of the video) in an answer, with the
-- facts of encode()'s result.
function Model:parse(text, enc)
  enc = enc or {}
  return grounding.parse(text, { width = enc.width, height = enc.height, duration = enc.duration })
end

-- The whole request. opts: the media (image, pixel_values, video, frames, audio, fbank,
-- duration), question, history, template, raw_tokens, and the generation options.
-- Returns {text, tokens, prompt_tokens, boxes, spans, problems, stopped, width, height, duration,
-- media = {image, video, audio} (the request's, as given), timing}: timing has each stage's own
-- seconds and total_s.
function Model:ground(opts)
  local start = clock()
  local enc = self:encode(opts)
  local t = clock()
  local ids = self:prompt_ids { question = opts.question, history = opts.history, template = opts.template, media = enc,
    raw_tokens = opts.raw_tokens }
  local tokenize_s = clock() - t
  local out = self:answer(ids, enc.rows, opts)
  local parsed = self:parse(out.text, enc)
  local timing = enc.timing
  timing.prompt_s = tokenize_s + out.timing.prompt_s
  timing.generate_s = out.timing.generate_s
  timing.total_s = clock() - start
  return { text = out.text, tokens = out.ids, prompt_tokens = out.prompt_tokens, reused_tokens = out.reused_tokens,
    boxes = parsed.boxes,
    spans = parsed.spans, problems = parsed.problems, stopped = out.stopped, timing = timing, width = enc.width,
    height = enc.height, duration = enc.duration, media = { image = opts.image, video = opts.video, audio = opts.audio } }
end

return pipeline
