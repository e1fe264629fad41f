-- locus.tensor: the Tensor type, a LuaJIT metatype over liblocus's `locus_tensor`.
--
-- A Tensor is a view (dtype, shape, strides, offset) of a reference-counted storage. Views share
-- their storage; the garbage collector frees a tensor header through ffi.gc, and the storage goes
-- when its last view does.
--
-- The Lua value is a small struct holding the `locus_tensor *` (field `p`), not the pointer itself:
-- LuaJIT gives pointers built-in arithmetic (t + 1 would step the pointer), while a struct lets
-- the metatype's operators apply.
--
-- Indexing follows Lua (and Torch7): dims and indices start at 1; negative ones count from the end
-- (-1 is the last). Ops return new float32 tensors unless they say otherwise.
local ffi = require "ffi"
local core = require "locus.core"
local call = core.call -- C calls that keep their tensor arguments alive (locus.core)
local C = core.C

local tensor = {}
local Tensor = {}          -- methods
local mt = { __index = Tensor }

local int64_array = ffi.typeof("int64_t[?]")
local handle_type = core.handle_type

local function free_handle(h) C.locus_tensor_free(h.p) end

-- LuaJIT's collector sees only the small handles, not the tensor memory behind them, so a loop
-- that drops big tensors would grow without bound. Every few handles we look at the bytes liblocus
-- holds and run a full collection once they pass what survived the last one by a quarter of it (64
-- MB at least): a training step that keeps 5 GB of activations then carries at most ~1.3 GB of
-- garbage, not another 5 GB. A collection walks only the Lua objects, a few thousand handles.
local wraps, collect_at = 0, 64 * 2 ^ 20
local function mind_memory()
  wraps = 0
  if tonumber(C.locus_live_bytes()) > collect_at then
    collectgarbage()
    local kept = tonumber(C.locus_live_bytes())
    collect_at = kept + math.max(64 * 2 ^ 20, kept / 4)
  end
end

