-- locus.groundinggpt: the GroundingGPT recipe (locus.load): the LLaMA decoder, the CLIP tower, the
-- image adapter, the prompt, the splice and the answer's boxes. Every stage is a method, so a
-- script can run, inspect or replace any of them:
--
--   local m = locus.load("GroundingGPT-7B", {vision_tower = "clip-vit-large-patch14-336"})
--   local r = m:ground{image = "dog.jpg", question = "Where is the dog?"}
--   r.text, r.boxes[1].x0 ...
--   local px = m:preprocess_image("dog.jpg")     -- [3, 336, 336]
--   local feats = m:encode_image(px)             -- [576, 1024]: CLIP layer -2, CLS dropped
--   local rows = m:project_image(feats)          -- [576, 4096]: mm_vision_projector
--   local ids = m:input_ids(m:prompt{question = "...", image = true})
--   local x = m:splice(ids, {image = rows})      -- [T, 4096] with the image rows in place
--   local logits = m:logits(x)                   -- [vocab] at the last position
--   local rows = m:encode_audio(m:load_audio("dog.flac"))  -- [8, 4096]: the audio branch (sound first
--                                                          -- in the prompt: m:prompt{sound = true, ...})
local llm = require "locus.llm"
local clip = require "locus.clip"
local nn = require "locus.nn"
local image = require "locus.image"
local config = require "locus.config"
local prompt = require "locus.prompt"
local grounding = require "locus.grounding"
local tokenizer = require "locus.tokenizer"
local weights = require "locus.weights"
local video = require "locus.video"
local eva = require "locus.eva"
local qformer = require "locus.qformer"
local audio = require "locus.audio"
local imagebind = require "locus.imagebind"
local audio_branch = require "locus.audio_branch"

local groundinggpt = {}
local Model = {}
Model.__index = Model

-- GroundingGPT's tokens, in the order its builder adds them (ids follow the vocabulary).
groundinggpt.ADDED_TOKENS = { "<im_patch>", "<im_start>", "<im_end>", "<vi_patch>", "<vi_start>", "<vi_end>",
  "<so_patch>", "<so_start>", "<so_end>" }

local function is_dir(path)
  local f = io.open(path .. "/config.json")
  if f then f:close() end
  return f ~= nil
end

