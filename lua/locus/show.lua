-- locus.show: readable text for tensors, in numpy's style: nested brackets, long dims summarized
-- as "first 3, ..., last 3", one number format per tensor, and for large tensors a line of
-- statistics.
local ffi = require "ffi"

local show = {}

local EDGE = 3        -- items kept at each end of a summarized dim
local FULL_LIMIT = 64 -- tensors with at most this many elements print whole

local function stats(t)
  local f = t:float():contiguous()
  local p = ffi.cast("float *", f:data())
  local n = f:numel()
  local lo, hi, sum, sq, nan = math.huge, -math.huge, 0, 0, 0
  for i = 0, n - 1 do
    local v = p[i]
    if v ~= v then
      nan = nan + 1
    else
      if v < lo then lo = v end
      if v > hi then hi = v end
      sum, sq = sum + v, sq + v * v
    end
  end
  local m = n - nan
  if m == 0 then return ("all %d values NaN"):format(n) end
  local mean = sum / m
  local std = math.sqrt(math.max(sq / m - mean * mean, 0))
  local s = ("min %.4g  max %.4g  mean %.4g  std %.4g"):format(lo, hi, mean, std)
  if nan > 0 then s = s .. ("  (%d NaN)"):format(nan) end
  return s
end

-- indices shown along a dim of the given size (0 marks the "..." gap)
local function shown(size, summarize)
  local idx = {}
  if summarize and size > 2 * EDGE then
    for i = 1, EDGE do idx[#idx + 1] = i end
    idx[#idx + 1] = 0
    for i = size - EDGE + 1, size do idx[#idx + 1] = i end
  else
    for i = 1, size do idx[i] = i end
  end
  return idx
end

local function formatter(t, summarize)
  local isint = not require("locus.tensor").is_float(t)
  if t:dtype() == "bool" then return function(v) return v ~= 0 and "true" or "false" end end
  if isint then return function(v) return ("%d"):format(v) end end
  -- one format for every value shown, chosen from their magnitudes
  local maxabs, minabs = 0, math.huge
  local shape = t:shape()
  local function scan(depth, idx)
    if depth > #shape then
      local v = math.abs(t:get(unpack(idx)))
      if v == v and v ~= math.huge then
        if v > maxabs then maxabs = v end
        if v > 0 and v < minabs then minabs = v end
      end
      return
    end
    for _, i in ipairs(shown(shape[depth], summarize)) do
      if i > 0 then
        idx[depth] = i
        scan(depth + 1, idx)
      end
    end
  end
  scan(1, {})
  local sci = maxabs >= 1e5 or (minabs < 1e-4 and minabs ~= math.huge)
  local fmt = sci and "%.4e" or "%.4f"
  return function(v)
    if v ~= v then return "nan" end
    if v == math.huge then return "inf" end
    if v == -math.huge then return "-inf" end
    return fmt:format(v)
  end
end

local function render(t, summarize)
  local shape = t:shape()
  local fmt = formatter(t, summarize)
  local width = 0
  local function collect(depth, idx)
    if depth > #shape then
      local s = fmt(t:get(unpack(idx)))
      if #s > width then width = #s end
      return s
    end
    local row = {}
    for _, i in ipairs(shown(shape[depth], summarize)) do
      if i == 0 then
        row[#row + 1] = "..."
      else
        idx[depth] = i
        row[#row + 1] = collect(depth + 1, idx)
      end
    end
    return row
  end
  local cells = collect(1, {})
  local function emit(node, depth)
    if type(node) == "string" then return (" "):rep(width - #node) .. node end
    local parts = {}
    for _, c in ipairs(node) do
      parts[#parts + 1] = c == "..." and "..." or emit(c, depth + 1)
    end
    if depth == #shape then return "[" .. table.concat(parts, ", ") .. "]" end
    local sep = ",\n" .. ("\n"):rep(#shape - depth - 1) .. (" "):rep(depth)
    return "[" .. table.concat(parts, sep) .. "]"
  end
  if #shape == 0 then return fmt(t:get()) end
  return emit(cells, 1)
end

function show.tensor(t)
  local shape = t:shape()
  local head = ("tensor %s [%s]"):format(t:dtype(), table.concat(shape, ", "))
  local n = t:numel()
  if n == 0 then return head .. " (empty)" end
  local summarize = n > FULL_LIMIT
  local body = render(t, summarize)
  if summarize then return head .. "  " .. stats(t) .. "\n" .. body end
  return head .. "\n" .. body
end

-- Any Lua value, for the console: tensors as above, tables one level deep per line (nested
-- tables inline, cut at a depth and a width), strings quoted.
local function inline(v, depth)
  local tensor = require "locus.tensor"
  if tensor.is_tensor(v) then return ("tensor %s [%s]"):format(v:dtype(), table.concat(v:shape(), ", ")) end
  if type(v) == "string" then return ("%q"):format(v) end
  if type(v) ~= "table" then return tostring(v) end
  if depth > 2 then return "{...}" end
  local parts, n = {}, 0
  for i in ipairs(v) do n = i end
  for i = 1, n do
    parts[#parts + 1] = inline(v[i], depth + 1)
    if #parts >= 16 and i < n then parts[#parts + 1] = "..." break end
  end
  local keys = {}
  for k in pairs(v) do
    if not (type(k) == "number" and k >= 1 and k <= n and k == math.floor(k)) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) -- the same order in every process: numbers, then strings, then the rest
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  for _, k in ipairs(keys) do
    local x = v[k]
    if #parts < 32 then
      local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or "[" .. inline(k, depth + 1) .. "]"
      parts[#parts + 1] = key .. " = " .. inline(x, depth + 1)
    end
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function show.value(v)
  local tensor = require "locus.tensor"
  if tensor.is_tensor(v) then return show.tensor(v) end
  return inline(v, 1)
end

return show
