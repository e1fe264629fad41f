-- locus.clip: the CLIP vision tower (ViT) of an HF CLIP directory — a full CLIPModel checkpoint (the
-- text tower is never read) or a CLIPVisionModel — composed from locus's ops:
--   patch embedding (conv, no bias) -> [CLS; patches] + positions -> pre-LayerNorm ->
--   layers of  x += attn(LN1(x));  x += fc2(quick_gelu(fc1(LN2(x))))
--   local tower = locus.clip.load("clip-vit-large-patch14-336")   -- or clip.from_weights(w, cfg, name)
--   local feats = tower:features(pixel_values, {layer = -2})   -- [576, 1024]: CLS dropped
local tensor = require "locus.tensor"
local nn = require "locus.nn"
local weights = require "locus.weights"
local config = require "locus.config"

local clip = {}
local Tower = {}
Tower.__index = Tower

function clip.load(path, opts)
  local cfg = config.load(path).config
  if not cfg then error(path .. ": no config.json", 2) end
  return clip.from_weights(weights.open(path), cfg, path, opts)
end

-- The tower from weights w (or a sub view) and its config.json as a table; `path` names it in
-- errors. opts.prefix: where the tower's names start (found when absent).
function clip.from_weights(w, cfg, path, opts)
  opts = opts or {}
  local where = path .. " (config.json)"
  local v = cfg.vision_config and config.object(cfg.vision_config, where, "vision_config") or cfg
  if v.num_attention_heads ~= nil then config.whole(v.num_attention_heads, where, "num_attention_heads", 1, 4096) end
  if v.layer_norm_eps ~= nil then config.positive(v.layer_norm_eps, where, "layer_norm_eps") end
  if v.image_size ~= nil then config.whole(v.image_size, where, "image_size", 1, 32768) end
  local prefix = opts.prefix or (w:has("vision_model.embeddings.class_embedding") and "vision_model." or
    (w:has("embeddings.class_embedding") and "" or nil))
  if not prefix then error(path .. ": no CLIP vision tower (vision_model.embeddings.class_embedding) in the weights", 2) end
  local vw = w:sub(prefix)
  local patch = vw:get("embeddings.patch_embedding.weight")
  local pos = vw:get("embeddings.position_embedding.weight")
  local width = patch:size(1)
  local heads = v.num_attention_heads or 16
  if width % heads ~= 0 then error(("%s: width %d is not divisible by %d heads"):format(path, width, heads), 2) end
  local eps = v.layer_norm_eps or 1e-5
  local layers, i = {}, 0
  while vw:has("encoder.layers." .. i .. ".self_attn.q_proj.weight") do
    local l = vw:sub("encoder.layers." .. i .. ".")
    local t = {}
    for name, key in pairs { ln1 = "layer_norm1", q = "self_attn.q_proj", k = "self_attn.k_proj", v = "self_attn.v_proj",
      o = "self_attn.out_proj", ln2 = "layer_norm2", fc1 = "mlp.fc1", fc2 = "mlp.fc2" } do
      t[name .. "_w"], t[name .. "_b"] = l:get(key .. ".weight"), l:get(key .. ".bias")
    end
    layers[i + 1] = nn.EncoderLayer(t, { heads = heads, eps = eps, act = "quick_gelu" })
    i = i + 1
  end
  return setmetatable({
    weights = w, patch = patch, class = vw:get("embeddings.class_embedding"), positions = pos,
    pre_norm = nn.LayerNorm.load(vw, "pre_layrnorm.", { eps = eps }),
    layers = layers, heads = heads, width = width, patch_size = patch:size(3),
    image_size = v.image_size or math.floor(math.sqrt(pos:size(1) - 1) + 0.5) * patch:size(3),
    eps = eps,
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
  return self.pre_norm:forward(x)
end

-- One encoder layer (an nn.EncoderLayer of self.layers) on x [T, C] through the fused C block.
function Tower:layer(x, l) return l:forward(x) end

-- The same layer composed from locus's ops in Lua (what the fused block must equal; a place to
-- experiment).
function Tower:layer_lua(x, l)
  local p = l.tensors
  local t, c, h = x:size(1), self.width, self.heads
  local n = x:layer_norm(p.ln1_w, p.ln1_b, self.eps)
  local q = n:linear(p.q_w, p.q_b):view(t, h, c / h)
  local k = n:linear(p.k_w, p.k_b):view(t, h, c / h)
  local v = n:linear(p.v_w, p.v_b):view(t, h, c / h)
  x = x + q:attention(k, v):view(t, c):linear(p.o_w, p.o_b)
  n = x:layer_norm(p.ln2_w, p.ln2_b, self.eps)
  return x + n:linear(p.fc1_w, p.fc1_b):quick_gelu():linear(p.fc2_w, p.fc2_b)
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
