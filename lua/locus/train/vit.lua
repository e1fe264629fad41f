-- locus.train.vit: CLIP's vision tower (HF's CLIPVisionModel) as GroundingGPT uses it, forward with
-- its activations kept, and backward, for training the tower itself. The inference tower runs the
-- fused C encoder layer (locus.clip); this is the same arithmetic as separate ops.
--
--   local net = vit.new(cfg, get, "vision_model.")      -- cfg: the tower's config.json
--   local feats, saved = net:forward(px, -2)            -- px [3, S, S] -> hidden state -2 without
--                                                       -- CLS: [N, C] (GroundingGPT's features)
--   net:backward(saved, dfeats, grads)                  -- weight gradients into grads[name]
--
-- The patch embedding is a linear layer over the unfolded patches (stride = kernel), so its
-- gradient is grad.linear's; the class embedding and the position table take theirs directly.
local tensor = require "locus.tensor"
local grad = require "locus.grad"

local vit = {}
local Net = {}
Net.__index = Net

function vit.new(cfg, get, prefix)
  return setmetatable({ cfg = cfg, get = get, p = prefix or "vision_model." }, Net)
end

-- px [3, S, S] as rows of patches [N, 3 P P], in the order conv2d's output flattens them
local function unfold(px, p)
  local s = px:size(2)
  local g = s / p
  return px:contiguous():view(3, g, p, g, p):permute(2, 4, 1, 3, 5):contiguous():view(g * g, 3 * p * p)
end

local function lin(x, get, name) return x:linear(get(name .. ".weight"), get(name .. ".bias")) end

-- The hidden state after layer L + 1 + select (select -2: all layers but the last), CLS dropped.
function Net:forward(px, select)
  local c, get, pre = self.cfg, self.get, self.p
  local ch, eps, p = c.hidden_size, c.layer_norm_eps or 1e-5, c.patch_size
  local saved = { rows = unfold(px, p), layers = {} }
  local pw = get(pre .. "embeddings.patch_embedding.weight")
  local patches = saved.rows:linear(pw:float():contiguous():view(ch, 3 * p * p))
  local n = patches:size(1)
  local x = tensor.empty { n + 1, ch }
  x:narrow(1, 1, 1):copy(get(pre .. "embeddings.class_embedding"):float():view(1, ch))
  x:narrow(1, 2, n):copy(patches)
  saved.embed = x + get(pre .. "embeddings.position_embedding.weight")
  x = saved.embed:layer_norm(get(pre .. "pre_layrnorm.weight"), get(pre .. "pre_layrnorm.bias"), eps)
  local heads, t = c.num_attention_heads, n + 1
  local depth = c.num_hidden_layers + 1 + (select or -2)
  for i = 0, depth - 1 do
    local l = ("%sencoder.layers.%d."):format(pre, i)
    local s = { x_in = x, l = l }
    s.h = x:layer_norm(get(l .. "layer_norm1.weight"), get(l .. "layer_norm1.bias"), eps)
    s.q = lin(s.h, get, l .. "self_attn.q_proj"):view(t, heads, ch / heads)
    s.k = lin(s.h, get, l .. "self_attn.k_proj"):view(t, heads, ch / heads)
    s.v = lin(s.h, get, l .. "self_attn.v_proj"):view(t, heads, ch / heads)
    s.a = s.q:attention(s.k, s.v):view(t, ch)
    x = x + lin(s.a, get, l .. "self_attn.out_proj")
    s.x_mid = x
    s.h2 = x:layer_norm(get(l .. "layer_norm2.weight"), get(l .. "layer_norm2.bias"), eps)
    s.f = lin(s.h2, get, l .. "mlp.fc1")
    s.g = s.f:quick_gelu()
    x = x + lin(s.g, get, l .. "mlp.fc2")
    saved.layers[#saved.layers + 1] = s
  end
  return x:narrow(1, 2, n):contiguous(), saved
end

local function linear_back(self, dy, x, name, grads)
  return (grad.linear(dy, x, self.get(name .. ".weight"), { dw = grads[name .. ".weight"] or false,
    db = grads[name .. ".bias"] or false }))
end

-- dfeats [N, C] (the gradient of the features forward returned) -> weight gradients in grads
function Net:backward(saved, dfeats, grads)
  local c, get, pre = self.cfg, self.get, self.p
  local ch, eps, p = c.hidden_size, c.layer_norm_eps or 1e-5, c.patch_size
  local n = dfeats:size(1)
  local t, heads = n + 1, c.num_attention_heads
  local dx = tensor.zeros { t, ch }
  dx:narrow(1, 2, n):copy(dfeats)
  local function ln_back(dy, x, name)
    local d = grad.layer_norm(dy, x, get(name .. ".weight"), eps, { dw = grads[name .. ".weight"] or false,
      db = grads[name .. ".bias"] or false })
    return d
  end
  for i = #saved.layers, 1, -1 do
    local s = saved.layers[i]
    local l = s.l
    local dg = linear_back(self, dx, s.g, l .. "mlp.fc2", grads)
    local dh2 = linear_back(self, grad.activation("quick_gelu", dg, s.f), s.h2, l .. "mlp.fc1", grads)
    dx = dx + ln_back(dh2, s.x_mid, l .. "layer_norm2")
    local da = linear_back(self, dx, s.a, l .. "self_attn.out_proj", grads)
    local dq, dk, dv = grad.attention(da:view(t, heads, ch / heads), s.q, s.k, s.v, false)
    local dh = linear_back(self, dq:view(t, ch), s.h, l .. "self_attn.q_proj", grads)
      + linear_back(self, dk:view(t, ch), s.h, l .. "self_attn.k_proj", grads)
      + linear_back(self, dv:view(t, ch), s.h, l .. "self_attn.v_proj", grads)
    dx = dx + ln_back(dh, s.x_in, l .. "layer_norm1")
  end
  local de = ln_back(dx, saved.embed, pre .. "pre_layrnorm")
  local pos, cls, pw = pre .. "embeddings.position_embedding.weight", pre .. "embeddings.class_embedding",
    pre .. "embeddings.patch_embedding.weight"
  if grads[pos] then grad.add_into(grads[pos], de) end
  if grads[cls] then grad.add_into(grads[cls], de:narrow(1, 1, 1):view(ch)) end
  if grads[pw] then
    local dw = de:narrow(1, 2, n):contiguous():transpose(1, 2):contiguous():matmul(saved.rows)
    grad.add_into(grads[pw], dw:view(ch, 3, p, p))
  end
end

return vit
