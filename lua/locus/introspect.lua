-- locus.introspect: what the console (and a notebook) can tell about the names in scope.
--   introspect.complete("locus.ten", env)    --> {"locus.tensor"}
--   introspect.complete("x:nar", env)        --> {"x:narrow"}       (x a tensor: its methods)
--   introspect.doc("locus.load", env)        --> "locus.load(dir, opts)\n  A GroundingGPT model directory ..."
-- Completion walks tables, the methods a value's metatable offers (models, modules) and a
-- tensor's methods; it never calls anything, so completing cannot run code. The doc of a Lua
-- function is its definition line and the comment block above it, read from its source file.
local ffi = require "ffi"
local core = require "locus.core"

local introspect = {}

local KEYWORDS = { "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in", "local",
  "nil", "not", "or", "repeat", "return", "then", "true", "until", "while" }

-- The fields a value offers: its own string keys (tables), then those of its metatable's __index
-- chain; a tensor's methods. kind "methods" keeps only functions.
local function fields(v, methods_only)
  local out, seen = {}, {}
  local function add(t)
    for k, x in pairs(t) do
      if type(k) == "string" and k:match("^[%a_][%w_]*$") and not seen[k] and (not methods_only or type(x) == "function") then
        seen[k] = true
        out[#out + 1] = k
      end
    end
  end
  local depth = 0
  if type(v) == "cdata" and ffi.istype(core.handle_type, v) then
    v = require("locus.tensor").Tensor
  end
  while type(v) == "table" and depth < 8 do
    add(v)
    local mt = getmetatable(v)
    v = type(mt) == "table" and rawget(mt, "__index") or nil
    depth = depth + 1
  end
  table.sort(out)
  return out
end

-- The value an expression like `a.b.c` names in env, without calling anything; nil if any step
-- is not a plain field.
local function resolve(path, env)
  local v = env
  for name in path:gsub(":", "."):gmatch("[^%.]+") do
    if not name:match("^[%a_][%w_]*$") then return nil end
    if type(v) == "table" then
      v = v[name]
    elseif type(v) == "cdata" and ffi.istype(core.handle_type, v) then
      v = require("locus.tensor").Tensor[name]
    else
      return nil
    end
    if v == nil then return nil end
  end
  return v
end

-- Completions of the word at the end of `text` (the part after the last space or bracket):
-- `name` -> globals and keywords; `a.b.na` -> fields of a.b; `a:na` -> methods of a.
function introspect.complete(text, env)
  local head, sep, partial = text:match("^(.-)([%.:])([%w_]*)$")
  local candidates, prefix
  if head and head ~= "" and head:match("^[%a_][%w_%.]*$") then
    local v = resolve(head, env)
    if v == nil then return {} end
    candidates, prefix = fields(v, sep == ":"), head .. sep
  else
    partial = text:match("([%a_][%w_]*)$") or ""
    candidates, prefix = fields(env), ""
    for _, k in ipairs(KEYWORDS) do candidates[#candidates + 1] = k end
    table.sort(candidates)
  end
  local out, last = {}, nil
  for _, c in ipairs(candidates) do
    if c:sub(1, #partial) == partial and c ~= last then out[#out + 1] = prefix .. c end
    last = c
  end
  return out
end

-- The source lines of a Lua function: its definition and the comments just above it.
local function source_doc(fn)
  local info = debug.getinfo(fn, "S")
  if info.what ~= "Lua" or not info.source:match("^@") or info.linedefined < 1 then return nil end
  local f = io.open(info.source:sub(2))
  if not f then return nil end
  local lines = {}
  for line in f:lines() do
    lines[#lines + 1] = line
    if #lines >= info.linedefined then break end
  end
  f:close()
  local def = lines[info.linedefined]
  if not def then return nil end
  local comments = {}
  for i = info.linedefined - 1, 1, -1 do
    local c = lines[i]:match("^%s*%-%-%s?(.*)$")
    if not c then break end
    table.insert(comments, 1, c)
  end
  local signature = def:match("function%s+([%w_%.:]+%s*%b())") or def:match("([%w_%.:]+)%s*=%s*function%s*(%b())")
  return signature, comments, info.source:sub(2) .. ":" .. info.linedefined
end

-- A help text for the value an expression names: a function's signature line and doc comment,
-- a table's fields, a tensor's shape and dtype; and whether the name names anything.
function introspect.doc(path, env)
  local v = resolve(path, env)
  if v == nil then return path .. ": nothing by that name", false end
  if type(v) == "function" then
    local signature, comments, where = source_doc(v)
    if not signature then return path .. ": a built-in function (no Lua source)", true end
    local name = path:match("[%w_]+$")
    signature = signature:gsub("^[%w_%.:]*" .. name, path, 1)
    local text = { signature }
    for _, c in ipairs(comments) do text[#text + 1] = "  " .. c end
    text[#text + 1] = "  (" .. where .. ")"
    return table.concat(text, "\n"), true
  end
  if type(v) == "cdata" and ffi.istype(core.handle_type, v) then
    return ("%s: tensor %s [%s]"):format(path, v:dtype(), table.concat(v:shape(), ", ")), true
  end
  if type(v) == "table" then
    return ("%s: a table with %s"):format(path, table.concat(fields(v), ", ")), true
  end
  return ("%s: a %s, %s"):format(path, type(v), tostring(v)), true
end

return introspect
