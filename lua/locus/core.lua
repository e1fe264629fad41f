-- locus.core: loads liblocus through LuaJIT's FFI.
-- The declarations come from csrc/locus.h itself (the region between LOCUS_CDEF_BEGIN and
-- LOCUS_CDEF_END), so the C header stays the single source of truth.
local ffi = require "ffi"

local M = {}

local function dirname(p) return (p:gsub("/[^/]*$", "")) end
local function exists(p)
  local f = io.open(p, "rb")
  if f then f:close() return true end
  return false
end

-- this file lives in <root>/lua/locus (checkout) or <tree>/share/lua/5.1/locus (installed)
-- libc declarations that several modules (and bin/locus) need; declaring one twice is an FFI
-- error, so each goes through pcall.
for _, decl in ipairs { "char *realpath(const char *path, char *resolved);", "void free(void *p);",
                        "int isatty(int fd);" } do
  pcall(ffi.cdef, decl)
end

pcall(ffi.cdef, "typedef struct { long sec; long nsec; } locus_timespec; int clock_gettime(int clk, locus_timespec *ts);")
local timespec = ffi.new("locus_timespec")

-- Monotonic seconds, for timing stages.
function M.clock()
  ffi.C.clock_gettime(1, timespec) -- CLOCK_MONOTONIC
  return tonumber(timespec.sec) + tonumber(timespec.nsec) * 1e-9
end

function M.realpath(path)
  local p = ffi.C.realpath(path, nil)
  if p == nil then return path end
  local s = ffi.string(p)
  ffi.C.free(p)
  return s
end

local source = M.realpath(debug.getinfo(1, "S").source:gsub("^@", ""))
local here = source:match("^(.*)/[^/]*$") or "."
M.module_dir = here
M.checkout_root = dirname(dirname(here)) -- meaningful only in a checkout

local function first_existing(...)
  for i = 1, select("#", ...) do
    local p = select(i, ...)
    if p and exists(p) then return p end
  end
end

local header = first_existing(os.getenv("LOCUS_HEADER"), here .. "/locus.h", M.checkout_root .. "/csrc/locus.h")
if not header then
  error("locus: cannot find locus.h (looked beside " .. here .. " and in the checkout's csrc/)")
end

local library = first_existing(os.getenv("LOCUS_LIBRARY"), M.checkout_root .. "/build/liblocus.so",
                               package.searchpath("liblocus", package.cpath))

do
  local f = assert(io.open(header, "rb"))
  local text = f:read("*a")
  f:close()
  local cdef = text:match("/%* LOCUS_CDEF_BEGIN %*/(.-)/%* LOCUS_CDEF_END %*/")
  if not cdef then error("locus: " .. header .. " has no LOCUS_CDEF_BEGIN/END region") end
  ffi.cdef(cdef)
end

local ok, lib = pcall(ffi.load, library or "locus")
if not ok then
  error("locus: cannot load liblocus (" .. tostring(library or "system search") .. "): " .. tostring(lib) ..
        "\nBuild it first: cmake -S . -B build && cmake --build build", 0)
end

M.C = lib
M.header_path = header
M.library_path = library

-- Raises a Lua error carrying liblocus's message (C reports; Lua turns it into error()).
function M.fail(context)
  local msg = ffi.string(lib.locus_last_error())
  if context and msg:sub(1, #context + 1) ~= context .. ":" then msg = context .. ": " .. msg end
  error(msg, 3)
end

-- rc == 0 or raise
function M.check(rc, context)
  if rc ~= 0 then M.fail(context) end
end

return M
