-- lego.tokenizer: LLaMA's SentencePiece tokenizer (C: csrc/text/tokenizer.c) with the added
-- tokens of a Hugging Face model directory.
--
--   local tok = lego.tokenizer.load("GroundingGPT-7B")   -- tokenizer.model, a GGUF file, or a directory
--   local ids = tok:encode("Where is the dog?")          -- {1, ...}: BOS first unless {bos = false}
--   tok:decode(ids)                                      -- "Where is the dog?"
--   tok:id("<im_patch>"), tok:piece(32000), tok:vocab_size(), tok:bos(), tok:eos()
--   local s = tok:stream()  s:push(id) -> the text completed by this id (UTF-8 held back until whole)
local ffi = require "ffi"
local core = require "lego.core"
local config = require "lego.config"
local C = core.C

local tokenizer = {}
local Tokenizer = {}
Tokenizer.__index = Tokenizer

local function wrap(ptr, where)
  if ptr == nil then core.fail(where) end
  return setmetatable({ handle = ffi.gc(ptr, C.lego_tokenizer_free) }, Tokenizer)
end

local function is_dir(path)
  local f = io.open(path .. "/.", "r")
  if f then f:close() end
  return f ~= nil
end

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- The whole-unit tokens of a directory, as HF's slow tokenizer (transformers 4.31-4.34) has them:
-- added_tokens.json {text: id} (whitespace stripped on both sides), and the special tokens of
-- special_tokens_map.json, whose AddedToken form carries its own lstrip/rstrip (a plain string
-- strips both sides). tokenizer_config.json's added_tokens_decoder (newer files) is read too.
local function add_directory_tokens(tok, dir)
  local cfg = config.load(dir)
  local list = {}
  for text, id in pairs(cfg.added_tokens or {}) do list[#list + 1] = { text, id, true, true } end
  local dec = cfg.tokenizer_config and cfg.tokenizer_config.added_tokens_decoder
  for id, e in pairs(dec or {}) do
    if type(e) == "table" and e.content then list[#list + 1] = { e.content, tonumber(id), e.lstrip, e.rstrip } end
  end
  local function special(entry)
    local text = type(entry) == "table" and entry.content or entry
    local id = type(text) == "string" and tok:id(text)
    if not id then return end
    if type(entry) == "table" then
      list[#list + 1] = { text, id, entry.lstrip == true, entry.rstrip == true }
    else
      list[#list + 1] = { text, id, true, true }
    end
  end
  for key, entry in pairs(cfg.special_tokens_map or {}) do
    if key == "additional_special_tokens" and type(entry) == "table" and entry[1] ~= nil then
      for _, e in ipairs(entry) do special(e) end
    else
      special(entry)
    end
  end
  table.sort(list, function(a, b) return a[2] < b[2] end)
  for _, p in ipairs(list) do tok:add_token(p[1], p[2], { lstrip = p[3], rstrip = p[4] }) end
end

function tokenizer.load(path)
  if type(path) ~= "string" then error("tokenizer.load: path must be a string", 2) end
  if is_dir(path) then
    local model = path .. "/tokenizer.model"
    if not file_exists(model) then error(path .. ": no tokenizer.model in this directory", 2) end
    local tok = wrap(C.lego_tokenizer_load(model), "tokenizer.load")
    add_directory_tokens(tok, path)
    return tok
  end
  local f = io.open(path, "rb")
  local magic = f and f:read(4)
  if f then f:close() end
  if magic == "GGUF" then return tokenizer.from_weights(require("lego.weights").open(path)) end
  return wrap(C.lego_tokenizer_load(path), "tokenizer.load")
end

function tokenizer.from_weights(w)
  return wrap(C.lego_tokenizer_from_weights(w.box.h), "tokenizer")
end

-- opts.lstrip / opts.rstrip (default true, as HF strips around plain added tokens): eat the
-- whitespace before / after the token
function Tokenizer:add_token(text, id, opts)
  local l = not (opts and opts.lstrip == false) and 1 or 0
  local r = not (opts and opts.rstrip == false) and 1 or 0
  core.check(C.lego_tokenizer_add_token(self.handle, text, id, l, r), "add_token")
  return self
end

function Tokenizer:vocab_size() return C.lego_tokenizer_vocab_size(self.handle) end
function Tokenizer:bos() local v = C.lego_tokenizer_bos(self.handle); return v >= 0 and v or nil end
function Tokenizer:eos() local v = C.lego_tokenizer_eos(self.handle); return v >= 0 and v or nil end

function Tokenizer:id(piece)
  local v = C.lego_tokenizer_id(self.handle, piece, #piece)
  return v >= 0 and v or nil
end

function Tokenizer:piece(id)
  local len = ffi.new("size_t[1]")
  local p = C.lego_tokenizer_piece(self.handle, id, len)
  if p == nil then core.fail("piece") end
  return ffi.string(p, len[0])
end

-- ids as a Lua table (0-based vocabulary ids); opts.bos = false leaves out BOS
function Tokenizer:encode(text, opts)
  if type(text) ~= "string" then error("encode: text must be a string", 2) end
  local bos = not (opts and opts.bos == false) and 1 or 0
  local cap = #text + 8
  local buf = ffi.new("int32_t[?]", cap)
  local n = tonumber(C.lego_tokenizer_encode(self.handle, text, #text, bos, buf, cap))
  if n < 0 then core.fail("encode") end
  if n > cap then -- cannot happen with one id per byte at most, but the API allows it
    buf = ffi.new("int32_t[?]", n)
    n = tonumber(C.lego_tokenizer_encode(self.handle, text, #text, bos, buf, n))
  end
  local ids = {}
  for i = 0, n - 1 do ids[i + 1] = buf[i] end
  return ids
end

local function decode_into(handle, arr, n, strip)
  local cap = 16 * n + 16
  local out = ffi.new("char[?]", cap)
  local m = tonumber(C.lego_tokenizer_decode(handle, arr, n, strip, out, cap))
  if m < 0 then core.fail("decode") end
  if m >= cap then
    out = ffi.new("char[?]", m + 1)
    m = tonumber(C.lego_tokenizer_decode(handle, arr, n, strip, out, m + 1))
  end
  return ffi.string(out, m)
end

-- text of the ids; opts.strip_leading_space = false keeps the space of a leading "▁"
function Tokenizer:decode(ids, opts)
  local n = #ids
  local arr = ffi.new("int32_t[?]", math.max(n, 1))
  for i = 1, n do arr[i - 1] = ids[i] end
  return decode_into(self.handle, arr, n, (opts and opts.strip_leading_space == false) and 0 or 1)
end

-- Incremental decoding for streaming: push(id) returns the text this id completes. Bytes of a
-- UTF-8 character split across byte tokens are held back until the character is whole.
function Tokenizer:stream()
  local handle, one = self.handle, ffi.new("int32_t[1]")
  local pending, first = "", true
  local s = {}
  function s.push(_, id)
    one[0] = id
    pending = pending .. decode_into(handle, one, 1, first and 1 or 0)
    first = false
    -- the longest prefix that does not end inside a UTF-8 sequence
    local cut = #pending
    for back = 1, math.min(3, #pending) do
      local b = pending:byte(#pending - back + 1)
      if b >= 0xc0 then -- a lead byte: is its sequence complete?
        local need = b >= 0xf0 and 4 or b >= 0xe0 and 3 or 2
        if back < need then cut = #pending - back end
        break
      elseif b < 0x80 then
        break
      end
    end
    local out = pending:sub(1, cut)
    pending = pending:sub(cut + 1)
    return out
  end
  function s.flush() local out = pending; pending = ""; return out end
  return s
end

return tokenizer
