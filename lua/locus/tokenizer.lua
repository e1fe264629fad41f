-- locus.tokenizer: LLaMA's SentencePiece tokenizer (C: csrc/text/tokenizer.c) with the added
-- tokens of a Hugging Face model directory.
--
--   local tok = locus.tokenizer.load("GroundingGPT-7B")   -- tokenizer.model, a GGUF file, or a directory
--   local ids = tok:encode("Where is the dog?")          -- {1, ...}: BOS first unless {bos = false}
--   tok:decode(ids)                                      -- "Where is the dog?"
--   tok:id("<im_patch>"), tok:piece(32000), tok:vocab_size(), tok:bos(), tok:eos()
--   local s = tok:stream()  s:push(id) -> the text completed by this id (UTF-8 held back until whole)
local ffi = require "ffi"
local core = require "locus.core"
local config = require "locus.config"
local utf8 = require "locus.utf8"
local C = core.C

local tokenizer = {}
local Tokenizer = {}
Tokenizer.__index = Tokenizer

local function wrap(ptr, where, spaces)
  if ptr == nil then core.fail(where) end
  return setmetatable({ handle = ffi.gc(ptr, C.locus_tokenizer_free), added_token_spaces = spaces }, Tokenizer)
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

-- How whitespace next to an added token is treated: GroundingGPT's history has two behaviours
-- (doc/llm.md, "Added tokens"), and the choice changes the prompt's ids.
--   "keep"  (default) transformers 4.34 / tokenizers 0.14, the versions GroundingGPT pins, and what
--           its cli.py's AutoTokenizer gives: added tokens take the flags their files give
--           (added_tokens_decoder's lstrip/rstrip; false for added_tokens.json entries).
--   "strip" transformers 4.31's slow tokenizer: the whitespace on both sides of a plain added
--           token is stripped; special tokens strip as their AddedToken flags say.
tokenizer.ADDED_TOKEN_SPACES = { keep = true, strip = true }
tokenizer.default_added_token_spaces = "keep"

-- LlamaTokenizer's special tokens, in the order transformers lists SPECIAL_TOKENS_ATTRIBUTES.
local SPECIAL_KEYS = { "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token" }

local function flag(v) return v == true end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- The added tokens of a model directory (or of a GGUF file carrying its files, locus.convert): a
-- list of {text, id, lstrip, rstrip}, one entry per
-- text, sorted by id then text, so every process adds the same tokens in the same order. Which file
-- wins follows the transformers version `spaces` names.
function tokenizer.directory_added_tokens(dir, spaces, base)
  local cfg = config.load(dir)
  local chosen = {} -- text -> {text, id, lstrip, rstrip}; what is put first wins
  local function put(text, id, l, r)
    if type(text) ~= "string" or text == "" then return end
    if type(id) ~= "number" or id ~= math.floor(id) then
      error(("%s: added token '%s' has no integer id"):format(dir, text), 0)
    end
    if id < 0 or id > 2147483647 then
      error(("%s: added token '%s' has id %.0f, outside 0 .. 2147483647"):format(dir, text, id), 0)
    end
    if not chosen[text] then chosen[text] = { text, id, l, r } end
  end
  -- special tokens: special_tokens_map.json, else tokenizer_config.json; an AddedToken object
  -- carries its flags. LlamaTokenizer makes plain-string bos/eos/unk/pad AddedTokens without
  -- stripping (4.31 and 4.34 alike); a plain additional special token strips in 4.31 only.
  local specials = {}
  local function special(entry, plain_strips, file, field)
    local text = type(entry) == "table" and entry.content or entry
    if type(text) ~= "string" then
      error(("%s/%s: %s must be text or an object with text \"content\", not %s"):format(dir, file, field,
        type(entry) == "table" and ("content " .. config.describe(text)) or config.describe(entry)), 0)
    end
    local id = base(text)
    if not id then return end
    if type(entry) == "table" then
      specials[#specials + 1] = { text, id, flag(entry.lstrip), flag(entry.rstrip) }
    else
      specials[#specials + 1] = { text, id, plain_strips, plain_strips }
    end
  end
  for _, source in ipairs { { cfg.special_tokens_map, "special_tokens_map.json" }, { cfg.tokenizer_config, "tokenizer_config.json" } } do
    local file = source[2]
    source = source[1] and config.object(source[1], dir .. "/" .. file, "the file") or {}
    for _, key in ipairs(SPECIAL_KEYS) do
      if source[key] ~= nil then special(source[key], false, file, key) end
    end
    local extra = source.additional_special_tokens
    if extra ~= nil then
      if type(extra) ~= "table" or (next(extra) ~= nil and extra[1] == nil) then
        error(("%s/%s: additional_special_tokens must be a list, not %s"):format(dir, file, config.describe(extra)), 0)
      end
      for i, e in ipairs(extra) do special(e, spaces == "strip", file, "additional_special_tokens[" .. i .. "]") end
    end
  end
  local decoder = cfg.tokenizer_config and cfg.tokenizer_config.added_tokens_decoder
  if decoder ~= nil then
    config.object(decoder, dir .. "/tokenizer_config.json", "added_tokens_decoder")
    for k, e in pairs(decoder) do
      config.object(e, dir .. "/tokenizer_config.json", "added_tokens_decoder[\"" .. tostring(k) .. "\"]")
      config.text(e.content, dir .. "/tokenizer_config.json", "added_tokens_decoder[\"" .. tostring(k) .. "\"].content")
      if not tonumber(k) then
        error(("%s/tokenizer_config.json: added_tokens_decoder's key \"%s\" is not an id"):format(dir, tostring(k)), 0)
      end
    end
  end
  local from_json = cfg.added_tokens and config.object(cfg.added_tokens, dir .. "/added_tokens.json", "the file") or {}
  if spaces == "keep" then
    -- 4.34: added_tokens_decoder, when present, is the whole list with its own flags; otherwise
    -- added_tokens.json's entries are AddedTokens without stripping. Specials fill in the rest.
    if type(decoder) == "table" then
      for _, k in ipairs(sorted_keys(decoder)) do
        local e = decoder[k]
        if type(e) == "table" then put(e.content, tonumber(k), flag(e.lstrip), flag(e.rstrip)) end
      end
    else
      for _, text in ipairs(sorted_keys(from_json)) do put(text, from_json[text], false, false) end
    end
    for _, s in ipairs(specials) do put(s[1], s[2], s[3], s[4]) end
  else
    -- 4.31: a special token's own flags decide; every other added token strips both sides.
    -- (4.31 predates added_tokens_decoder; its non-special entries are taken as plain added tokens.)
    for _, s in ipairs(specials) do put(s[1], s[2], s[3], s[4]) end
    for _, text in ipairs(sorted_keys(from_json)) do put(text, from_json[text], true, true) end
    if type(decoder) == "table" then
      for _, k in ipairs(sorted_keys(decoder)) do
        local e = decoder[k]
        if type(e) == "table" and not e.special then put(e.content, tonumber(k), true, true) end
      end
    end
  end
  local list = {}
  for _, text in ipairs(sorted_keys(chosen)) do list[#list + 1] = chosen[text] end
  table.sort(list, function(a, b) return a[2] < b[2] or (a[2] == b[2] and a[1] < b[1]) end)
  return list
end

local function spaces_option(opts, where)
  local spaces = opts and opts.added_token_spaces or tokenizer.default_added_token_spaces
  if not tokenizer.ADDED_TOKEN_SPACES[spaces] then
    error(("%s: added_token_spaces must be \"keep\" or \"strip\", not %s"):format(where, tostring(spaces)), 3)
  end
  return spaces
end

-- the added tokens of a directory (or of a converted file) into tok; a clash names the directory
local function add_directory_tokens(tok, path, spaces)
  for _, p in ipairs(tokenizer.directory_added_tokens(path, spaces, function(text) return tok:id(text) end)) do
    local ok, err = pcall(tok.add_token, tok, p[1], p[2], { lstrip = p[3], rstrip = p[4] })
    if not ok then error(path .. ": " .. tostring(err):gsub("^.-add_token: tokenizer: ", ""), 0) end
  end
end

-- opts.added_token_spaces: "keep" (default) or "strip", as above.
function tokenizer.load(path, opts)
  if type(path) ~= "string" then error("tokenizer.load: path must be a string", 2) end
  local spaces = spaces_option(opts, "tokenizer.load")
  local tok
  if is_dir(path) then
    local model = path .. "/tokenizer.model"
    if not file_exists(model) then error(path .. ": no tokenizer.model in this directory", 2) end
    tok = wrap(C.locus_tokenizer_load(model), "tokenizer.load", spaces)
    add_directory_tokens(tok, path, spaces)
    return tok
  end
  local f = io.open(path, "rb")
  local magic = f and f:read(4)
  if f then f:close() end
  if magic == "GGUF" then
    tok = tokenizer.from_weights(require("locus.weights").open(path), opts)
    add_directory_tokens(tok, path, spaces) -- a model file written by locus convert carries them (locus.hf.*)
    return tok
  end
  return wrap(C.locus_tokenizer_load(path), "tokenizer.load", spaces)
end

function tokenizer.from_weights(w, opts)
  return wrap(C.locus_tokenizer_from_weights(w.box.h), "tokenizer", spaces_option(opts, "tokenizer.from_weights"))
end

-- The SentencePiece model as GGUF metadata, llama.cpp's keys (tokenizer.ggml.model, tokens,
-- scores, token_type, the special ids, add_space_prefix), and their GGUF types; added tokens are
-- not pieces and are left out.
function Tokenizer:gguf_metadata()
  local h = self.handle
  local tokens, scores, kinds = {}, {}, {}
  local score, kind = ffi.new("float[1]"), ffi.new("int32_t[1]")
  for id = 0, C.locus_tokenizer_pieces(h) - 1 do
    core.check(C.locus_tokenizer_piece_info(h, id, score, kind), "gguf_metadata")
    tokens[id + 1], scores[id + 1], kinds[id + 1] = self:piece(id), score[0], kind[0]
  end
  local md = { ["tokenizer.ggml.model"] = "llama", ["tokenizer.ggml.tokens"] = tokens, ["tokenizer.ggml.scores"] = scores,
    ["tokenizer.ggml.token_type"] = kinds, ["tokenizer.ggml.add_space_prefix"] = C.locus_tokenizer_adds_space_prefix(h) ~= 0 }
  local types = { ["tokenizer.ggml.tokens"] = "array:string", ["tokenizer.ggml.scores"] = "array:f32",
    ["tokenizer.ggml.token_type"] = "array:i32" }
  for key, id in pairs { bos_token_id = self:bos(), eos_token_id = self:eos(), unknown_token_id = tonumber(C.locus_tokenizer_unk(h)) } do
    if id and id >= 0 then md["tokenizer.ggml." .. key], types["tokenizer.ggml." .. key] = id, "u32" end
  end
  return md, types
end

-- opts.lstrip / opts.rstrip: eat the whitespace before / after the token (default: true when the
-- tokenizer strips around added tokens, added_token_spaces = "strip"; false for "keep")
function Tokenizer:add_token(text, id, opts)
  local default = self.added_token_spaces == "strip"
  local function pick(v) if v == nil then v = default end return v and 1 or 0 end
  local l, r = pick(opts and opts.lstrip), pick(opts and opts.rstrip)
  core.check(C.locus_tokenizer_add_token(self.handle, text, id, l, r), "add_token")
  return self
end

function Tokenizer:vocab_size() return C.locus_tokenizer_vocab_size(self.handle) end
function Tokenizer:bos() local v = C.locus_tokenizer_bos(self.handle); return v >= 0 and v or nil end
function Tokenizer:eos() local v = C.locus_tokenizer_eos(self.handle); return v >= 0 and v or nil end

function Tokenizer:id(piece)
  local v = C.locus_tokenizer_id(self.handle, piece, #piece)
  return v >= 0 and v or nil
end

function Tokenizer:piece(id)
  local len = ffi.new("size_t[1]")
  local p = C.locus_tokenizer_piece(self.handle, id, len)
  if p == nil then core.fail("piece") end
  return ffi.string(p, len[0])
end

-- ids as a Lua table (0-based vocabulary ids); opts.bos = false leaves out BOS; opts.plain = {{i, j},
-- ...}: stretches text:sub(i, j) where added tokens are not recognised (a user's words: their
-- "<im_patch>" is text, not the token)
function Tokenizer:encode(text, opts)
  if type(text) ~= "string" then error("encode: text must be a string", 2) end
  local bos = not (opts and opts.bos == false) and 1 or 0
  local ranges = opts and opts.plain or {}
  local plain = ffi.new("int64_t[?]", math.max(1, 2 * #ranges))
  for r, range in ipairs(ranges) do plain[2 * r - 2], plain[2 * r - 1] = range[1] - 1, range[2] end
  local cap = #text + 8
  local buf = ffi.new("int32_t[?]", cap)
  local n = tonumber(C.locus_tokenizer_encode_plain(self.handle, text, #text, bos, plain, #ranges, buf, cap))
  if n < 0 then core.fail("encode") end
  if n > cap then -- cannot happen with one id per byte at most, but the API allows it
    buf = ffi.new("int32_t[?]", n)
    n = tonumber(C.locus_tokenizer_encode_plain(self.handle, text, #text, bos, plain, #ranges, buf, n))
  end
  local ids = {}
  for i = 0, n - 1 do ids[i + 1] = buf[i] end
  return ids
end

local function decode_into(handle, arr, n, strip)
  local cap = 16 * n + 16
  local out = ffi.new("char[?]", cap)
  local m = tonumber(C.locus_tokenizer_decode(handle, arr, n, strip, out, cap))
  if m < 0 then core.fail("decode") end
  if m >= cap then
    out = ffi.new("char[?]", m + 1)
    m = tonumber(C.locus_tokenizer_decode(handle, arr, n, strip, out, m + 1))
  end
  return ffi.string(out, m)
end

-- Text of the ids, as sentencepiece decodes them: bytes that form no valid UTF-8 become U+FFFD (one
-- each). opts.strip_leading_space = false keeps the space of a leading "▁"; opts.raw = true returns
-- the bytes as they are.
function Tokenizer:decode(ids, opts)
  local n = #ids
  local arr = ffi.new("int32_t[?]", math.max(n, 1))
  for i = 1, n do arr[i - 1] = ids[i] end
  local bytes = decode_into(self.handle, arr, n, (opts and opts.strip_leading_space == false) and 0 or 1)
  return (opts and opts.raw) and bytes or utf8.clean(bytes)
end

-- Incremental decoding for streaming: push(id) returns the text this id completes, always valid
-- UTF-8: the bytes of a character split across byte tokens are held back until it is whole, and
-- bytes that cannot become one are U+FFFD. flush() returns what is held back (as U+FFFD).
function Tokenizer:stream()
  local handle, one = self.handle, ffi.new("int32_t[1]")
  local pending, first = "", true
  local s = {}
  function s.push(_, id)
    one[0] = id
    local text
    text, pending = utf8.clean_prefix(pending .. decode_into(handle, one, 1, first and 1 or 0))
    first = false
    return text
  end
  function s.flush()
    local out = utf8.clean(pending)
    pending = ""
    return out
  end
  return s
end

return tokenizer
