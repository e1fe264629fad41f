-- locus.eval.dataset: reading the index files of evaluation data, which are untrusted input.
-- Every error names the file (and line) and what is wrong. A media path from an index file must
-- be relative and stay inside the media folder: absolute paths, ".." and NUL bytes are refused, so
-- an index cannot make an evaluation read /etc/shadow or a file elsewhere.
local cjson = require "cjson"

local dataset = {}

function dataset.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

function dataset.is_dir(path) return dataset.exists(path .. "/.") end

-- dir/rel, if rel (from `where`) is a plain relative path
function dataset.media_path(dir, rel, where)
  if type(rel) ~= "string" or rel == "" then error(("%s: the media path is %s, not a file name"):format(where, cjson.encode(rel)), 0) end
  if rel:find("%z") or rel:sub(1, 1) == "/" or rel:sub(1, 1) == "~" then
    error(("%s: refuses the media path %q (absolute; it must be relative to the media folder)"):format(where, rel), 0)
  end
  for part in rel:gmatch("[^/]+") do
    if part == ".." then error(("%s: refuses the media path %q (it climbs out of the media folder)"):format(where, rel), 0) end
  end
  return (dir or ".") .. "/" .. rel
end

-- The objects of a JSON-lines file, each with its line number (blank lines skipped).
function dataset.read_jsonl(path)
  local f, err = io.open(path, "rb")
  if not f then error(("%s: cannot open: %s"):format(path, err:gsub("^[^:]*: ", "")), 0) end
  local rows, n = {}, 0
  for line in f:lines() do
    n = n + 1
    if line:match("%S") then
      local ok, v = pcall(cjson.decode, line)
      if not ok then f:close(); error(("%s:%d: not JSON (%s)"):format(path, n, v), 0) end
      if type(v) ~= "table" or v[1] ~= nil then f:close(); error(("%s:%d: not a JSON object"):format(path, n), 0) end
      rows[#rows + 1] = { value = v, line = n }
    end
  end
  f:close()
  return rows
end

-- The first of `keys` that v holds, as a string.
function dataset.text_field(v, keys, where)
  for _, k in ipairs(keys) do
    if v[k] ~= nil then
      if type(v[k]) ~= "string" then error(("%s: \"%s\" is not a string"):format(where, k), 0) end
      return v[k], k
    end
  end
  error(("%s: no %s"):format(where, table.concat(keys, " or ")), 0)
end

-- v[key] as `n` finite numbers
function dataset.numbers(v, key, n, where)
  local t = v[key]
  if type(t) ~= "table" or #t ~= n then error(("%s: \"%s\" is not a list of %d numbers"):format(where, key, n), 0) end
  local out = {}
  for i = 1, n do
    local x = t[i]
    if type(x) ~= "number" or x ~= x or x == math.huge or x == -math.huge then
      error(("%s: \"%s\" is not a list of %d finite numbers"):format(where, key, n), 0)
    end
    out[i] = x
  end
  return out
end

-- A sample id: a string or an integer in the index, or the line number
function dataset.id(v, keys, fallback, where)
  for _, k in ipairs(keys) do
    local x = v[k]
    if x ~= nil then
      if type(x) == "number" and x == math.floor(x) then return ("%d"):format(x) end
      if type(x) == "string" and x ~= "" then return x end
      error(("%s: \"%s\" is not a string or an integer"):format(where, k), 0)
    end
  end
  return fallback
end

return dataset
