-- locus.nn: modules in the Torch7 style. Each module holds its parameters as tensors, has
-- :forward(x) (also callable as m(x)), and names its parameters as PyTorch's state_dict does
-- ("0.weight" inside a Sequential), so a recipe can fill a module from a checkpoint with
-- :load_state(tensors, prefix). A module whose weights sit in a checkpoint is built straight from
-- them with .load(weights, prefix, ...) (no random initialization):
--   local proj = nn.Linear.load(w, "model.llama_proj.")          -- weight [out, in], bias if present
--   local ln = nn.LayerNorm.load(w, "model.ln_vision.", {eps = 1e-5})
local ffi = require "ffi"
local core = require "locus.core"
local tensor = require "locus.tensor"

local nn = {}

local Module = {}
Module.__index = Module
Module.__call = function(self, ...) return self:forward(...) end

-- A module class: instances get its methods (then Module's); calling the class calls its .new.
local function class(name, parent)
  local c = setmetatable({}, { __index = parent or Module, __call = function(cls, ...) return cls.new(...) end })
  c.__index = c
  c.__call = Module.__call
  c.__tostring = function(self) return self:describe() end
  c.__name = name
  return c
end
nn.class = class

function Module:describe() return self.__name end

-- {name = tensor} over this module and its children, with PyTorch-style dotted names.
function Module:parameters(prefix, into)
  prefix, into = prefix or "", into or {}
  for _, name in ipairs(self.param_names or {}) do
    if self[name] ~= nil then into[prefix .. name] = self[name] end
  end
  for i, child in ipairs(self.children or {}) do child:parameters(prefix .. (i - 1) .. ".", into) end
  return into
end

-- Replaces parameters from `source`: a table name -> tensor, or a function(name) -> tensor|nil.
-- Every parameter must be found and keep its shape.
function Module:load_state(source, prefix)
  local get = type(source) == "function" and source or function(k) return source[k] end
  local params, names = self:parameters(), {}
  for name in pairs(params) do names[#names + 1] = name end
  table.sort(names) -- the same first missing tensor reported in every process
  for _, name in ipairs(names) do
    local current = params[name]
    local key = (prefix or "") .. name
    local t = get(key)
    if t == nil then error("load_state: missing tensor '" .. key .. "'", 2) end
    local want, have = current:shape(), t:shape()
    if table.concat(want, ",") ~= table.concat(have, ",") then
      error(("load_state: '%s' has shape [%s], the module needs [%s]"):format(key, table.concat(have, ", "),
        table.concat(want, ", ")), 2)
    end
    self:set_parameter(name, t)
  end
  return self
end

function Module:set_parameter(dotted, t)
  local head, rest = dotted:match("^(%d+)%.(.+)$")
  if head then return self.children[tonumber(head) + 1]:set_parameter(rest, t) end
  self[dotted] = t
end

-- ---- Linear: y = x W^T + b; W [out, in] in f32, bf16 or f16 ---------------------------------------
nn.Linear = class("Linear")
function nn.Linear.new(in_features, out_features, opts)
  opts = opts or {}
  local self = setmetatable({ param_names = { "weight", "bias" } }, nn.Linear)
  -- PyTorch's default init scale (uniform +-1/sqrt(in)) has std 1/sqrt(3 in)
  local std = 1 / math.sqrt(3 * in_features)
  self.weight = tensor.randn({ out_features, in_features }, { seed = opts.seed or 1, std = std, dtype = opts.dtype })
  if opts.bias ~= false then self.bias = tensor.randn({ out_features }, { seed = (opts.seed or 1) + 1, std = std }) end
  return self
end
-- From a checkpoint: PREFIX.weight [out, in] and, when present, PREFIX.bias (opts.bias = false
-- ignores it; opts.bias = true requires it).
function nn.Linear.load(w, prefix, opts)
  local weight = w:get(prefix .. "weight")
  if weight:dim() ~= 2 then error(("%sweight: a Linear needs a 2-D weight, got [%s]"):format(prefix,
    table.concat(weight:shape(), ", ")), 2) end
  local bias
  if not (opts and opts.bias == false) and (w:has(prefix .. "bias") or (opts and opts.bias)) then bias = w:get(prefix .. "bias") end
  return setmetatable({ param_names = { "weight", "bias" }, weight = weight, bias = bias }, nn.Linear)
end
function nn.Linear:forward(x) return x:linear(self.weight, self.bias) end
function nn.Linear:describe()
  local s = self.weight:shape()
  return ("Linear(%d -> %d, %s%s)"):format(s[2], s[1], self.weight:dtype(), self.bias and "" or ", no bias")
end

-- ---- LayerNorm and RMSNorm over the last dim -------------------------------------------------------
nn.LayerNorm = class("LayerNorm")
function nn.LayerNorm.new(dim, opts)
  opts = opts or {}
  return setmetatable({ param_names = { "weight", "bias" }, eps = opts.eps or 1e-5,
    weight = tensor.ones({ dim }), bias = tensor.zeros({ dim }) }, nn.LayerNorm)
end
function nn.LayerNorm.load(w, prefix, opts)
  return setmetatable({ param_names = { "weight", "bias" }, eps = opts and opts.eps or 1e-5,
    weight = w:get(prefix .. "weight"), bias = w:get(prefix .. "bias") }, nn.LayerNorm)
end
function nn.LayerNorm:forward(x) return x:layer_norm(self.weight, self.bias, self.eps) end
function nn.LayerNorm:describe() return ("LayerNorm(%d, eps=%g)"):format(self.weight:size(1), self.eps) end

nn.RMSNorm = class("RMSNorm")
function nn.RMSNorm.new(dim, opts)
  opts = opts or {}
  return setmetatable({ param_names = { "weight" }, eps = opts.eps or 1e-6, weight = tensor.ones({ dim }) }, nn.RMSNorm)
end
function nn.RMSNorm:forward(x) return x:rms_norm(self.weight, self.eps) end
function nn.RMSNorm:describe() return ("RMSNorm(%d, eps=%g)"):format(self.weight:size(1), self.eps) end

-- ---- activations --------------------------------------------------------------------------------
-- GELU{approximate = "tanh"} uses the tanh form, as torch.nn.GELU(approximate="tanh").
nn.GELU = class("GELU")
function nn.GELU.new(opts)
  return setmetatable({ approximate = opts and opts.approximate or "none" }, nn.GELU)
end
function nn.GELU:forward(x)
  if self.approximate == "tanh" then return x:gelu_tanh() end
  return x:gelu()
end
function nn.GELU:describe() return self.approximate == "tanh" and "GELU(tanh)" or "GELU" end

nn.QuickGELU = class("QuickGELU")
function nn.QuickGELU.new() return setmetatable({}, nn.QuickGELU) end
function nn.QuickGELU:forward(x) return x:quick_gelu() end

nn.SiLU = class("SiLU")
function nn.SiLU.new() return setmetatable({}, nn.SiLU) end
function nn.SiLU:forward(x) return x:silu() end

-- ---- Embedding: ids (tensor or table, 0-based as in the checkpoint) -> rows ---------------------
nn.Embedding = class("Embedding")
function nn.Embedding.new(count, dim, opts)
  opts = opts or {}
  return setmetatable({ param_names = { "weight" },
    weight = tensor.randn({ count, dim }, { seed = opts.seed or 1, dtype = opts.dtype }) }, nn.Embedding)
end
function nn.Embedding:forward(ids) return self.weight:embedding(ids) end
function nn.Embedding:describe()
  local s = self.weight:shape()
  return ("Embedding(%d, %d, %s)"):format(s[1], s[2], self.weight:dtype())
end

-- ---- EncoderLayer: a pre-norm transformer encoder layer through the fused C block ----------------
--   x += attn(LN1(x));  x += fc2(act(fc1(LN2(x))))          (csrc/models/vit.c, locus_vit_layer)
-- as CLIP's, EVA's and ImageBind's towers have it. t holds the tensors by the C struct's names
-- (ln1_w, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
-- biases may be missing); opts: heads, eps, act ("gelu", "quick_gelu", "gelu_tanh"). The struct of
-- pointers is built once, and the module keeps the tensors behind it alive as long as it lives.
nn.EncoderLayer = class("EncoderLayer")
nn.EncoderLayer.FIELDS = { "ln1_w", "ln1_b", "q_w", "q_b", "k_w", "k_b", "v_w", "v_b", "o_w", "o_b", "ln2_w", "ln2_b",
  "fc1_w", "fc1_b", "fc2_w", "fc2_b" }
local ACTIVATIONS = { gelu = core.C.LOCUS_ACT_GELU, quick_gelu = core.C.LOCUS_ACT_QUICK_GELU,
  gelu_tanh = core.C.LOCUS_ACT_GELU_TANH }
local REQUIRED = { ln1_w = true, q_w = true, k_w = true, v_w = true, o_w = true, ln2_w = true, fc1_w = true, fc2_w = true }
function nn.EncoderLayer.new(t, opts)
  opts = opts or {}
  local act = ACTIVATIONS[opts.act or "gelu"]
  if not act then error("EncoderLayer: act must be gelu, quick_gelu or gelu_tanh, not " .. tostring(opts.act), 2) end
  local struct = ffi.new("locus_vit_layer_weights")
  local tensors = {}
  for _, k in ipairs(nn.EncoderLayer.FIELDS) do
    if t[k] ~= nil then
      tensors[k] = t[k]
      struct[k] = t[k].p -- valid while tensors[k] is referenced, which is as long as the module lives
    elseif REQUIRED[k] then
      error("EncoderLayer: missing " .. k, 2)
    end
  end
  return setmetatable({ tensors = tensors, struct = struct, heads = opts.heads or 1, eps = opts.eps or 1e-5, act = act,
    act_name = opts.act or "gelu" }, nn.EncoderLayer)
end
-- x f32 [rows, C], rows = sequences of seq rows each (0: one sequence); returns a new tensor
function nn.EncoderLayer:forward(x, seq) return self:apply(x:contiguous():clone(), seq) end
-- the same on x itself (contiguous f32), for stacks of layers over big batches; returns x
function nn.EncoderLayer:apply(x, seq)
  core.check(core.call(core.C.locus_vit_layer, x, self.struct, self.heads, self.eps, self.act, seq or 0), "encoder layer")
  return x
end
function nn.EncoderLayer:describe()
  return ("EncoderLayer(%d, heads=%d, %s, eps=%g)"):format(self.tensors.q_w:size(2), self.heads, self.act_name, self.eps)
end

-- ---- Sequential -----------------------------------------------------------------------------------
nn.Sequential = class("Sequential")
function nn.Sequential.new(...)
  local self = setmetatable({ children = {} }, nn.Sequential)
  for _, m in ipairs { ... } do self:add(m) end
  return self
end
function nn.Sequential:add(m)
  self.children[#self.children + 1] = m
  return self
end
function nn.Sequential:forward(x)
  for _, m in ipairs(self.children) do x = m:forward(x) end
  return x
end
function nn.Sequential:describe()
  local lines = { "Sequential(" }
  for i, m in ipairs(self.children) do
    lines[#lines + 1] = ("  (%d) %s"):format(i - 1, tostring(m):gsub("\n", "\n  "))
  end
  lines[#lines + 1] = ")"
  return table.concat(lines, "\n")
end

return nn
