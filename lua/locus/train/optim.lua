-- locus.train.optim: AdamW with decoupled weight decay, the learning rate warmed up linearly then
-- decayed along a cosine (Hugging Face's get_cosine_schedule_with_warmup, what GroundingGPT's
-- scripts use), and gradients clipped to a global norm (torch's clip_grad_norm_).
--
--   local opt = optim.adamw{lr = 1e-3, weight_decay = 0, warmup = 30, steps = 1000, clip = 1.0}
--   opt:step(params, grads)        -- params, grads: {name = f32 tensor}; grads are zeroed after
--
-- The arithmetic of each update is torch.optim.AdamW's (csrc/ops/optim.c), so a run matches
-- PyTorch's step for step (tests/lua/grad_spec.lua).
local core = require "locus.core"
local tensor = require "locus.tensor"
local C, call = core.C, core.call

local optim = {}

local Adam = {}
Adam.__index = Adam

-- The learning rate factor of step s (1-based) with `warmup` steps of linear warmup out of `steps`.
function optim.cosine_factor(s, warmup, steps)
  local k = s - 1 -- the scheduler's count of steps taken before this one
  if k < warmup then return k / math.max(1, warmup) end
  local progress = (k - warmup) / math.max(1, steps - warmup)
  return math.max(0, 0.5 * (1 + math.cos(math.pi * progress)))
end

-- The global L2 norm of the gradients, and the factor clip_grad_norm_ scales them by (1 if none).
function optim.clip_factor(grads, max_norm)
  local total = 0
  for _, g in pairs(grads) do
    local flat = g:contiguous()
    -- the squares' sum as a 1x1 product: nothing the size of the gradient is allocated
    total = total + flat:view(1, flat:numel()):matmul(flat:view(flat:numel(), 1)):item()
  end
  local norm = math.sqrt(total)
  if not max_norm then return norm, 1 end
  return norm, math.min(1, max_norm / (norm + 1e-6))
end

-- opts: lr, betas ({0.9, 0.999}), eps (1e-8), weight_decay (0.01, torch's default), warmup (0),
-- steps (for the cosine; nil: a constant rate after warmup), clip (max gradient norm, or nil)
function optim.adamw(opts)
  opts = opts or {}
  return setmetatable({ lr = opts.lr or 1e-3, beta1 = (opts.betas or {})[1] or 0.9, beta2 = (opts.betas or {})[2] or 0.999,
    eps = opts.eps or 1e-8, weight_decay = opts.weight_decay or 0.01, warmup = opts.warmup or 0, steps = opts.steps,
    clip = opts.clip, t = 0, state = {} }, Adam)
end

-- This step's learning rate
function Adam:rate()
  local s = self.t + 1
  if self.steps then return self.lr * optim.cosine_factor(s, self.warmup, self.steps) end
  return self.lr * (s <= self.warmup and (s - 1) / math.max(1, self.warmup) or 1)
end

-- Updates every params[name] that has grads[name], then zeroes the gradients. Returns the
-- gradients' norm before clipping and the learning rate used.
function Adam:step(params, grads)
  local norm, factor = optim.clip_factor(grads, self.clip)
  local lr = self:rate()
  self.t = self.t + 1
  for name, g in pairs(grads) do
    local p = params[name] or error(("adamw: a gradient for '%s', which is not a parameter"):format(name), 2)
    local s = self.state[name]
    if not s then
      s = { m = tensor.zeros(p:shape()), v = tensor.zeros(p:shape()) }
      self.state[name] = s
    end
    if factor ~= 1 then core.check(call(C.locus_affine, g, g, factor, 0), "adamw: clip") end
    core.check(call(C.locus_adamw_step, p, g, s.m, s.v, self.t, lr, self.beta1, self.beta2, self.eps, self.weight_decay),
      "adamw " .. name)
    g:fill(0)
  end
  return norm, lr
end

return optim