-- Takes ownership of a `locus_tensor *` from liblocus (NULL: raise liblocus's error).
local function wrap(ptr, context)
  if ptr == nil then core.fail(context) end
  wraps = wraps + 1
  if wraps >= 64 then mind_memory() end
  return ffi.gc(handle_type(ptr), free_handle)
end
tensor.wrap = wrap

-- Frees the tensor now rather than when the collector finds it (its storage goes with its last
-- view): for a big temporary in a loop, such as a weight widened to f32 for one product. The
-- tensor must not be used afterwards.
function Tensor:release()
  if self.p ~= nil then
    ffi.gc(self, nil)
    C.locus_tensor_free(self.p)
    self.p = nil
  end
end

function tensor.is_tensor(x)
  return type(x) == "cdata" and ffi.istype(handle_type, x)
end

local function dtype_code(name)
  if name == nil then return C.LOCUS_F32 end
  if type(name) == "number" then return name end
  local code = C.locus_dtype_from_name(name)
  if code < 0 then error("unknown dtype '" .. tostring(name) .. "' (f32 f16 bf16 i8 u8 i32 i64 bool q8_0 q4_0 q4_k q5_k q6_k)", 3) end
  return code
end
tensor.dtype_code = dtype_code

local float_codes = { [C.LOCUS_F32] = true, [C.LOCUS_F16] = true, [C.LOCUS_BF16] = true, [C.LOCUS_Q8_0] = true,
  [C.LOCUS_Q4_0] = true, [C.LOCUS_Q4_K] = true, [C.LOCUS_Q5_K] = true, [C.LOCUS_Q6_K] = true }
-- whether a tensor holds real numbers (floats or quantized blocks) rather than integers or bools
function tensor.is_float(t) return float_codes[tonumber(t.p.type)] == true end

local function shape_array(shape)
  local n = #shape
  local a = int64_array(math.max(n, 1))
  for i = 1, n do
    local v = shape[i]
    if type(v) ~= "number" or v ~= math.floor(v) then
      error("shape entry " .. i .. " is not an integer: " .. tostring(v), 3)
    end
    a[i - 1] = v
  end
  return a, n
end

-- Accepts f(2, 3), f{2, 3} and f{2, 3, seed = 1, dtype = "bf16"}; returns shape, options.
local function shape_and_options(...)
  local first = ...
  if type(first) == "table" then
    local shape = {}
    for i = 1, #first do shape[i] = first[i] end
    local opts = select(2, ...)
    if type(opts) == "string" then opts = { dtype = opts } end
    opts = opts or {}
    for k, v in pairs(first) do
      if type(k) == "string" then opts[k] = v end
    end
    return shape, opts
  end
  local shape, n = {}, select("#", ...)
  for i = 1, n do
    local v = select(i, ...)
    if type(v) == "number" then shape[#shape + 1] = v end
  end
  local last = select(n, ...)
  local opts = type(last) == "table" and last or (type(last) == "string" and { dtype = last }) or {}
  return shape, opts
end

-- 1-based (or negative) dim -> 0-based (or negative) for C
local function cdim(d)
  if type(d) ~= "number" then error("dim must be a number, got " .. tostring(d), 3) end
  if d > 0 then return d - 1 end
  if d == 0 then error("dims start at 1 (use -1 for the last)", 3) end
  return d
end

-- ---- constructors -------------------------------------------------------------------------------

function tensor.empty(...)
  local shape, opts = shape_and_options(...)
  local a, n = shape_array(shape)
  return wrap(C.locus_tensor_empty(dtype_code(opts.dtype), n, a), "empty")
end

function tensor.zeros(...)
  local shape, opts = shape_and_options(...)
  local a, n = shape_array(shape)
  return wrap(C.locus_tensor_new(dtype_code(opts.dtype), n, a), "zeros")
end

function tensor.full(shape, value, dtype)
  local t = tensor.zeros(shape, dtype)
  call(C.locus_fill, t, value)
  return t
end

function tensor.ones(...)
  local t = tensor.zeros(...)
  call(C.locus_fill, t, 1)
  return t
end

-- Normal values from a counter-based generator: the same seed gives the same tensor.
function tensor.randn(...)
  local shape, opts = shape_and_options(...)
  if opts.dtype and C.locus_dtype_block(dtype_code(opts.dtype)) > 1 then -- quantize normal f32 values
    local q = opts.dtype
    opts.dtype = nil
    return tensor.randn(shape, opts):to(q)
  end
  local t = tensor.empty(shape, opts.dtype)
  local seed = opts.seed or 0
  core.check(call(C.locus_fill_randn, t, seed, opts.mean or 0, opts.std or 1), "randn")
  return t
end

-- 0 .. n-1 (f32 by default), written directly, then cast to dtype
function tensor.arange(n, dtype)
  local integral = dtype ~= nil and not (dtype == "f32" or dtype == "f16" or dtype == "bf16")
  local t = tensor.empty({ n }, integral and "i64" or "f32")
  local p = ffi.cast(integral and "int64_t *" or "float *", call(C.locus_tensor_data, t))
  for i = 0, n - 1 do p[i] = i end
  return dtype and t:to(dtype) or t
end

-- A scalar (0-d) tensor.
function tensor.scalar(v, dtype)
  local t = tensor.empty({}, dtype)
  call(C.locus_fill, t, v)
  return t
end

-- dtypes tensor.from writes through a typed pointer; the others (f16, bf16, bool, i8, u8) go
-- through locus_set, which rounds and checks ranges as the C casts do
local direct_types = { [tonumber(C.LOCUS_F32)] = "float *", [tonumber(C.LOCUS_I64)] = "int64_t *",
  [tonumber(C.LOCUS_I32)] = "int32_t *" }

-- Nested Lua tables of numbers (or booleans) -> tensor; the shape comes from the nesting.
function tensor.from(tbl, dtype)
  if tensor.is_tensor(tbl) then return tbl:clone() end
  if type(tbl) == "number" or type(tbl) == "boolean" then
    return tensor.scalar(tbl == true and 1 or tbl == false and 0 or tbl, dtype)
  end
  if type(tbl) ~= "table" then error("tensor.from: expected a table of numbers, got " .. type(tbl), 2) end
  local shape, node = {}, tbl
  while type(node) == "table" do
    shape[#shape + 1] = #node
    node = node[1]
  end
  local flat = {}
  local function walk(t, depth)
    if #t ~= shape[depth] then
      error(("tensor.from: ragged table: dim %d has sizes %d and %d"):format(depth, shape[depth], #t), 3)
    end
    for i = 1, #t do
      local v = t[i]
      if depth < #shape then
        if type(v) ~= "table" then error("tensor.from: ragged table at dim " .. depth, 3) end
        walk(v, depth + 1)
      else
        if type(v) == "boolean" then v = v and 1 or 0 end
        if type(v) ~= "number" then error("tensor.from: non-number value " .. tostring(v), 3) end
        flat[#flat + 1] = v
      end
    end
  end
  if #shape > 0 and shape[1] > 0 then walk(tbl, 1) end
  local t = tensor.empty(shape, dtype)
  local code = t.p.type
  local ctype = direct_types[tonumber(code)]
  if ctype then -- written in place (a prompt's ids: one store each, not one C call each)
    local p = ffi.cast(ctype, call(C.locus_tensor_data, t))
    if code ~= C.LOCUS_F32 then
      local lo, hi = -2 ^ 63, 2 ^ 63
      if code == C.LOCUS_I32 then lo, hi = -2 ^ 31, 2 ^ 31 - 1 end
      for i = 1, #flat do
        local v = flat[i]
        if v ~= math.floor(v) or v < lo or v >= hi + (code == C.LOCUS_I32 and 1 or 0) then
          error(("tensor.from: %s does not fit %s"):format(tostring(v), dtype), 2)
        end
      end
    end
    for i = 1, #flat do p[i - 1] = flat[i] end
  else
    local idx = int64_array(1)
    local v = call(C.locus_view_reshape, t, 1, int64_array(1, #flat))
    v = wrap(v, "from")
    for i = 1, #flat do
      idx[0] = i - 1
      call(C.locus_set, v, idx, flat[i])
    end
  end
  return t
end

-- ---- properties ---------------------------------------------------------------------------------

function Tensor:dim() return self.p.ndim end
function Tensor:dtype() return ffi.string(C.locus_dtype_name(self.p.type)) end
function Tensor:numel() return tonumber(call(C.locus_tensor_numel, self)) end
function Tensor:is_contiguous() return call(C.locus_tensor_is_contiguous, self) ~= 0 end
function Tensor:data() return call(C.locus_tensor_data, self) end
function Tensor:nbytes()
  local p = self.p
  return self:numel() / C.locus_dtype_block(p.type) * tonumber(C.locus_dtype_block_bytes(p.type))
end

function Tensor:shape()
  local s = {}
  for i = 0, self.p.ndim - 1 do s[i + 1] = tonumber(self.p.sizes[i]) end
  return s
end

function Tensor:stride()
  local s = {}
  for i = 0, self.p.ndim - 1 do s[i + 1] = tonumber(self.p.strides[i]) end
  return s
end

function Tensor:size(d)
  if d == nil then return self:shape() end
  local c = cdim(d)
  if c < 0 then c = c + self.p.ndim end
  if c < 0 or c >= self.p.ndim then error("size: dim " .. d .. " out of range for " .. self.p.ndim .. " dims", 2) end
  return tonumber(self.p.sizes[c])
end

function Tensor:storage_kind()
  local kinds = { [0] = "owned", "borrowed", "mapped", "window" }
  return kinds[C.locus_storage_kind_of(self.p.storage)]
end

-- ---- views --------------------------------------------------------------------------------------

function Tensor:narrow(d, start, length)
  return wrap(call(C.locus_view_narrow, self, cdim(d), start - 1, length), "narrow")
end

function Tensor:select(d, index)
  return wrap(call(C.locus_view_select, self, cdim(d), index > 0 and index - 1 or index), "select")
end

function Tensor:transpose(d0, d1)
  return wrap(call(C.locus_view_transpose, self, cdim(d0 or 1), cdim(d1 or 2)), "transpose")
end
Tensor.t = Tensor.transpose

function Tensor:permute(...)
  local dims = type(...) == "table" and ... or { ... }
  if #dims ~= self.p.ndim then error(("permute: %d dims given for a %d-dim tensor"):format(#dims, self.p.ndim), 2) end
  local a = ffi.new("int[?]", #dims)
  for i = 1, #dims do a[i - 1] = cdim(dims[i]) end
  return wrap(call(C.locus_view_permute, self, a), "permute")
end

function Tensor:view(...)
  local shape = shape_and_options(...)
  local a, n = shape_array(shape)
  return wrap(call(C.locus_view_reshape, self, n, a), "view")
end

-- Like view, but copies when the strides do not allow a view.
function Tensor:reshape(...)
  local shape = shape_and_options(...)
  local a, n = shape_array(shape)
  local v = call(C.locus_view_reshape, self, n, a)
  if v ~= nil then return wrap(v) end
  local c = self:contiguous() -- a local, so that its handle outlives the call
  return wrap(call(C.locus_view_reshape, c, n, a), "reshape")
end

function Tensor:expand(...)
  local shape = shape_and_options(...)
  local a, n = shape_array(shape)
  return wrap(call(C.locus_view_expand, self, n, a), "expand")
end

function Tensor:contiguous() return wrap(call(C.locus_contiguous, self), "contiguous") end
function Tensor:clone() return wrap(call(C.locus_clone, self), "clone") end

function Tensor:to(dtype)
  local code = dtype_code(dtype)
  if code == self.p.type then return self end
  return wrap(call(C.locus_cast, self, code), "cast to " .. tostring(dtype))
end
Tensor.cast = Tensor.to
function Tensor:float() return self:to("f32") end

function Tensor:copy(src)
  if not tensor.is_tensor(src) then src = tensor.from(src, self:dtype()) end
  core.check(call(C.locus_copy, self, src), "copy")
  return self
end

function Tensor:fill(v)
  core.check(call(C.locus_fill, self, v), "fill")
  return self
end

-- ---- elements -----------------------------------------------------------------------------------

-- 1-based (or negative) indices, checked here so that errors name the Lua position
local function index_array(self, idx)
  if #idx ~= self.p.ndim then error(("expected %d indices, got %d"):format(self.p.ndim, #idx), 3) end
  local a = int64_array(math.max(#idx, 1))
  for i, v in ipairs(idx) do
    local size = tonumber(self.p.sizes[i - 1])
    local k = v > 0 and v - 1 or v + size
    if v == 0 or k < 0 or k >= size then
      error(("index %d out of range for dim %d of size %d"):format(v, i, size), 3)
    end
    a[i - 1] = k
  end
  return a
end

function Tensor:get(...)
  return call(C.locus_get, self, index_array(self, { ... }))
end

function Tensor:set(...)
  local idx = { ... }
  local value = table.remove(idx)
  core.check(call(C.locus_set, self, index_array(self, idx), value), "set")
  return self
end

function Tensor:item()
  if self:numel() ~= 1 then error("item: tensor has " .. self:numel() .. " elements, not 1", 2) end
  return self:reshape({}):get()
end

-- Nested Lua tables; floats become numbers, integers numbers, bool booleans.
function Tensor:totable()
  local isfloat = tensor.is_float(self)
  local flat = self:to(isfloat and "f32" or "i64"):contiguous()
  local p = ffi.cast(isfloat and "float *" or "int64_t *", call(C.locus_tensor_data, flat))
  local isbool = self.p.type == C.LOCUS_BOOL
  local shape = self:shape()
  local pos = 0
  local function build(depth)
    if depth > #shape then
      local v = tonumber(p[pos])
      pos = pos + 1
      if isbool then return v ~= 0 end
      return v
    end
    local t = {}
    for i = 1, shape[depth] do t[i] = build(depth + 1) end
    return t
  end
  if #shape == 0 then return build(1) end
  return build(1)
end

-- ---- ops ----------------------------------------------------------------------------------------

local function out_like(shape) return tensor.empty(shape) end

-- The f32 out tensor that cfn(out, ...) needs, with the shape the op computes itself (locus.h's
-- shape query), or the op's own error about its inputs.
local query_sizes = int64_array(8)
local function out_for(name, cfn, ...)
  C.locus_shape_query_begin()
  call(cfn, nil, ...)
  local n = C.locus_shape_query_end(query_sizes)
  if n < 0 then core.fail(name) end
  return wrap(C.locus_tensor_empty(C.LOCUS_F32, n, query_sizes), name)
end

local function as_tensor(x)
  if tensor.is_tensor(x) then return x end
  if type(x) == "number" then return tensor.scalar(x) end
  return tensor.from(x)
end

local function binary(cfn, name)
  return function(a, b)
    a, b = as_tensor(a), as_tensor(b)
    local out = out_for(name, cfn, a, b)
    core.check(call(cfn, out, a, b), name)
    return out
  end
end

Tensor.add = binary(C.locus_add, "add")
Tensor.sub = binary(C.locus_sub, "sub")
Tensor.mul = binary(C.locus_mul, "mul")
Tensor.div = binary(C.locus_div, "div")
mt.__add = Tensor.add
mt.__sub = Tensor.sub
mt.__mul = Tensor.mul
mt.__div = Tensor.div
mt.__unm = function(a) return a:affine(-1, 0) end

function Tensor:affine(scale, shift)
  local out = out_like(self:shape())
  core.check(call(C.locus_affine, out, self, scale, shift or 0), "affine")
  return out
end
function Tensor:scale(s) return self:affine(s, 0) end

local function unary(cfn, name)
  return function(self)
    local out = out_like(self:shape())
    core.check(call(cfn, out, self), name)
    return out
  end
end
Tensor.abs = unary(C.locus_abs, "abs")
Tensor.gelu = unary(C.locus_gelu, "gelu")
Tensor.gelu_tanh = unary(C.locus_gelu_tanh, "gelu_tanh")
Tensor.quick_gelu = unary(C.locus_quick_gelu, "quick_gelu")
Tensor.silu = unary(C.locus_silu, "silu")
Tensor.softmax = unary(C.locus_softmax, "softmax")

function Tensor:matmul(b)
  local out = out_for("matmul", C.locus_matmul, self, b)
  core.check(call(C.locus_matmul, out, self, b), "matmul")
  return out
end
Tensor.mm = Tensor.matmul

-- x [..., K] @ weight[N, K]^T + bias[N]; weight may be f32, bf16 or f16 and is used as stored.
function Tensor:linear(weight, bias)
  local out = out_for("linear", C.locus_linear, self, weight, bias)
  core.check(call(C.locus_linear, out, self, weight, bias), "linear")
  return out
end

function Tensor:layer_norm(weight, bias, eps)
  local out = out_like(self:shape())
  core.check(call(C.locus_layer_norm, out, self, weight, bias, eps or 1e-5), "layer_norm")
  return out
end

function Tensor:rms_norm(weight, eps)
  local out = out_like(self:shape())
  core.check(call(C.locus_rms_norm, out, self, weight, eps or 1e-6), "rms_norm")
  return out
end

-- x [..., T, heads, D]; positions pos0 .. pos0 + T - 1 (0-based, as in the model);
-- interleaved = true rotates adjacent pairs as llama.cpp does for GGUF weights
function Tensor:rope(pos0, theta, interleaved)
  local out = out_like(self:shape())
  core.check(call(C.locus_rope, out, self, pos0 or 0, theta or 10000, interleaved and 1 or 0), "rope")
  return out
end

-- q [T, H, D], k and v [S, KVH, D]: softmax(q k^T / sqrt(D)) v (see locus.h). With pos0 (a number),
-- causal over a cache where q holds positions pos0..; without it (nil), every query sees every key.
function Tensor:attention(k, v, pos0)
  local out = out_like(self:shape())
  core.check(call(C.locus_attention, out, self, k, v, pos0 or 0, pos0 and 1 or 0), "attention")
  return out
end

-- weight:embedding(ids): rows of this [vocab, dim] matrix; ids a tensor or a table of 0-based ids
function Tensor:embedding(ids)
  if not tensor.is_tensor(ids) then ids = tensor.from(ids, "i64") end
  local out = out_for("embedding", C.locus_embedding, self, ids)
  core.check(call(C.locus_embedding, out, self, ids), "embedding")
  return out
end

function Tensor:conv2d(weight, bias, stride, padding)
  local sh, sw = stride or 1, stride or 1
  if type(stride) == "table" then sh, sw = stride[1], stride[2] end
  local ph, pw = padding or 0, padding or 0
  if type(padding) == "table" then ph, pw = padding[1], padding[2] end
  local out = out_for("conv2d", C.locus_conv2d, self, weight, bias, sh, sw, ph, pw)
  core.check(call(C.locus_conv2d, out, self, weight, bias, sh, sw, ph, pw), "conv2d")
  return out
end

local function reduced_shape(self, d)
  local c = cdim(d)
  if c < 0 then c = c + self.p.ndim end
  if c < 0 or c >= self.p.ndim then error("dim " .. d .. " out of range for " .. self.p.ndim .. " dims", 3) end
  local shape = self:shape()
  table.remove(shape, c + 1)
  return shape
end

local function reduction(cfn, name, dtype)
  return function(self, d)
    if d == nil then -- over everything
      return reduction(cfn, name, dtype)(self:reshape(-1), 1)
    end
    local out = tensor.empty(reduced_shape(self, d), dtype)
    core.check(call(cfn, out, self, cdim(d)), name)
    return out
  end
end
Tensor.sum = reduction(C.locus_sum, "sum")
Tensor.mean = reduction(C.locus_mean, "mean")
Tensor.max = reduction(C.locus_max, "max")
Tensor.argmax = reduction(C.locus_argmax, "argmax", "i64")

-- values (f32) and indices (i64, 0-based as in the model) of the k largest along the last dim
function Tensor:topk(k)
  local shape = self:shape()
  shape[#shape] = k
  local values, indices = tensor.empty(shape), tensor.empty(shape, "i64")
  core.check(call(C.locus_topk, values, indices, self, k), "topk")
  return values, indices
end

function tensor.cat(list, d)
  d = d or 1
  if #list == 0 then error("cat: empty list", 2) end
  local shape = list[1]:shape()
  local c = cdim(d)
  if c < 0 then c = c + #shape end
  local total = 0
  for _, t in ipairs(list) do total = total + (t:shape()[c + 1] or 0) end
  shape[c + 1] = total
  local out = tensor.empty(shape, list[1]:dtype())
  local arr = ffi.new("const locus_tensor *[?]", #list)
  for i, t in ipairs(list) do arr[i - 1] = t.p end
  core.check(core.call_with(list, C.locus_concat, out, arr, #list, c), "cat")
  return out
end

-- ---- printing -----------------------------------------------------------------------------------

mt.__tostring = function(self) return require("locus.show").tensor(self) end

ffi.metatype(handle_type, mt)

tensor.Tensor = Tensor
return tensor
