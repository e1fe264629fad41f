-- locus.config: the JSON files of a Hugging Face model directory, as Lua tables.
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

-- One JSON file as a table; nil (and no error) when it does not exist.
function config.read_json(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  local ok, value = pcall(cjson.decode, text)
  if not ok then error(("%s: not valid JSON: %s"):format(path, tostring(value):gsub("^.-: ", "")), 2) end
  return strip_nulls(value)
end

function config.load(dir)
  if type(dir) ~= "string" then error("config.load: dir must be a string", 2) end
  local out = {}
  for key, file in pairs(config.files) do out[key] = config.read_json(dir .. "/" .. file) end
  return out
end

return config
