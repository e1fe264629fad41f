-- locus.models.groundinggpt: the GroundingGPT recipe (locus.load), read as LEGO.py's model is built:
-- a LLaMA decoder with nine added tokens; the image branch (the CLIP tower, mm_vision_projector);
-- the video branch (EVA, Q-Formers, llama_proj; locus.video_branch); the audio branch (ImageBind,
-- the audio Q-Former, audio_llama_proj; locus.audio_branch). The request's steps (encode, prompt,
-- answer, parse, ground) come from locus.pipeline; every stage is a method, so a script can run,
-- inspect or replace any of them:
--
--   local m = locus.load("GroundingGPT-7B", {vision_tower = "clip-vit-large-patch14-336"})
--   local r = m:ground{image = "dog.jpg", question = "Where is the dog?"}
--   r.text, r.boxes[1].x0 ...
--   local px = m:preprocess_image("dog.jpg")     -- [3, 336, 336]
--   local feats = m:encode_image(px)             -- [576, 1024]: CLIP layer -2, CLS dropped
--   local rows = m:project_image(feats)          -- [576, 4096]: mm_vision_projector
--   local ids = m:prompt_ids{question = "...", image = true}
--   local x = m:splice(ids, {image = rows})      -- [T, 4096] with the image rows in place
--   local logits = m:logits(x)                   -- [vocab] at the last position
--   local rows = m:encode_audio(m:read_audio("dog.flac"))  -- [8, 4096]: the audio branch (first in
--                                                          -- the prompt: m:prompt{audio = true, ...})
local llm = require "locus.llm"
local clip = require "locus.clip"
local nn = require "locus.nn"
local image = require "locus.image"
local config = require "locus.config"
local tokenizer = require "locus.tokenizer"
local weights = require "locus.weights"
local video = require "locus.video"
local audio = require "locus.audio"
local imagebind = require "locus.imagebind"
local audio_branch = require "locus.audio_branch"
local video_branch = require "locus.video_branch"
local pipeline = require "locus.pipeline"
local tensor = require "locus.tensor"

local groundinggpt = {}
local Model = setmetatable({}, { __index = pipeline.Model })
Model.__index = Model

-- GroundingGPT's tokens, in the order its builder adds them (ids follow the vocabulary).
groundinggpt.ADDED_TOKENS = { "<im_patch>", "<im_start>", "<im_end>", "<vi_patch>", "<vi_start>", "<vi_end>",
  "<so_patch>", "<so_start>", "<so_end>" }

local function is_dir(path)
  local f = io.open(path .. "/config.json")
  if f then f:close() end
  return f ~= nil
end

local is_file = config.is_file

