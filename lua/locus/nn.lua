-- locus.nn: modules in the Torch7 style. Each module holds its parameters as tensors, has
-- :forward(x) (also callable as m(x)), and names its parameters as PyTorch's state_dict does
-- ("0.weight" inside a Sequential), so a recipe can fill a module from a checkpoint with
-- :load_state(tensors, prefix).
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
