-- locus.core: loads liblocus through LuaJIT's FFI.
-- The declarations come from csrc/locus.h itself (the region between LOCUS_CDEF_BEGIN and
-- LOCUS_CDEF_END), so the C header stays the single source of truth.
local ffi = require "ffi"

-- LuaJIT 2.1.0-beta3 (Debian 12's) sometimes crashes in its garbage collector after its loop
-- optimization has compiled certain loops: `locus eval` died with SIGSEGV in one run in five,
-- always inside lj_gc, never with the JIT off, with the collector stopped, or with "-loop" (or
-- "-fwd"); no C error under AddressSanitizer. locus's arithmetic is in C, so going without that one
-- optimization costs little (locus scenes, pixel loops in Lua: no measurable difference).
jit.opt.start("-loop")

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
                        "void *malloc(size_t n);", "int isatty(int fd);",
                        "int memcmp(const void *a, const void *b, size_t n);",
                        "int setenv(const char *name, const char *value, int overwrite);" } do
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

-- OpenMP's threads wait for work passively unless the user says otherwise: a spinning thread that
-- shares its core with another program takes the time the working one needs, and every parallel
-- loop then waits for it (decoding fell to half speed with one core busy elsewhere). libgomp reads
-- this once, when liblocus brings it in, so it is set before.
ffi.C.setenv("OMP_WAIT_POLICY", "passive", 0)
local ok, lib = pcall(ffi.load, library or "locus")
if not ok then
  error("locus: cannot load liblocus (" .. tostring(library or "system search") .. "): " .. tostring(lib) ..
        "\nBuild it first: cmake -S . -B build && cmake --build build", 0)
end

M.C = lib
M.header_path = header
M.library_path = library

-- ---- calls that keep their tensors alive ------------------------------------------------------
-- A Lua tensor is a small handle (struct locus_Tensor, below) whose collector frees the C tensor.
-- Passing `t.p` to C would hand over a bare pointer: a temporary handle could then be collected,
-- and its tensor freed, while C still reads it (the next argument's allocation can run the
-- collector). So C functions that take tensors are called through M.call(fn, ...): each handle is
-- passed as its pointer while the handles themselves sit in `anchor`, reachable, until C returns.
-- LOCUS_GC_STRESS=1 runs a full collection before every such call, which turns any pointer that
-- escaped this rule into a use-after-free that AddressSanitizer reports (tests/run does so).
ffi.cdef "typedef struct locus_Tensor { locus_tensor *p; } locus_Tensor;"
M.handle_type = ffi.typeof("locus_Tensor")
M.gc_stress = os.getenv("LOCUS_GC_STRESS") == "1"

local istype, handle_type = ffi.istype, M.handle_type
local anchor = {} -- the arguments of the call in flight (C never calls back into Lua: one at a time)
local function raw(x)
  if istype(handle_type, x) then return x.p end
  return x
end

-- One caller per arity, generated so that no call builds a table (the decode loop calls through
-- here once per token).
local MAX_ARGS = 16
local callers = {}
for n = 0, MAX_ARGS do
  local args, raws, slots, clears = {}, {}, {}, {}
  for i = 1, n do
    args[i], raws[i], slots[i], clears[i] = "a" .. i, "raw(a" .. i .. ")", "anchor[" .. i .. "]", "nil"
  end
  local a, keep = table.concat(args, ", "), n > 0 and (table.concat(slots, ", ") .. " = " .. table.concat(args, ", ")) or ""
  local clear = n > 0 and (table.concat(slots, ", ") .. " = " .. table.concat(clears, ", ")) or ""
  local src = ([[
local raw, anchor, stress = ...
return function(fn%s)
  %s
  if stress then collectgarbage() end
  local r = fn(%s)
  %s
  return r
end]]):format(n > 0 and ", " .. a or "", keep, table.concat(raws, ", "), clear)
  callers[n] = assert(loadstring(src, "=locus.core.call/" .. n))(raw, anchor, M.gc_stress)
end

-- M.call for a C function that takes an array of tensor pointers: `keep` (the table of the
-- tensors behind the array) stays reachable until fn returns.
function M.call_with(keep, fn, ...)
  anchor.keep = keep
  local r = M.call(fn, ...)
  anchor.keep = nil
  return r
end

-- fn(...) with every tensor argument passed as its locus_tensor * and kept alive until fn returns.
function M.call(fn, ...)
  local n = select("#", ...)
  if n > MAX_ARGS then error("core.call: more than " .. MAX_ARGS .. " arguments", 2) end
  return callers[n](fn, ...)
end

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

-- Precision of the products (locus.set_precision): "fast" (default), "bf16" or "exact".
local PRECISIONS = { exact = lib.LOCUS_EXACT, fast = lib.LOCUS_FAST, bf16 = lib.LOCUS_FAST_BF16 }
M.PRECISIONS = PRECISIONS

function M.precision()
  local code = lib.locus_precision()
  for name, c in pairs(PRECISIONS) do if c == code then return name end end
end

function M.set_precision(name)
  if not PRECISIONS[name] then error("set_precision: \"exact\", \"fast\" or \"bf16\", not " .. tostring(name), 2) end
  M.check(lib.locus_set_precision(PRECISIONS[name]), "set_precision")
end

-- fn(...) in precision `name` (nil: as it is), the caller's precision restored afterwards, errors too.
function M.with_precision(name, fn, ...)
  local before = M.precision()
  if name == nil or name == before then return fn(...) end
  M.set_precision(name)
  local out = { pcall(fn, ...) }
  M.set_precision(before)
  if not out[1] then error(out[2], 0) end
  return unpack(out, 2, table.maxn(out))
end

return M
