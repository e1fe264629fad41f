-- locus.video_branch: GroundingGPT's video branch (LEGO.py's encode_videoQformer_visual, Video-LLaMA's
-- design): every frame through EVA ViT-g and ln_vision, BLIP-2's Q-Former (32 queries per frame),
-- each frame's position embedding added to its queries, the video Q-Former over all frames' queries
-- (64 queries), and llama_proj to the LLM's width: the rows spliced between <vi_start> and <vi_end>.
--   local branch = locus.video_branch.load(weights, {hparams = cfg.lego_hparams})
--   local rows, eva = branch:forward(locus.video.preprocess(frames))   -- [64, 4096], [T, 257, 1408]
local eva = require "locus.eva"
local qformer = require "locus.qformer"
local nn = require "locus.nn"
local weights = require "locus.weights"

local video_branch = {}
local Branch = {}
Branch.__index = Branch

-- w: GroundingGPT's checkpoint. opts.hparams: lego_hparams (eva_vit, qformer, video_qformer; the
-- real model's values when absent); opts.eva / opts.blip2: eva_vit_g.pth and BLIP-2's .pth, for a
-- checkpoint that lacks EVA (model.visual_encoder.*), ln_vision and the frame Q-Former.
function video_branch.load(w, opts)
  opts = opts or {}
  local hp = opts.hparams or {}
  local e, q, vq = hp.eva_vit or {}, hp.qformer or {}, hp.video_qformer or {}
  local eva_w, eva_prefix, blip_w = w, "model.visual_encoder.", w
  if not w:has("model.visual_encoder.patch_embed.proj.weight") then
    if not (opts.eva and opts.blip2) then
      error("the checkpoint has no EVA encoder (model.visual_encoder.*); give eva = eva_vit_g.pth and "
        .. "blip2 = the BLIP-2 .pth (--eva, --blip2)", 2)
    end
    eva_w, eva_prefix, blip_w = weights.open(opts.eva), "", weights.open(opts.blip2)
  end
  return setmetatable({
    eva = eva.load(eva_w, { prefix = eva_prefix, ln_vision_weights = blip_w, heads = e.heads or 16, ln_eps = e.ln_eps,
      ln_vision_eps = e.ln_vision_eps }),
    frame_qformer = qformer.load(blip_w, { heads = q.heads or 12, eps = q.ln_eps }),
    frame_positions = w:get("model.video_frame_position_embedding.weight"),
    video_qformer = qformer.load(w, { prefix = "model.video_Qformer.bert.", queries = "model.video_query_tokens",
      heads = vq.heads or 12, eps = vq.ln_eps }),
    llama_proj = nn.Linear.load(w, "model.llama_proj.", { bias = true }),
  }, Branch)
end

-- How many frames the branch has positions for.
function Branch:max_frames() return self.frame_positions:size(1) end

-- pixels f32 [T, 3, 224, 224] -> the rows for the LLM [Nv, D], and EVA's features [T, 257, C]
function Branch:forward(pixels)
  local t = pixels:size(1)
  if t > self:max_frames() then
    error(("video: %d frames, but the model has positions for %d"):format(t, self:max_frames()), 2)
  end
  local feats = self.eva:features(pixels)                                   -- [T, 257, C]
  local q = self.frame_qformer:forward(feats)                               -- [T, Q, H]
  local nq, h = q:size(2), q:size(3)
  q = q + self.frame_positions:narrow(1, 1, t):float():view(t, 1, h)        -- each frame's position, to all its queries
  local v = self.video_qformer:forward(q:contiguous():view(1, t * nq, h))   -- [1, Nv, H]
  return self.llama_proj:forward(v:view(v:size(2), h)), feats
end

return video_branch
