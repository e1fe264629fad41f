-- locus.train.llama: a LLaMA decoder's forward pass that keeps what its backward pass needs, and
-- the backward pass, for training. The inference decoder (csrc/models/llama.c) is fused and keeps
-- nothing; this is the same arithmetic as separate ops (locus.tensor) so that every activation is
-- at hand, one sequence at a time, positions 0 .. T-1.
--
--   local net = llama.new(m.config, function(name) return m.weights:get(name) end)
--   local logits, saved = net:forward(x, rows)       -- x [T, dim]: token embeddings (images spliced in)
--   local dx = net:backward(saved, dlogits, grads)   -- grads: {name = f32 accumulator} for what trains
--
-- rows (i64, 0-based positions) asks for the logits of those positions only, [#rows, vocab]: the
-- positions a loss is taken at. At a vocabulary of 32000 the output layer over every position of
-- a 640-token image prompt would cost more than the rest of the decoder.
--
-- `grads` holds an f32 tensor for each weight that trains (by its checkpoint name); weights without
-- one are frozen, used as stored (bf16 mapped, say), and cost no weight gradient. dx is the
-- gradient with respect to x, which flows on into whatever made x (the adapter of an image).
local grad = require "locus.grad"
local tensor = require "locus.tensor"

local llama = {}
local Net = {}
Net.__index = Net

-- cfg: locus.llm's recipe (m.config): sizes, epsilon, rope, and the tensor names per layer;
-- get(name): the weight tensor of a name
function llama.new(cfg, get) return setmetatable({ cfg = cfg, get = get }, Net) end

local function linear_backward(self, dy, x, name, grads)
  return (grad.linear(dy, x, self.get(name), { dw = grads[name] or false }))
end

-- logits [T, vocab] (or [#rows, vocab]) and the activations of every layer
function Net:forward(x, rows)
  local c, get = self.cfg, self.get
  local t, hd = x:size(1), c.dim / c.n_heads
  local saved = { layers = {} }
  for i, l in ipairs(c.layers) do
    local s = { x_in = x }
    s.h = x:rms_norm(get(l.attn_norm), c.norm_eps)
    local q = s.h:linear(get(l.wq)):view(t, c.n_heads, hd)
    local k = s.h:linear(get(l.wk)):view(t, c.n_kv_heads, hd)
    s.v = s.h:linear(get(l.wv)):view(t, c.n_kv_heads, hd)
    s.q = q:rope(0, c.rope_theta, c.rope_interleaved == 1)
    s.k = k:rope(0, c.rope_theta, c.rope_interleaved == 1)
    s.a = s.q:attention(s.k, s.v, 0):view(t, c.dim)
    x = x + s.a:linear(get(l.wo))
    s.x_mid = x
    s.h2 = x:rms_norm(get(l.ffn_norm), c.norm_eps)
    s.g, s.u = s.h2:linear(get(l.w_gate)), s.h2:linear(get(l.w_up))
    s.m = s.g:silu() * s.u
    x = x + s.m:linear(get(l.w_down))
    saved.layers[i] = s
  end
  saved.x_out = x
  saved.hf = x:rms_norm(get(c.norm), c.norm_eps)
  saved.rows = rows
  local hf = rows and saved.hf:embedding(rows) or saved.hf
  saved.hf_rows = hf
  return hf:linear(get(c.lm_head)), saved
end

-- The gradient with respect to forward's x; weight gradients added into grads[name].
function Net:backward(saved, dlogits, grads)
  local c, get = self.cfg, self.get
  grads = grads or {}
  local dhf = linear_backward(self, dlogits, saved.hf_rows, c.lm_head, grads)
  if saved.rows then
    local rows_grad = dhf
    dhf = tensor.zeros(saved.hf:shape())
    grad.embedding(rows_grad, saved.rows, dhf)
  end
  local dx = grad.rms_norm(dhf, saved.x_out, get(c.norm), c.norm_eps, { dw = grads[c.norm] or false })
  for i = #c.layers, 1, -1 do
    local l, s = c.layers[i], saved.layers[i]
    local t, hd = s.h:size(1), c.dim / c.n_heads
    -- x = x_mid + down(silu(gate(h2)) * up(h2)), h2 = rms_norm(x_mid)
    local dm = linear_backward(self, dx, s.m, l.w_down, grads)
    local dg, du = grad.swiglu(dm, s.g, s.u)
    local dh2 = linear_backward(self, dg, s.h2, l.w_gate, grads) + linear_backward(self, du, s.h2, l.w_up, grads)
    dx = dx + grad.rms_norm(dh2, s.x_mid, get(l.ffn_norm), c.norm_eps, { dw = grads[l.ffn_norm] or false })
    -- x_mid = x_in + o(attention(rope(q(h)), rope(k(h)), v(h))), h = rms_norm(x_in)
    local da = linear_backward(self, dx, s.a, l.wo, grads)
    local dq, dk, dv = grad.attention(da:view(t, c.n_heads, hd), s.q, s.k, s.v, true)
    dq = grad.rope(dq, 0, c.rope_theta, c.rope_interleaved == 1):view(t, c.dim)
    dk = grad.rope(dk, 0, c.rope_theta, c.rope_interleaved == 1):view(t, c.n_kv_heads * hd)
    local dh = linear_backward(self, dq, s.h, l.wq, grads) + linear_backward(self, dk, s.h, l.wk, grads)
      + linear_backward(self, dv:view(t, c.n_kv_heads * hd), s.h, l.wv, grads)
    dx = dx + grad.rms_norm(dh, s.x_in, get(l.attn_norm), c.norm_eps, { dw = grads[l.attn_norm] or false })
  end
  return dx
end

return llama
