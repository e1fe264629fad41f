-- locus.grad: the backward passes of the ops a transformer trains through. Each takes the
-- forward's inputs and dy, the gradient of the loss with respect to the op's output, and returns
-- the gradients with respect to its inputs; parameter gradients are added into the tensors given
-- in `acc` (so micro-batches accumulate), or returned fresh when none is given.
--   local dx = grad.linear(dy, x, w, {dw = dw_acc, db = db_acc})     -- y = x w^T + b
--   local dx = grad.rms_norm(dy, x, w, eps, {dw = dw_acc})
--   local loss, dlogits = grad.cross_entropy(logits, targets)       -- targets i64, -100 ignored
-- The row-wise ones are C (csrc/ops/grad.c); a linear layer's are two matmuls.
local core = require "locus.core"
local tensor = require "locus.tensor"
local ffi = require "ffi"
local C, call = core.C, core.call

local grad = {}

grad.IGNORE_INDEX = -100 -- what Hugging Face's labels use for tokens without a loss

local function zeros_like(t) return tensor.zeros(t:shape()) end

-- acc += t, in place (an accumulator the size of an embedding table is not copied per sample)
function grad.add_into(acc, t) core.check(call(C.locus_add, acc, acc, t), "grad: accumulate") end
local add_into = grad.add_into
local function zeros(n) return tensor.zeros { n } end

-- y [..., N] = x [..., K] w[N, K]^T + b: dx = dy w; dw += dy^T x; db += sum of dy's rows.
function grad.linear(dy, x, w, acc)
  acc = acc or {}
  local n, k = w:size(1), w:size(2)
  local dy2, x2 = dy:contiguous():view(-1, n), x:contiguous():view(-1, k)
  local wf = w:float()
  local dx = dy2:matmul(wf):view(x:shape())
  if not rawequal(wf, w) then wf:release() end -- a frozen bf16 weight widened for this product only
  if acc.dw ~= false then
    -- the GEMM reads dy transposed in place, and adds into the accumulator
    if acc.dw then
      core.check(call(C.locus_matmul_acc, acc.dw, dy2:transpose(1, 2), x2), "grad.linear")
    else
      acc.dw = dy2:transpose(1, 2):matmul(x2)
    end
  end
  if acc.db ~= nil and acc.db ~= false then add_into(acc.db, dy2:sum(1)) end
  return dx, acc.dw, acc.db
end

-- The patch embedding of a vision tower: y [B, O, H/p, W/p] = conv2d(x [B, C, H, W], w [O, C, p, p],
-- stride p), with or without a bias: a linear layer over the non-overlapping patches.
function grad.patch_conv(dy, x, w, acc)
  local b, c, h, wd = x:size(1), x:size(2), x:size(3), x:size(4)
  local o, p = w:size(1), w:size(3)
  local gh, gw = h / p, wd / p
  local patches = x:contiguous():view(b, c, gh, p, gw, p):permute(1, 3, 5, 2, 4, 6):contiguous():view(b * gh * gw, c * p * p)
  local dy_rows = dy:permute(1, 3, 4, 2):contiguous():view(b * gh * gw, o)
  acc = acc or {}
  local flat = acc.dw and acc.dw:view(o, c * p * p) or nil
  local inner = { dw = flat, db = acc.db }
  local dpatches = grad.linear(dy_rows, patches, w:float():contiguous():view(o, c * p * p), inner)
  local dx = dpatches:view(b, gh, gw, c, p, p):permute(1, 4, 2, 5, 3, 6):contiguous():view(b, c, h, wd)
  return dx, acc.dw or inner.dw:view(o, c, p, p), inner.db
end

function grad.rms_norm(dy, x, w, eps, acc)
  acc = acc or {}
  local dx = zeros_like(x)
  local dw = acc.dw == nil and zeros(x:size(-1)) or acc.dw or nil
  core.check(call(C.locus_rms_norm_backward, dx, dw, dy, x, w, eps), "grad.rms_norm")
  return dx, dw
end

function grad.layer_norm(dy, x, w, eps, acc)
  acc = acc or {}
  local n = x:size(-1)
  local dx = zeros_like(x)
  local dw = w and (acc.dw == nil and zeros(n) or acc.dw or nil) or nil
  local db = acc.db == nil and zeros(n) or acc.db or nil
  core.check(call(C.locus_layer_norm_backward, dx, dw, db, dy, x, w, eps), "grad.layer_norm")
  return dx, dw, db
end

local ACTIVATIONS = { gelu = C.LOCUS_ACT_GELU, gelu_tanh = C.LOCUS_ACT_GELU_TANH, quick_gelu = C.LOCUS_ACT_QUICK_GELU,
  silu = C.LOCUS_ACT_SILU }

-- y = act(x) for act "gelu", "gelu_tanh", "quick_gelu" or "silu"
function grad.activation(kind, dy, x)
  local code = ACTIVATIONS[kind] or error(("grad.activation: no activation '%s'"):format(tostring(kind)), 2)
  local dx = zeros_like(x)
  core.check(call(C.locus_activation_backward, dx, dy, x, code), "grad.activation")
  return dx
end

-- LLaMA's MLP gate: y = silu(g) * u. dg = silu'(g) u dy, du = silu(g) dy.
function grad.swiglu(dy, g, u) return grad.activation("silu", dy * u, g), g:silu() * dy end

function grad.rope(dy, pos0, theta, interleaved)
  local dx = zeros_like(dy)
  core.check(call(C.locus_rope_backward, dx, dy:contiguous(), pos0, theta, interleaved and 1 or 0), "grad.rope")
  return dx
end

-- out = attention(q [T, H, D], k, v [S, KVH, D]); returns dq, dk, dv
function grad.attention(dout, q, k, v, causal)
  local dq, dk, dv = zeros_like(q), zeros_like(k), zeros_like(v)
  core.check(call(C.locus_attention_backward, dq, dk, dv, dout:contiguous(), q:contiguous(), k:contiguous(), v:contiguous(),
    causal and 1 or 0), "grad.attention")
  return dq, dk, dv
end

-- out = weight[ids]: dweight (given, [V, D]) += dy at the ids' rows
function grad.embedding(dy, ids, dweight)
  core.check(call(C.locus_embedding_backward, dweight, dy:contiguous(), ids:contiguous()), "grad.embedding")
  return dweight
end

-- The mean cross entropy of logits [N, V] against targets i64 [N] (IGNORE_INDEX rows left out),
-- and its gradient.
function grad.cross_entropy(logits, targets, ignore_index)
  local loss = ffi.new("float[1]")
  local dlogits = zeros_like(logits)
  core.check(call(C.locus_cross_entropy, loss, dlogits, logits, targets, ignore_index or grad.IGNORE_INDEX),
    "grad.cross_entropy")
  return loss[0], dlogits
end

return grad
