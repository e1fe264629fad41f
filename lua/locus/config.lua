-- locus.config: the JSON files of a Hugging Face model directory (or of a GGUF file that carries
-- them, locus.convert), as Lua tables.
--   local cfg = locus.config.load("GroundingGPT-7B")
--   cfg.config.hidden_size, cfg.tokenizer_config, cfg.added_tokens, cfg.special_tokens_map,
--   cfg.generation_config   (each nil when its file is absent)
-- A file that exists but is not valid JSON is an error naming it. JSON null becomes nil.
local cjson = require "cjson"

local config = {}

config.files = {
  config = "config.json",
  tokenizer_config = "tokenizer_config.json",
  added_tokens = "added_tokens.json",
  special_tokens_map = "special_tokens_map.json",
  generation_config = "generation_config.json",
}

local function strip_nulls(v)
  if v == cjson.null then return nil end
  if type(v) == "table" then
    for k, x in pairs(v) do v[k] = strip_nulls(x) end
  end
  return v
end

local function decode(text, where)
  local ok, value = pcall(cjson.decode, text)
  if not ok then error(("%s: not valid JSON: %s"):format(where, tostring(value):gsub("^.-: ", "")), 3) end
  return strip_nulls(value)
end

-- One JSON file as a table; nil (and no error) when it does not exist.
function config.read_json(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return decode(text, path)
end

-- ---- checking what a file says -------------------------------------------------------------------
-- Each returns the value when it is of the kind asked for, else raises an error naming the file
-- (`where`) and the field (and no Lua position: the file is what is wrong).

-- a value as a message shows it
function config.describe(v)
  if type(v) == "string" then return "\"" .. v .. "\"" end
  if type(v) == "table" then return (next(v) ~= nil and v[1] ~= nil) and "a list" or "an object" end
  return tostring(v)
end

-- a whole number within [lo, hi]
function config.whole(v, where, field, lo, hi)
  if type(v) ~= "number" or v ~= math.floor(v) or v < lo or v > hi then
    error(("%s: %s must be a whole number from %d to %d, not %s"):format(where, field, lo, hi, config.describe(v)), 0)
  end
  return v
end

-- a finite number > 0
function config.positive(v, where, field)
  if type(v) ~= "number" or not (v > 0) or v == math.huge then
    error(("%s: %s must be a positive number, not %s"):format(where, field, config.describe(v)), 0)
  end
  return v
end

function config.text(v, where, field)
  if type(v) ~= "string" then error(("%s: %s must be text, not %s"):format(where, field, config.describe(v)), 0) end
  return v
end

-- a JSON object (a table that is not a non-empty list)
function config.object(v, where, field)
  if type(v) ~= "table" or (next(v) ~= nil and v[1] ~= nil) then
    error(("%s: %s must be an object, not %s"):format(where, field, config.describe(v)), 0)
  end
  return v
end

-- A regular file that can be read (a directory opens but does not read).
function config.is_file(path)
  local f = io.open(path, "rb")
  local ok = f and f:read(0) ~= nil
  if f then f:close() end
  return ok or false
end

local function is_gguf(path)
  local f = io.open(path, "rb")
  local magic = f and f:read(4)
  if f then f:close() end
  return magic == "GGUF"
end

-- dir: a model directory, or a GGUF file written by locus convert, whose metadata carries the
-- directory's files as text (locus.hf.config, locus.hf.tokenizer_config, ...).
function config.load(dir)
  if type(dir) ~= "string" then error("config.load: dir must be a string", 2) end
  local out = {}
  if is_gguf(dir) then
    local md = require("locus.weights").open(dir):metadata()
    for key, file in pairs(config.files) do
      local text = md["locus.hf." .. key]
      if text ~= nil then
        if type(text) ~= "string" then error(("%s: metadata locus.hf.%s is not text"):format(dir, key), 2) end
        out[key] = decode(text, ("%s: locus.hf.%s (%s)"):format(dir, key, file))
      end
    end
    return out
  end
  for key, file in pairs(config.files) do out[key] = config.read_json(dir .. "/" .. file) end
  return out
end

return config
