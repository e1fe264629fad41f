-- locus.train.pack: a trained model directory made self-contained, to ship or to copy elsewhere.
--
--   require("locus.train.pack")("run", "models/demo", {dtype = "f16"})
--
-- A training run's directory (locus.train) links the original's files and holds the trained
-- weights beside them; this writes one directory with nothing linked: config.json,
-- model.safetensors (every weight of the LLM and the adapter), the tokenizer's files, and the
-- vision tower, when the model has a CLIP directory, as vision_tower/ (config.json and
-- model.safetensors). Weights are stored in opts.dtype (f32, f16 or bf16; default: as stored).
-- The directory is written beside `to` and renamed into place, so it is whole or absent; an
-- existing `to` is an error rather than overwritten.
local json = require "locus.json"
local weights = require "locus.weights"

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function copy(from, to)
  local f = assert(io.open(from, "rb"))
  local bytes = f:read("*a")
  f:close()
  require("locus").write_text(to, bytes)
end

local DTYPES = { f32 = true, f16 = true, bf16 = true }

local function save(file, w, dtype, step)
  local list = {}
  for _, name in ipairs(w:names()) do
    local t = w:get(name)
    list[#list + 1] = { name, dtype and t:to(dtype) or t }
  end
  weights.save(file, list, { format = "pt", step = step })
end

return function(from, to, opts)
  opts = opts or {}
  local dtype = opts.dtype
  if dtype and not DTYPES[dtype] then error(("pack: dtype is f32, f16 or bf16, not %s"):format(tostring(dtype)), 0) end
  if not exists(from .. "/config.json") then error(("pack: %s is not a model directory (no config.json)"):format(from), 0) end
  if os.execute("test -e " .. quote(to)) == 0 then error(("pack: %s exists; pack into a new directory"):format(to), 0) end
  local cfg = json.decode(io.open(from .. "/config.json"):read("*a"))
  local tower = cfg.mm_vision_tower
  if type(tower) == "string" and tower:sub(1, 1) ~= "/" then tower = from .. "/" .. tower end
  local has_tower = type(tower) == "string" and exists(tower .. "/config.json")
  local tmp = to .. ".partial"
  os.execute("rm -rf " .. quote(tmp))
  if os.execute("mkdir -p " .. quote(tmp .. (has_tower and "/vision_tower" or ""))) ~= 0 then
    error(("pack: cannot create %s"):format(tmp), 0)
  end
  local ok, err = pcall(function()
    local w = weights.open(from)
    local step = tostring((exists(from .. "/train_state.json") and json.decode(io.open(from .. "/train_state.json"):read("*a")).step) or "")
    -- the LLM and adapter: the run's index names, for each weight, the file that holds it
    save(tmp .. "/model.safetensors", w, dtype, step)
    for _, f in ipairs { "tokenizer.model", "added_tokens.json", "tokenizer_config.json", "special_tokens_map.json" } do
      if exists(from .. "/" .. f) then copy(from .. "/" .. f, tmp .. "/" .. f) end
    end
    if has_tower then
      save(tmp .. "/vision_tower/model.safetensors", weights.open(tower), dtype, step)
      copy(tower .. "/config.json", tmp .. "/vision_tower/config.json")
      cfg.mm_vision_tower = "vision_tower"
    end
    require("locus").write_text(tmp .. "/config.json", json.encode(cfg) .. "\n")
  end)
  if not ok then
    os.execute("rm -rf " .. quote(tmp))
    error(err, 0)
  end
  if not os.rename(tmp, to) then
    os.execute("rm -rf " .. quote(tmp))
    error(("pack: cannot move %s into place as %s"):format(tmp, to), 0)
  end
end
