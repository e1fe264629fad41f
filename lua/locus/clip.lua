-- locus.clip: the CLIP vision tower (ViT) of an HF CLIP directory — a full CLIPModel checkpoint (the
-- text tower is never read) or a CLIPVisionModel — composed from locus's ops:
--   patch embedding (conv, no bias) -> [CLS; patches] + positions -> pre-LayerNorm ->
--   layers of  x += attn(LN1(x));  x += fc2(quick_gelu(fc1(LN2(x))))
--   local tower = locus.clip.load("clip-vit-large-patch14-336")
--   local feats = tower:features(pixel_values, {layer = -2})   -- [576, 1024]: CLS dropped
local ffi = require "ffi"
local core = require "locus.core"
local tensor = require "locus.tensor"
local weights = require "locus.weights"
local config = require "locus.config"

local clip = {}
local Tower = {}
Tower.__index = Tower

function clip.load(path, opts)
  opts = opts or {}
  local w = weights.open(path)
  local cfg = config.load(path).config
  if not cfg then error(path .. ": no config.json", 2) end
  local v = cfg.vision_config or cfg
  local prefix = opts.prefix or (w:has("vision_model.embeddings.class_embedding") and "vision_model." or
    (w:has("embeddings.class_embedding") and "" or nil))
  if not prefix then error(path .. ": no CLIP vision tower (vision_model.embeddings.class_embedding) in the weights", 2) end
  local vw = w:sub(prefix)
  local patch = vw:get("embeddings.patch_embedding.weight")
  local pos = vw:get("embeddings.position_embedding.weight")
  local width = patch:size(1)
  local heads = v.num_attention_heads or 16
  if width % heads ~= 0 then error(("%s: width %d is not divisible by %d heads"):format(path, width, heads), 2) end
  local layers, i = {}, 0
  while vw:has("encoder.layers." .. i .. ".self_attn.q_proj.weight") do
    local l = vw:sub("encoder.layers." .. i .. ".")
    layers[i + 1] = {}
    for _, name in ipairs { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "mlp.fc1",
      "mlp.fc2", "layer_norm1", "layer_norm2" } do
      layers[i + 1][name] = { w = l:get(name .. ".weight"), b = l:get(name .. ".bias") }
    end
    i = i + 1
  end
  return setmetatable({
    weights = w, patch = patch, class = vw:get("embeddings.class_embedding"), positions = pos,
    pre_norm = { w = vw:get("pre_layrnorm.weight"), b = vw:get("pre_layrnorm.bias") },
    layers = layers, heads = heads, width = width, patch_size = patch:size(3),
    image_size = v.image_size or math.floor(math.sqrt(pos:size(1) - 1) + 0.5) * patch:size(3),
    eps = v.layer_norm_eps or 1e-5,
  }, Tower)
end

-- [1 + N, C] tokens after the embeddings and the pre-LayerNorm (hidden state 0).
function Tower:embed(pixels)
  local s = self.image_size
  if pixels:dim() == 3 then pixels = pixels:view(1, 3, pixels:size(2), pixels:size(3)) end
  local shape = pixels:shape()
  if shape[2] ~= 3 or shape[3] ~= s or shape[4] ~= s then
    error(("CLIP: pixel values must be [3, %d, %d], got [%s]"):format(s, s, table.concat(shape, ", ")), 3)
  end
  local grid = pixels:conv2d(self.patch, nil, self.patch_size) -- [1, C, g, g]
  local n = grid:size(3) * grid:size(4)
  local patches = grid:view(self.width, n):t()                 -- [N, C]
  local x = tensor.cat({ self.class:float():view(1, self.width), patches }, 1)
  x = x + self.positions
  return x:layer_norm(self.pre_norm.w, self.pre_norm.b, self.eps)
end

-- One encoder layer on x [T, C] through the fused C block (csrc/models/vit.c).
function Tower:layer(x, l)
  x = x:contiguous():clone()
  local w = ffi.new("locus_vit_layer_weights")
  w.ln1_w, w.ln1_b, w.ln2_w, w.ln2_b = l.layer_norm1.w.p, l.layer_norm1.b.p, l.layer_norm2.w.p, l.layer_norm2.b.p
  w.q_w, w.q_b = l["self_attn.q_proj"].w.p, l["self_attn.q_proj"].b.p
  w.k_w, w.k_b = l["self_attn.k_proj"].w.p, l["self_attn.k_proj"].b.p
  w.v_w, w.v_b = l["self_attn.v_proj"].w.p, l["self_attn.v_proj"].b.p
  w.o_w, w.o_b = l["self_attn.out_proj"].w.p, l["self_attn.out_proj"].b.p
  w.fc1_w, w.fc1_b, w.fc2_w, w.fc2_b = l["mlp.fc1"].w.p, l["mlp.fc1"].b.p, l["mlp.fc2"].w.p, l["mlp.fc2"].b.p
  core.check(core.C.locus_vit_layer(x.p, w, self.heads, self.eps, core.C.LOCUS_ACT_QUICK_GELU, 0), "CLIP layer")
  return x
end

-- The same layer composed from locus's ops in Lua (what the fused block must equal; a place to
-- experiment).
function Tower:layer_lua(x, l)
  local t, c, h = x:size(1), self.width, self.heads
  local n = x:layer_norm(l.layer_norm1.w, l.layer_norm1.b, self.eps)
  local q = n:linear(l["self_attn.q_proj"].w, l["self_attn.q_proj"].b):view(t, h, c / h)
  local k = n:linear(l["self_attn.k_proj"].w, l["self_attn.k_proj"].b):view(t, h, c / h)
  local v = n:linear(l["self_attn.v_proj"].w, l["self_attn.v_proj"].b):view(t, h, c / h)
  x = x + q:attention(k, v):view(t, c):linear(l["self_attn.out_proj"].w, l["self_attn.out_proj"].b)
  n = x:layer_norm(l.layer_norm2.w, l.layer_norm2.b, self.eps)
  return x + n:linear(l["mlp.fc1"].w, l["mlp.fc1"].b):quick_gelu():linear(l["mlp.fc2"].w, l["mlp.fc2"].b)
end

-- The hidden state of a layer (HF's hidden_states[layer]: 0 = embeddings, -1 = the last layer;
-- GroundingGPT takes -2), patches only unless opts.cls. Layers after it are not run.
function Tower:features(pixels, opts)
  opts = opts or {}
  local layer = opts.layer or -2
  local n = #self.layers
  local stop = layer < 0 and n + 1 + layer or layer
  if stop < 0 or stop > n then error(("CLIP: layer %d does not exist (%d layers)"):format(layer, n), 2) end
  local x = self:embed(pixels)
  for i = 1, stop do x = self:layer(x, self.layers[i]) end
  if opts.cls then return x end
  return x:narrow(1, 2, x:size(1) - 1):contiguous()
end

return clip
