-- locus.eva: BLIP-2's EVA ViT-g image encoder and its ln_vision, the first stage of GroundingGPT's
-- video branch, composed from the fused encoder layer (csrc/models/vit.c):
--   patch conv (with bias) -> [CLS; patches] + positions -> layers of
--     x += attn(LN1(x)) (one qkv matrix; q and v biases, no k bias);  x += fc2(GELU(fc1(LN2(x))))
--   -> ln_vision
-- Weights come from a GroundingGPT checkpoint (model.visual_encoder.*, model.ln_vision.*) or from
-- eva_vit_g.pth (no prefix; then ln_vision comes from the BLIP-2 checkpoint or the model).
-- Hyperparameters: lego_hparams.eva_vit in config.json (heads, ln_eps, ln_vision_eps), widths
-- and depths from the tensors.
--   local enc = locus.eva.load(weights, {prefix = "model.visual_encoder.", ln_vision = "model.ln_vision.", heads = 16})
--   local feats = enc:features(frames)                -- f32 [T, 3, 224, 224] -> [T, 257, 1408]
local tensor = require "locus.tensor"
local nn = require "locus.nn"

local eva = {}
local Encoder = {}
Encoder.__index = Encoder

-- w: a locus.weights (or a sub view); opts: prefix, ln_vision (prefix of its weight and bias, or a
-- second weights object's prefix via opts.ln_vision_weights), heads (16), ln_eps (1e-6),
-- ln_vision_eps (1e-5)
function eva.load(w, opts)
  opts = opts or {}
  local p = opts.prefix or "model.visual_encoder."
  local vw = w:sub(p)
  if not vw:has("patch_embed.proj.weight") then error(("EVA: no %spatch_embed.proj.weight in the weights"):format(p), 2) end
  local lw = opts.ln_vision_weights or w
  local lp = opts.ln_vision or "model.ln_vision."
  local self = setmetatable({
    patch_w = vw:get("patch_embed.proj.weight"), patch_b = vw:get("patch_embed.proj.bias"),
    cls = vw:get("cls_token"), pos = vw:get("pos_embed"),
    ln_vision = nn.LayerNorm.load(lw, lp, { eps = opts.ln_vision_eps or 1e-5 }),
    heads = opts.heads or 16, eps = opts.ln_eps or 1e-6, layers = {},
  }, Encoder)
  self.width = self.patch_w:size(1)
  if self.width % self.heads ~= 0 then error(("EVA: width %d is not divisible by %d heads"):format(self.width, self.heads), 2) end
  local i = 0
  while vw:has("blocks." .. i .. ".attn.qkv.weight") do
    local b = vw:sub("blocks." .. i .. ".")
    local qkv, c = b:get("attn.qkv.weight"), self.width -- one [3C, C] matrix: q, k, v rows; no k bias
    self.layers[i + 1] = nn.EncoderLayer({
      ln1_w = b:get("norm1.weight"), ln1_b = b:get("norm1.bias"),
      q_w = qkv:narrow(1, 1, c), q_b = b:get("attn.q_bias"), k_w = qkv:narrow(1, c + 1, c),
      v_w = qkv:narrow(1, 2 * c + 1, c), v_b = b:get("attn.v_bias"),
      o_w = b:get("attn.proj.weight"), o_b = b:get("attn.proj.bias"),
      ln2_w = b:get("norm2.weight"), ln2_b = b:get("norm2.bias"),
      fc1_w = b:get("mlp.fc1.weight"), fc1_b = b:get("mlp.fc1.bias"), fc2_w = b:get("mlp.fc2.weight"), fc2_b = b:get("mlp.fc2.bias"),
    }, { heads = self.heads, eps = self.eps, act = "gelu" })
    i = i + 1
  end
  if i == 0 then error("EVA: no blocks.0.attn.qkv.weight under " .. p, 2) end
  return self
end

-- [T, 1 + N, C] tokens of frames [T, 3, S, S] before the layers: patches, CLS, positions.
function Encoder:embed(frames)
  if frames:dim() == 3 then frames = frames:view(1, frames:size(1), frames:size(2), frames:size(3)) end
  local t, c = frames:size(1), self.width
  local grid = frames:conv2d(self.patch_w, self.patch_b, self.patch_w:size(3)) -- [T, C, g, g]
  local n = grid:size(3) * grid:size(4)
  if n + 1 ~= self.pos:size(2) then
    error(("EVA: %d patches, but the position embedding has %d"):format(n, self.pos:size(2) - 1), 3)
  end
  local patches = grid:view(t, c, n):transpose(2, 3)                            -- [T, N, C]
  local x = tensor.cat({ self.cls:float():expand(t, 1, c), patches }, 2)          -- [T, 1 + N, C]
  return x + self.pos
end

-- Features after ln_vision: [T, 1 + N, C]. opts.layers runs only the first n layers (inspection).
function Encoder:features(frames, opts)
  local x = self:embed(frames)
  local t, seq, c = x:size(1), x:size(2), x:size(3)
  x = x:contiguous():view(t * seq, c)
  for i = 1, math.min(#self.layers, opts and opts.layers or #self.layers) do
    self.layers[i]:apply(x, seq)
  end
  return self.ln_vision:forward(x):view(t, seq, c)
end

return eva
