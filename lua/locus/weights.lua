-- locus.weights: named tensors from checkpoints (safetensors, PyTorch .bin/.pth/.pt, GGUF, HF
-- directories with or without a shard index), read by liblocus (csrc/formats).
--
--   local w = locus.weights.open("GroundingGPT-7B")      -- a file or a directory
--   w:names()                                           -- stored order
--   w:get("model.norm.weight")                          -- a view of the mapped file, stored dtype
--   w:get("model.norm.weight", {dtype = "f32"})         -- converted on request (this tensor only)
--   w:info(name)                                        -- dtype, shape, strides, file, offset, bytes
--   local vis = w:sub("model.vision_tower.")            -- the names under a prefix, prefix dropped
--   w:metadata()                                        -- safetensors __metadata__ / GGUF key-values
--   locus.weights.save("out.safetensors", {["a.weight"] = t, ...}, {format = "pt"})   -- whole or not at all
local ffi = require "ffi"
local core = require "locus.core"
local tensor = require "locus.tensor"
local C = core.C

local weights = {}
local Weights = {}
Weights.__index = Weights

local function close_handle(h) C.locus_weights_close(h) end

-- Writes tensors ({name = tensor}, in name order, or a list of {name, tensor}) as one safetensors
-- file, metadata a table of strings; the file appears whole or not at all.
function weights.save(path, tensors, metadata)
  local list = {}
  if tensors[1] then
    list = tensors
  else
    for name, t in pairs(tensors) do list[#list + 1] = { name, t } end
    table.sort(list, function(a, b) return a[1] < b[1] end)
  end
  local n = #list
  local names, ts, keep = ffi.new("const char *[?]", math.max(n, 1)), ffi.new("const locus_tensor *[?]", math.max(n, 1)), {}
  for i, e in ipairs(list) do
    keep[#keep + 1] = e[1]
    names[i - 1], ts[i - 1] = e[1], e[2].p
  end
  local meta = metadata and require("locus.json").encode(metadata) or nil
  local rc = C.locus_safetensors_save(path, n, names, ts, meta)
  keep = list -- the names' strings and the tensors stay alive through the call
  core.check(rc, "weights.save")
end

-- GGUF (llama.cpp) allows tensor names of 63 bytes; a longer checkpoint name (a Q-Former's, say) is
-- stored as its first 54 bytes, "~" and 8 hex digits of its FNV-1a hash, and the full names are
-- listed in the metadata (locus.long_names), so that every name reads as in the checkpoint.
weights.GGUF_NAME_LIMIT = 63

function weights.gguf_name(name)
  if #name <= weights.GGUF_NAME_LIMIT then return name end
  local h = 2166136261
  for i = 1, #name do
    h = bit.bxor(h, name:byte(i)) % 2 ^ 32
    h = (bit.lshift(h, 24) % 2 ^ 32 + h * 403) % 2 ^ 32 -- h * 16777619 mod 2^32, exactly in doubles
  end
  return ("%s~%08x"):format(name:sub(1, 54), h)
end

-- stored name -> full name, for a GGUF file that lists long names
local function long_names(h)
  local json = ffi.string(C.locus_weights_metadata_json(h))
  if not json:find('"locus.long_names"', 1, true) then return nil end
  local list = require("cjson").decode(json)["locus.long_names"]
  if type(list) ~= "table" then return nil end
  local long, short = {}, {}
  for _, name in ipairs(list) do
    if type(name) == "string" then
      long[weights.gguf_name(name)], short[name] = name, weights.gguf_name(name)
    end
  end
  return { long = long, short = short }
end

function weights.open(path)
  if type(path) ~= "string" then error("weights.open: path must be a string", 2) end
  local h = C.locus_weights_open(path)
  if h == nil then core.fail("weights.open") end
  -- the handle sits in a box shared with sub() views, so close() reaches them all
  return setmetatable({ box = { h = ffi.gc(h, close_handle), names = long_names(h) }, prefix = "", path = path }, Weights)
end

local function handle(self)
  local h = self.box.h
  if h == nil then error(self.path .. ": weights already closed", 3) end
  return h
end

function Weights:format() return ffi.string(C.locus_weights_format(handle(self))) end

-- the name as stored, of a name relative to this view
local function full_name(self, name)
  local full, names = self.prefix .. name, self.box.names
  return names and names.short[full] or full
end

local function shown_name(self, stored) -- the reverse: the full name as the checkpoint had it
  local names = self.box.names
  return names and names.long[stored] or stored
end

function Weights:names()
  local out, n = {}, tonumber(C.locus_weights_count(handle(self)))
  local plen = #self.prefix
  for i = 0, n - 1 do
    local name = shown_name(self, ffi.string(C.locus_weights_info_at(handle(self), i).name))
    if plen == 0 then
      out[#out + 1] = name
    elseif name:sub(1, plen) == self.prefix then
      out[#out + 1] = name:sub(plen + 1)
    end
  end
  return out
end

function Weights:has(name) return C.locus_weights_find(handle(self), full_name(self, name)) ~= nil end

local function info_table(info)
  local shape, strides = {}, {}
  for i = 0, info.ndim - 1 do
    shape[i + 1] = tonumber(info.sizes[i])
    strides[i + 1] = tonumber(info.strides[i])
  end
  local stored = ffi.string(info.stored_type)
  return {
    name = ffi.string(info.name),
    dtype = info.type >= 0 and ffi.string(C.locus_dtype_name(info.type)) or nil,
    stored_type = stored,
    shape = shape,
    strides = strides,
    file = ffi.string(info.file),
    offset = tonumber(info.offset),
    nbytes = tonumber(info.nbytes),
  }
end

function Weights:info(name)
  local info = C.locus_weights_find(handle(self), full_name(self, name))
  if info == nil then error(("%s: no tensor named '%s'"):format(self.path, self.prefix .. name), 2) end
  local t = info_table(info)
  t.name = shown_name(self, t.name)
  return t
end

-- opts.dtype converts this one tensor (e.g. a bf16 norm weight to f32); nothing else is copied.
function Weights:get(name, opts)
  local full = full_name(self, name)
  local t = C.locus_weights_get(handle(self), full)
  if t == nil then
    local msg = ffi.string(C.locus_last_error())
    if C.locus_weights_find(handle(self), full) == nil then msg = ("%s: no tensor named '%s'"):format(self.path, self.prefix .. name) end
    error(msg, 2)
  end
  t = tensor.wrap(t)
  if opts and opts.dtype then t = t:to(opts.dtype) end
  return t
end

function Weights:sub(prefix)
  return setmetatable({ box = self.box, prefix = self.prefix .. prefix, path = self.path }, Weights)
end

function Weights:metadata_json() return ffi.string(C.locus_weights_metadata_json(handle(self))) end
function Weights:metadata() return require("cjson").decode(self:metadata_json()) end
-- GGUF's value type of each metadata key ({["llama.context_length"] = "u32", ...}), as JSON text
function Weights:metadata_types_json() return ffi.string(C.locus_weights_metadata_types_json(handle(self))) end

-- Every tensor's info, in stored order (names relative to this view's prefix).
function Weights:infos()
  local out = {}
  for _, name in ipairs(self:names()) do
    local info = self:info(name)
    info.name = name
    out[#out + 1] = info
  end
  return out
end

-- Releases the handle now (tensors already taken stay valid: they hold the mapping).
function Weights:close()
  local h = self.box.h
  if h ~= nil then
    self.box.h = nil
    C.locus_weights_close(ffi.gc(h, nil))
  end
end

return weights