-- The CLIP directory: opts.vision_tower, else config's mm_vision_tower as a path (absolute or
-- relative to the model), else its last component beside the model (a directory, or a GGUF file).
function groundinggpt.find_tower(dir, cfg, opts)
  if opts.vision_tower then
    if not is_dir(opts.vision_tower) then error(opts.vision_tower .. ": not a CLIP directory (no config.json)", 3) end
    return opts.vision_tower
  end
  local name = cfg.mm_vision_tower
  if not name then error(dir .. ": config.json has no mm_vision_tower; give opts.vision_tower", 3) end
  local last = name:match("([^/]+)/*$") or name
  local candidates = { name, dir .. "/" .. name, dir .. "/../" .. last }
  if is_file(dir) then -- a converted file: beside it, or where convert found the tower
    candidates = { name, (dir:match("^(.*)/[^/]*$") or ".") .. "/" .. last, opts.tower_hint }
  end
  local tried = {}
  for _, p in ipairs(candidates) do
    tried[#tried + 1] = p
    if is_dir(p) then return p end
  end
  error(("%s: the vision tower '%s' was not found (looked at %s); download it and pass --vision-tower DIR"):format(
    dir, name, table.concat(tried, ", ")), 3)
end

-- The CLIP tower: the one a converted file carries (vision_tower.*), else the directory find_tower
-- names.
local function load_tower(dir, w, cfg, opts)
  if not opts.vision_tower and (w:has("vision_tower.vision_model.embeddings.class_embedding")
      or w:has("vision_tower.embeddings.class_embedding")) then
    local text = w:metadata()["locus.vision_tower.config"]
    if type(text) ~= "string" then error(dir .. ": the file has a CLIP tower but no locus.vision_tower.config", 3) end
    local ok, tower_cfg = pcall(require("cjson").decode, text)
    if not ok then error(dir .. ": locus.vision_tower.config is not valid JSON", 3) end
    return dir .. " (vision_tower)", clip.from_weights(w:sub("vision_tower."), tower_cfg, dir .. " (vision_tower)")
  end
  local hint = w:format() == "gguf" and w:metadata()["locus.vision_tower.path"]
  local path = groundinggpt.find_tower(dir, cfg, { vision_tower = opts.vision_tower, tower_hint = type(hint) == "string" and hint or nil })
  return path, clip.load(path)
end

-- The fields of config.json the recipe reads, checked before anything is built from them.
local HPARAMS = { eva_vit = { "heads", "ln_eps", "ln_vision_eps" }, qformer = { "heads", "ln_eps" },
  video_qformer = { "heads", "ln_eps" }, imagebind_audio = { "heads" }, audio_qformer = { "heads" } }

local function check_config(cfg, dir)
  local where = is_file(dir) and dir .. " (config)" or dir .. "/config.json"
  if cfg.mm_vision_tower ~= nil then config.text(cfg.mm_vision_tower, where, "mm_vision_tower") end
  if cfg.mm_vision_select_layer ~= nil then config.whole(cfg.mm_vision_select_layer, where, "mm_vision_select_layer", -4096, 4096) end
  for _, k in ipairs { "image_token_len", "video_token_len", "sound_token_len" } do
    if cfg[k] ~= nil then config.whole(cfg[k], where, k, 1, 65536) end
  end
  if cfg.lego_hparams == nil then return end
  config.object(cfg.lego_hparams, where, "lego_hparams")
  for section, keys in pairs(HPARAMS) do
    local t = cfg.lego_hparams[section]
    if t ~= nil then
      config.object(t, where, "lego_hparams." .. section)
      for _, k in ipairs(keys) do
        local field = "lego_hparams." .. section .. "." .. k
        if t[k] ~= nil then
          if k == "heads" then config.whole(t[k], where, field, 1, 4096) else config.positive(t[k], where, field) end
        end
      end
    end
  end
end

-- dir: the GroundingGPT directory, or a GGUF file `locus convert` made of one. opts: vision_tower (the CLIP directory), eva and blip2
-- (eva_vit_g.pth and BLIP-2's .pth, when the checkpoint lacks EVA), imagebind (imagebind_huge.pth,
-- when it lacks ImageBind), max_context, kv_cache ("f32" or "f16"), template ("inference" or "training"),
-- added_token_spaces ("keep" or "strip", locus.tokenizer).
function groundinggpt.load(dir, opts)
  opts = opts or {}
  local cfg = config.load(dir).config
  if not cfg then
    error(dir .. (is_file(dir) and ": no GroundingGPT config in the file (locus.hf.config; made by locus convert?)"
      or ": no config.json"), 2)
  end
  check_config(cfg, dir)
  local hp = cfg.lego_hparams or {} -- small models in the real layout say their sizes here

  local report = require("locus.progress").report
  local label = "loading " .. tostring(dir):match("[^/]*/?$")
  report(label, 0, 4)
  local tok = tokenizer.load(dir, { added_token_spaces = opts.added_token_spaces })
  for _, t in ipairs(groundinggpt.ADDED_TOKENS) do -- when the directory does not list them, as its builder adds them
    if not tok:id(t) then tok:add_token(t, tok:vocab_size()) end
  end
  report(label, 1, 4)
  local lm = llm.load(dir, { tokenizer = tok, max_context = opts.max_context, kv_cache = opts.kv_cache })
  local w = lm.weights
  report(label, 2, 4)

  local self = setmetatable({ dir = dir, config = cfg, llm = lm, tokenizer = tok, template = opts.template or "inference",
    precision = pipeline.check_precision(opts.precision, dir) }, Model)
  -- image: CLIP's hidden state mm_vision_select_layer, then Linear -> GELU -> Linear
  self.tower_path, self.tower = load_tower(dir, w, cfg, opts)
  self.select_layer = cfg.mm_vision_select_layer or -2
  -- the patch tokens of each block: GroundingGPT's config fields (576, 64, 8 in its release); the
  -- image's must be what the tower makes
  self.token_counts = { image = cfg.image_token_len or 576, video = cfg.video_token_len or 64, audio = cfg.sound_token_len or 8 }
  local patches = math.floor(self.tower.image_size / self.tower.patch_size) ^ 2
  if self.token_counts.image ~= patches then
    error(("%s: config image_token_len is %d, but the vision tower %s makes %d patches (%d px in %d px patches)"):format(
      dir, self.token_counts.image, self.tower_path, patches, self.tower.image_size, self.tower.patch_size), 2)
  end
  self.projector = nn.Sequential(nn.Linear.load(w, "model.mm_vision_projector.0."), nn.GELU(),
    nn.Linear.load(w, "model.mm_vision_projector.2."))
  report(label, 3, 4)
  -- video: 64 frames (max_frame) through EVA and the Q-Formers
  if w:has("model.video_Qformer.bert.embeddings.LayerNorm.weight") then
    local ok, branch = pcall(video_branch.load, w, { hparams = hp, eva = opts.eva, blip2 = opts.blip2 })
    if not ok then error(dir .. ": " .. tostring(branch):gsub("^[^:]*%.lua:%d+: ", ""), 2) end
    self.video = branch
    self.max_frame = cfg.max_frame or 64
    local mf, most = self.max_frame, branch:max_frames()
    if type(mf) ~= "number" or mf ~= math.floor(mf) or mf < 1 or mf > most then
      error(("%s: config max_frame must be a whole number from 1 to %d (the frame positions the checkpoint has), not %s")
        :format(dir, most, tostring(mf)), 2)
    end
  end
  -- audio: three clips through ImageBind and the audio Q-Former
  if w:has("model.audio_llama_proj.weight") then
    local ib, aq = hp.imagebind_audio or {}, hp.audio_qformer or {}
    local encoder
    if opts.imagebind then
      encoder = imagebind.load_audio(weights.open(opts.imagebind), { heads = ib.heads })
    elseif not w:has("model.audio_encoder.modality_trunks.audio.blocks.0.attn.in_proj_weight") then
      error(dir .. ": the checkpoint has no ImageBind audio encoder (model.audio_encoder.*); give imagebind = "
        .. "imagebind_huge.pth (--imagebind)", 2)
    end
    self.audio = audio_branch.load(w, { encoder = encoder, imagebind_heads = ib.heads, qformer_heads = aq.heads })
  end
  report(label, 4, 4)
  return self
end

-- ---- image stages -----------------------------------------------------------------------------------

-- pixel values [3, 336, 336] of a path or a u8 [H, W, 3] tensor, and the original width, height
function Model:preprocess_image(img)
  local path = type(img) == "string" and img
  if path then img = image.read(path) end
  local ok, px = pcall(image.preprocess, img, { size = self.tower.image_size })
  if not ok then error((path and (path .. ": ") or "") .. tostring(px):gsub("^[^:]*%.lua:%d+: ", ""), 2) end
  return px, img:size(2), img:size(1)
end

function Model:encode_image(pixels) return self.tower:features(pixels, { layer = self.select_layer }) end

function Model:project_image(features) return self.projector:forward(features) end

-- the request's image (media.image: a path or u8 [H, W, 3]; or media.pixel_values, whose photo
-- size is then unknown)
function Model:encode_image_input(media, record, lap)
  local px, width, height
  if media.pixel_values then
    px = media.pixel_values
  else
    px, width, height = self:preprocess_image(media.image)
  end
  record("pixel_values", px)
  lap("preprocess_s")
  local feats = self:encode_image(px)
  record("image_features", feats)
  lap("encode_s")
  local rows = self:project_image(feats)
  record("image_embeds", rows)
  lap("project_s")
  return rows, { width = width, height = height }
