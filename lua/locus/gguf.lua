-- locus.gguf: writing GGUF files (reading goes through locus.weights like every other format).
--
--   locus.gguf.save("out.gguf", {{"token_embd.weight", t1}, {"output.weight", t2}}, {
--     metadata = {["general.architecture"] = "llama", ["llama.context_length"] = 2048},
--     types = {["llama.context_length"] = "u32"},       -- GGUF value types where inference is not enough
--   })
--
-- Tensors go in the order given (a name -> tensor table is written in sorted name order). Keys
-- without a type are typed from their values: strings, booleans, i32 for integers, f32 otherwise.
-- opts.metadata_json / opts.types_json pass JSON text instead, e.g. straight from a GGUF read with
-- locus.weights (w:metadata_json(), w:metadata_types_json()), which keeps every type as it was.
local ffi = require "ffi"
local core = require "locus.core"
local tensor = require "locus.tensor"
local C = core.C

local gguf = {}

local function ordered(tensors)
  local list = {}
  if tensors[1] ~= nil then
    for i, pair in ipairs(tensors) do list[i] = pair end
  else
    local names = {}
    for k in pairs(tensors) do names[#names + 1] = k end
    table.sort(names)
    for i, k in ipairs(names) do list[i] = { k, tensors[k] } end
  end
  return list
end

function gguf.save(path, tensors, opts)
  opts = opts or {}
  if type(path) ~= "string" then error("gguf.save: path must be a string", 2) end
  local json = require "locus.json" -- keys in a fixed order: the file's metadata order is the same in every run
  local list = ordered(tensors)
  local names = ffi.new("const char *[?]", math.max(#list, 1))
  local ptrs = ffi.new("const locus_tensor *[?]", math.max(#list, 1))
  local keep = {} -- the name strings and the tensors, referenced until C has used the pointers into them
  for i, pair in ipairs(list) do
    local name, t = pair[1], pair[2]
    if type(name) ~= "string" or not tensor.is_tensor(t) then
      error("gguf.save: entry " .. i .. " is not a {name, tensor} pair", 2)
    end
    keep[#keep + 1] = name
    keep[#keep + 1] = t
    names[i - 1] = name
    ptrs[i - 1] = t.p
  end
  local meta = opts.metadata_json or json.encode(opts.metadata or {})
  local types = opts.types_json or (opts.types and json.encode(opts.types)) or nil
  core.check(core.call_with(keep, C.locus_gguf_save, path, meta, types, #list, names, ptrs), "gguf.save")
  return #list -- the number of tensors written
end

-- A GGUF file written as it goes, one tensor in memory at a time (a 7B conversion need not hold the
-- model): plan = {{name, dtype, shape}, ...} declares every tensor; w:add(t) writes the next one (of
-- the declared dtype and shape); w:finish() puts the file in place (nothing exists under path
-- before), w:abort() removes it. opts as gguf.save's metadata_json, types_json, metadata, types.
local Writer = {}
Writer.__index = Writer

function gguf.writer(path, plan, opts)
  opts = opts or {}
  if type(path) ~= "string" then error("gguf.writer: path must be a string", 2) end
  local json = require "locus.json"
  local n = #plan
  local names = ffi.new("const char *[?]", math.max(n, 1))
  local dtypes, ndims = ffi.new("int32_t[?]", math.max(n, 1)), ffi.new("int32_t[?]", math.max(n, 1))
  local shapes = ffi.new("int64_t[?]", math.max(n, 1) * 4)
  local keep = {}
  for i, p in ipairs(plan) do
    local name, dtype, shape = p[1], p[2], p[3]
    if type(name) ~= "string" or type(shape) ~= "table" or #shape > 4 then
      error("gguf.writer: plan entry " .. i .. " is not {name, dtype, shape (up to 4 dims)}", 2)
    end
    keep[#keep + 1] = name
    names[i - 1] = name
    dtypes[i - 1] = tensor.dtype_code(dtype)
    ndims[i - 1] = #shape
    for d, v in ipairs(shape) do shapes[(i - 1) * 4 + d - 1] = v end
  end
  local meta = opts.metadata_json or json.encode(opts.metadata or {})
  local types = opts.types_json or (opts.types and json.encode(opts.types)) or nil
  local w = core.call_with(keep, C.locus_gguf_writer_begin, path, meta, types, n, names, dtypes, ndims, shapes)
  if w == nil then core.fail("gguf.writer") end
  return setmetatable({ handle = w, path = path }, Writer)
end

function Writer:add(t)
  if not self.handle then error("gguf writer: already finished", 2) end
  local rc = core.call(C.locus_gguf_writer_add, self.handle, t)
  if rc ~= 0 then
    local msg = ffi.string(C.locus_last_error())
    self:abort()
    error(msg, 2)
  end
end

function Writer:finish()
  if not self.handle then error("gguf writer: already finished", 2) end
  local h = self.handle
  self.handle = nil
  if C.locus_gguf_writer_finish(h) ~= 0 then error(ffi.string(C.locus_last_error()), 2) end
end

function Writer:abort()
  if self.handle then C.locus_gguf_writer_abort(self.handle) end
  self.handle = nil
end

return gguf
