-- locus_attention at LLaMA-7B's head shapes (32 heads of 128, no GQA), causal over a 2048-position
-- cache: prompts of 64, 650 and 2048 rows, and one decoded row after 650 and 2000 cached positions;
-- keys and values token-major ([S][heads][D], the decoder's old cache) and head-major ([heads][S][D],
-- its cache now), f32 and f16.
--   bin/locus run benchmarks/attention.lua [--baseline DIR]
-- DIR: another checkout, built, whose bin/locus runs this same script (--csv) first, so the two
-- sides are measured back to back in one run and printed as ratios. A layout that checkout's
-- locus_attention refuses shows as n/a.
local T = locus.tensor
local core = locus.core
local H, D, CTX = 32, 128, 2048

local cases = {
  { "prefill", 64, 0, "f32" }, { "prefill", 650, 0, "f32" }, { "prefill", 2048, 0, "f32" }, { "prefill", 650, 0, "f16" },
  { "decode", 1, 649, "f32" }, { "decode", 1, 1999, "f32" }, { "decode", 1, 649, "f16" }, { "decode", 1, 1999, "f16" },
}

-- [CTX, H, D] keys or values in one of the two layouts
local function cache(layout, dtype, seed)
  if layout == "token" then return T.randn({ CTX, H, D }, { seed = seed, dtype = dtype }) end
  return T.randn({ H, CTX, D }, { seed = seed, dtype = dtype }):transpose(1, 2)
end

-- milliseconds per call: one warm-up call, then 5 batches of calls (each at least 0.2 s and 2
-- calls); the fastest batch counts, the one least disturbed by other processes on the machine
local function time_case(c, layout)
  local t, pos0, dtype = c[2], c[3], c[4]
  local q, out = T.randn({ t, H, D }, { seed = 1 }), T.empty { t, H, D }
  local k, v = cache(layout, dtype, 2), cache(layout, dtype, 3)
  local function run() return core.call(core.C.locus_attention, out, q, k, v, pos0, 1) == 0 end
  if not run() then return nil end
  local best = math.huge
  for _ = 1, 5 do
    local n, t0 = 0, core.clock()
    repeat
      assert(run())
      n = n + 1
    until n >= 2 and core.clock() - t0 >= 0.2
    best = math.min(best, (core.clock() - t0) / n * 1e3)
  end
  return best
end

local function label(c) return ("%s t=%d pos0=%d %s"):format(c[1], c[2], c[3], c[4]) end

local function measure_all()
  local r = {}
  for _, c in ipairs(cases) do
    for _, layout in ipairs { "token", "head" } do r[label(c) .. " " .. layout] = time_case(c, layout) end
  end
  return r
end

local function csv_line(r, c, layout)
  local ms = r[label(c) .. " " .. layout]
  return ("%s,%s,%s"):format(label(c), layout, ms and ("%.4f"):format(ms) or "n/a")
end

if arg[1] == "--csv" then
  local r = measure_all()
  for _, c in ipairs(cases) do
    for _, layout in ipairs { "token", "head" } do print(csv_line(r, c, layout)) end
  end
  return
end

local base = {}
if arg[1] == "--baseline" then
  local script = locus.core.realpath(arg[0] or "benchmarks/attention.lua")
  local p = assert(io.popen(("%s/bin/locus run %s --csv"):format(arg[2], script)))
  for line in p:lines() do
    local name, layout, ms = line:match("^([^,]+),([^,]+),([^,]+)$")
    if name then base[name .. " " .. layout] = tonumber(ms) end
  end
  p:close()
end
local new = measure_all()

local cpu = io.open("/proc/cpuinfo"):read("*a"):match("model name%s*:%s*([^\n]+)") or "unknown CPU"
print(("%s; %d threads, kernels %s; %d heads x %d, causal, cache of %d positions; ms per call (best of 5 batches)"):format(cpu,
  locus.num_threads(), locus.kernel_path(), H, D, CTX))
print()
print("| case | baseline token-major | token-major | head-major | baseline token-major / head-major |")
print("|---|---:|---:|---:|---:|")
local function f(v) return v and ("%.3f"):format(v) or "n/a" end
for _, c in ipairs(cases) do
  local l = label(c)
  local b, tm, hm = base[l .. " token"], new[l .. " token"], new[l .. " head"]
  print(("| %s | %s | %s | %s | %s |"):format(l, f(b), f(tm), f(hm), (b and hm) and ("%.2f"):format(b / hm) or "n/a"))
end