end

-- ---- video stages -----------------------------------------------------------------------------------

local function need_video(self)
  if not self.video then error(self.dir .. ": the checkpoint has no video branch (model.video_Qformer.*)", 3) end
end

-- Frames of a video as GroundingGPT samples them: u8 [T, 224, 224, 3], T = min(max_frame, count),
-- with the indices and the video's info.
function Model:read_video(path) return video.read(path, { frames = self.max_frame or 64 }) end

-- f32 [T, 3, 224, 224] of frames (u8, or a path)
function Model:preprocess_video(frames)
  if type(frames) == "string" then frames = self:read_video(frames) end
  return video.preprocess(frames)
end

-- Rows for the LLM [Nv, D] from preprocessed frames, and the EVA features (after ln_vision).
function Model:encode_video(pixels)
  need_video(self)
  return self.video:forward(pixels)
end

-- the request's video (media.video: a path; or media.frames, f32 [T, 3, 224, 224])
function Model:encode_video_input(media, record, lap)
  need_video(self)
  local px, info = media.frames, nil
  if not px then
    local frames, idx
    frames, idx, info = self:read_video(media.video)
    record("frame_indices", tensor.from(idx, "i64"))
    px = self:preprocess_video(frames)
  end
  record("frames", px)
  lap("video_decode_s")
  local rows, feats = self:encode_video(px)
  record("eva_features", feats:select(1, 1))
  record("video_embeds", rows)
  lap("video_encode_s")
  return rows, { duration = info and info.duration }
end

-- ---- audio stages -----------------------------------------------------------------------------------

-- ImageBind's input of a sound file: filter banks [3, 1, 128, 204], the clips' spans, the info
function Model:read_audio(path) return audio.read(path) end

-- Rows for the LLM [8, D] from filter banks [clips, 1, 128, 204], and the clips' embeddings.
function Model:encode_audio(fbank)
  if not self.audio then error(self.dir .. ": the checkpoint has no audio branch (model.audio_llama_proj.*)", 2) end
  return self.audio:forward(fbank)
end

-- the request's sound (media.audio: a path; or media.fbank)
function Model:encode_audio_input(media, record, lap)
  local fbank = media.fbank or self:read_audio(media.audio)
  record("fbank", fbank)
  lap("audio_decode_s")
  local rows, clips = self:encode_audio(fbank)
  record("audio_clip_embeds", clips)
  record("audio_embeds", rows)
  lap("audio_encode_s")
  return rows
end

return groundinggpt