-- The CLIP directory: opts.vision_tower, else config's mm_vision_tower as a path (absolute or
-- relative to the model), else its last component beside the model directory.
local function find_tower(dir, cfg, opts)
  if opts.vision_tower then
    if not is_dir(opts.vision_tower) then error(opts.vision_tower .. ": not a CLIP directory (no config.json)", 3) end
    return opts.vision_tower
  end
  local name = cfg.mm_vision_tower
  if not name then error(dir .. ": config.json has no mm_vision_tower; give opts.vision_tower", 3) end
  local tried = {}
  for _, p in ipairs { name, dir .. "/" .. name, dir .. "/../" .. (name:match("([^/]+)/*$") or name) } do
    tried[#tried + 1] = p
    if is_dir(p) then return p end
  end
  error(("%s: the vision tower '%s' was not found (looked at %s); download it and pass --vision-tower DIR"):format(
    dir, name, table.concat(tried, ", ")), 3)
end

function groundinggpt.load(dir, opts)
  opts = opts or {}
  local cfg = config.load(dir).config
  if not cfg then error(dir .. ": no config.json", 2) end
  local tok = tokenizer.load(dir, { added_token_spaces = opts.added_token_spaces })
  for _, t in ipairs(groundinggpt.ADDED_TOKENS) do -- when the directory does not list them, as its builder adds them
    if not tok:id(t) then tok:add_token(t, tok:vocab_size()) end
  end
  local lm = llm.load(dir, { tokenizer = tok, max_context = opts.max_context })
  local w = lm.weights
  -- mm_vision_projector: Linear(vision width, D) -> GELU -> Linear(D, D)
  local projector = nn.Sequential(nn.Linear.load(w, "model.mm_vision_projector.0."), nn.GELU(),
    nn.Linear.load(w, "model.mm_vision_projector.2."))
  local self = setmetatable({
    dir = dir, config = cfg, llm = lm, tokenizer = tok, projector = projector,
    select_layer = cfg.mm_vision_select_layer or -2, tower_path = find_tower(dir, cfg, opts),
    template = opts.template or "inference",
  }, Model)
  self.tower = clip.load(self.tower_path)
  if w:has("model.video_Qformer.bert.embeddings.LayerNorm.weight") then self:load_video_branch(w, cfg, opts) end
  if w:has("model.audio_llama_proj.weight") then self:load_audio_branch(w, cfg, opts) end
  return self
end

-- The video branch (EVA ViT-g, ln_vision, the frame Q-Former, frame positions, the video
-- Q-Former, llama_proj) from the checkpoint; EVA, ln_vision and the frame Q-Former may come from
-- separate files instead: opts.eva (eva_vit_g.pth) and opts.blip2 (BLIP-2's .pth, whose
-- {"model": ...} nesting gives the same "model." names). Hyperparameters from lego_hparams, else
-- the real ones.
function Model:load_video_branch(w, cfg, opts)
  local hp = cfg.lego_hparams or {}
  local e, q, vq = hp.eva_vit or {}, hp.qformer or {}, hp.video_qformer or {}
  local eva_w, eva_prefix, blip_w = w, "model.visual_encoder.", w
  if not w:has("model.visual_encoder.patch_embed.proj.weight") then
    if not (opts.eva and opts.blip2) then
      error(self.dir .. ": the checkpoint has no EVA encoder (model.visual_encoder.*); give eva = eva_vit_g.pth and "
        .. "blip2 = the BLIP-2 .pth (--eva, --blip2)", 3)
    end
    eva_w, eva_prefix, blip_w = weights.open(opts.eva), "", weights.open(opts.blip2)
  end
  self.eva = eva.load(eva_w, { prefix = eva_prefix, ln_vision_weights = blip_w, heads = e.heads or 16, ln_eps = e.ln_eps,
    ln_vision_eps = e.ln_vision_eps })
  self.frame_qformer = qformer.load(blip_w, { heads = q.heads or 12, eps = q.ln_eps })
  self.video_qformer = qformer.load(w, { prefix = "model.video_Qformer.bert.", queries = "model.video_query_tokens",
    heads = vq.heads or 12, eps = vq.ln_eps })
  self.frame_positions = w:get("model.video_frame_position_embedding.weight")
  self.llama_proj = nn.Linear.load(w, "model.llama_proj.", { bias = true })
  self.max_frame = cfg.max_frame or 64
end

-- The audio branch (ImageBind's audio encoder, audio positions, the audio Q-Former,
-- audio_llama_proj); the encoder from the checkpoint, or opts.imagebind (imagebind_huge.pth) when
-- the checkpoint lacks it.
function Model:load_audio_branch(w, cfg, opts)
  local hp = cfg.lego_hparams or {}
  local ib, aq = hp.imagebind_audio or {}, hp.audio_qformer or {}
  local encoder
  if opts.imagebind then
    encoder = imagebind.load_audio(weights.open(opts.imagebind), { heads = ib.heads })
  elseif not w:has("model.audio_encoder.modality_trunks.audio.blocks.0.attn.in_proj_weight") then
    error(self.dir .. ": the checkpoint has no ImageBind audio encoder (model.audio_encoder.*); give imagebind = "
      .. "imagebind_huge.pth (--imagebind)", 3)
  end
  self.audio = audio_branch.load(w, { encoder = encoder, imagebind_heads = ib.heads, qformer_heads = aq.heads })
end

-- ---- stages ---------------------------------------------------------------------------------------

-- pixel values [3, 336, 336] of a path or a u8 [H, W, 3] tensor, and the original width, height
function Model:preprocess_image(img)
  if type(img) == "string" then img = image.load(img) end
  return image.preprocess(img, { size = self.tower.image_size }), img:size(2), img:size(1)
end

function Model:encode_image(pixels) return self.tower:features(pixels, { layer = self.select_layer }) end

function Model:project_image(features) return self.projector:forward(features) end

-- Frames of a video as GroundingGPT samples them: u8 [T, 224, 224, 3], T = min(max_frame, count),
-- with the indices and the video's info.
function Model:load_video(path) return video.load(path, { frames = self.max_frame or 64 }) end

-- f32 [T, 3, 224, 224] of frames (u8, or a path)
function Model:preprocess_video(frames)
  if type(frames) == "string" then frames = self:load_video(frames) end
  return video.preprocess(frames)
end

-- Rows for the LLM [Nv, D] from preprocessed frames, and the EVA features (after ln_vision).
function Model:encode_video(pixels)
  if not self.eva then error(self.dir .. ": the checkpoint has no video branch (model.visual_encoder.*)", 2) end
  local t = pixels:size(1)
  if t > self.frame_positions:size(1) then
    error(("video: %d frames, but the model has positions for %d"):format(t, self.frame_positions:size(1)), 2)
  end
  local feats = self.eva:features(pixels)                                   -- [T, 257, C]
  local q = self.frame_qformer:forward(feats)                               -- [T, Q, H]
  local nq, h = q:size(2), q:size(3)
  q = q + self.frame_positions:narrow(1, 1, t):float():view(t, 1, h)        -- each frame's position, to all its queries
  local v = self.video_qformer:forward(q:contiguous():view(1, t * nq, h))   -- [1, Nv, H]
  return self.llama_proj:forward(v:view(v:size(2), h)), feats
end

-- ImageBind's audio input of a sound file: filter banks [3, 1, 128, 204], the clips' spans, the info
function Model:load_audio(path) return audio.load(path) end

-- Rows for the LLM [8, D] from filter banks [clips, 1, 128, 204], and the clips' embeddings.
function Model:encode_audio(fbank)
  if not self.audio then error(self.dir .. ": the checkpoint has no audio branch (model.audio_llama_proj.*)", 2) end
  return self.audio:forward(fbank)
end

function Model:prompt(opts)
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.template = o.template or self.template
  return prompt.build(o)
end

function Model:input_ids(text) return self.tokenizer:encode(text) end

-- Token embeddings of ids with each modality's rows written over its <X_patch> run (after its
-- <X_start>, whose embedding stays, as does <X_end>'s). rows: {image = [576, D], ...}.
function Model:splice(ids, rows)
  local x = self.llm:embed(ids)
  rows = rows or {}
  for kind in pairs(rows) do
    if not prompt.TOKENS[kind] then error(("splice: no modality '%s' (sound, video or image)"):format(tostring(kind)), 2) end
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
      for i = at + 1, at + n do
        if ids[i] ~= patch then error(("splice: expected %d %s tokens after %s"):format(n, t.patch, t.start), 2) end
      end
      x:narrow(1, at + 1, n):copy(r)
    end
  end
  return x
end

-- Logits [vocab] at the last position of embeddings x (a fresh pass from position 0).
function Model:logits(x)
  local l = self.llm:forward(x, 0, { last = true })
  return l:view(l:size(2))
end

-- ---- the whole request --------------------------------------------------------------------------------

local clock = require("locus.core").clock

-- The options of a request that reach llm:generate (sampling, stop strings, streaming); nothing else does.
groundinggpt.GENERATE_OPTIONS = { "max_new_tokens", "temperature", "top_k", "top_p", "repetition_penalty", "seed", "stop",
  "on_token" }

-- opts: image (path or u8 tensor), video (path), audio (path) or fbank (filter banks [clips, 1, 128,
-- 204]), question, history, template; generation options as
-- locus.llm's generate (max_new_tokens: 512 or what the context has room for; temperature 0 =
-- greedy, top_p, seed, on_token, ...).
-- Returns {text, tokens, boxes, spans, problems, timing}; boxes in pixels of the original image;
-- timing has each stage's own seconds (video_decode_s, video_encode_s, audio_decode_s,
-- audio_encode_s, preprocess_s, encode_s, project_s, prompt_s, generate_s) and total_s.
function Model:ground(opts)
  local start = clock()
  local timing, rows, width, height, duration = {}, {}, nil, nil, opts.duration
  local last = start
  local function lap(name) -- the seconds since the previous lap, as timing[name]
    local now = clock()
    timing[name] = now - last
    last = now
  end
  if opts.video then
    local frames, _, info = self:load_video(opts.video)
    lap("video_decode_s")
    rows.video = self:encode_video(self:preprocess_video(frames))
    lap("video_encode_s")
    duration = duration or info.duration
  end
  if opts.audio or opts.fbank then
    local fbank = opts.fbank or self:load_audio(opts.audio)
    lap("audio_decode_s")
    rows.sound = self:encode_audio(fbank)
    lap("audio_encode_s")
  end
  if opts.image then
    local px
    px, width, height = self:preprocess_image(opts.image)
    lap("preprocess_s")
    local feats = self:encode_image(px)
    lap("encode_s")
    rows.image = self:project_image(feats)
    lap("project_s")
  end
  local text = self:prompt { question = opts.question, image = opts.image ~= nil, video = opts.video ~= nil,
    sound = rows.sound ~= nil, history = opts.history, template = opts.template }
  local ids = self:input_ids(text)
  local x = self:splice(ids, rows)
  lap("prompt_s")
  local gen = {}
  for _, k in ipairs(groundinggpt.GENERATE_OPTIONS) do gen[k] = opts[k] end
  gen.embeds, gen.ids = x, ids
  -- by default up to 512 new tokens, fewer when the context has less room left
  gen.max_new_tokens = opts.max_new_tokens or math.max(1, math.min(512, self.llm.config.max_context - #ids))
  gen.stop = opts.stop or { prompt.STOP }
  local out = self.llm:generate(gen)
  lap("generate_s")
  timing.total_s = last - start
  local answer = out.text:gsub("^%s+", ""):gsub("%s+$", "")
  local parsed = grounding.parse(answer, { width = width, height = height, duration = duration })
  return { text = answer, tokens = out.ids, prompt_tokens = #ids, boxes = parsed.boxes, spans = parsed.spans,
    problems = parsed.problems, stopped = out.stopped, timing = timing, width = width, height = height,
    duration = duration }
end

return groundinggpt
