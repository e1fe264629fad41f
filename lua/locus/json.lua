-- locus.json: JSON text that is the same in every process and always parses.
--
--   json.encode{text = "a", boxes = json.array{}}   --> {"boxes":[],"text":"a"}
--   json.encode(json.object({id = 1, answer = "x"}, {"id", "answer"}))  --> {"id":1,"answer":"x"}
--   json.decode(text)                                --> lua-cjson's decode
--
-- lua-cjson encodes the strings and numbers. Objects are assembled here because lua-cjson writes a
-- table's keys in its hash order, which differs between processes: keys come in the order an object
-- was given (json.object) and sorted after that. Text that is not valid UTF-8 (an answer cut inside a
-- character, a stray byte token) has each bad byte replaced by U+FFFD, as sentencepiece's decoder
-- and Hugging Face's byte-fallback decoder do, so the output is always valid JSON.
local cjson = require "cjson"

local json = {}

local codec = cjson.new()
codec.encode_invalid_numbers(false) -- NaN and infinities are an error, not invalid JSON
json.decode = cjson.decode
json.null = cjson.null

local utf8 = require "locus.utf8"

local ARRAY, ORDER = {}, setmetatable({}, { __mode = "k" })

-- t marked as a JSON array (an empty table is otherwise an object)
function json.array(t) return setmetatable(t or {}, ARRAY) end

-- t as an object whose listed keys come first, in that order
function json.object(t, order)
  ORDER[t] = order
  return t
end

local function is_array(t)
  if getmetatable(t) == ARRAY then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local encode

local function object_keys(t, where)
  local first, seen, rest = ORDER[t] or {}, {}, {}
  local keys = {}
  for _, k in ipairs(first) do
    if t[k] ~= nil then keys[#keys + 1] = k; seen[k] = true end
  end
  for k in pairs(t) do
    if type(k) ~= "string" and type(k) ~= "number" then error(where .. ": a key of type " .. type(k), 0) end
    if not seen[k] then rest[#rest + 1] = k end
  end
  table.sort(rest, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(rest) do keys[#keys + 1] = k end
  return keys
end

encode = function(v, where, depth)
  local kind = type(v)
  if kind == "string" then return codec.encode(utf8.clean(v)) end
  if kind == "number" then
    if v ~= v or v == math.huge or v == -math.huge then error(where .. ": " .. tostring(v) .. " has no JSON form", 0) end
    return codec.encode(v)
  end
  if kind == "boolean" then return tostring(v) end
  if v == nil or v == cjson.null then return "null" end
  if kind ~= "table" then error(where .. ": a " .. kind .. " has no JSON form", 0) end
  if depth > 64 then error(where .. ": nested too deeply (a cycle?)", 0) end
  local parts = {}
  if is_array(v) then
    for i = 1, #v do parts[i] = encode(v[i], where, depth + 1) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  for _, k in ipairs(object_keys(v, where)) do
    parts[#parts + 1] = codec.encode(utf8.clean(tostring(k))) .. ":" .. encode(v[k], where, depth + 1)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- one line of JSON; tables with keys 1..n are arrays, json.array marks an empty one
function json.encode(v) return encode(v, "json.encode", 0) end

return json
