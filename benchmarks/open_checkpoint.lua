-- Opening a checkpoint the size of GroundingGPT-7B: time and resident memory.
--   bin/locus run benchmarks/open_checkpoint.lua [DIR]      (default build/bench-groundinggpt-7b)
-- The first run writes DIR (benchmarks/random_checkpoint.lua): the LLaMA-7B + image adapter tensors
-- of GroundingGPT-7B (vocab 32009) in bf16, random values, two safetensors shards with an index,
-- 13.5 GB in all. Then it times
-- locus.weights.open on the directory, and reads resident memory (VmRSS) after opening, after
-- taking every tensor (views: nothing is read), and after summing one 11008 x 4096 weight.
local T = locus.tensor
local dir = arg[1] or (locus.core.checkout_root .. "/build/bench-groundinggpt-7b")

local clock = locus.clock

local function rss_mb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmRSS:%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end

if not io.open(dir .. "/model.safetensors.index.json") then
  local rc = dofile(locus.core.checkout_root .. "/benchmarks/random_checkpoint.lua")
  rc.write(dir, rc.groundinggpt_7b(), { dtype = "bf16" })
end

collectgarbage()
local rss0 = rss_mb()
local times = {}
local w
for i = 1, 7 do
  if w then w:close() end
  local t0 = clock()
  w = locus.weights.open(dir)
  times[i] = clock() - t0
end
table.sort(times)
local names = w:names()
local rss_open = rss_mb()
local total = 0
local held = {}
for _, n in ipairs(names) do
  local t = w:get(n)
  held[#held + 1] = t
  total = total + t:nbytes()
end
local rss_views = rss_mb()
local t0 = clock()
local s = w:get("model.layers.0.mlp.gate_proj.weight"):float():sum():item()
local read_s = clock() - t0
local rss_read = rss_mb()

print(("machine: %s, %d threads"):format(locus.cpu_features(), locus.num_threads()))
print(("checkpoint: %s, %d tensors, %.2f GB bf16 in 2 shards"):format(dir, #names, total / 1e9))
print(("open (index + 2 shard headers + mmap): median %.2f ms, min %.2f ms, max %.2f ms over %d runs"):format(
  times[4] * 1e3, times[1] * 1e3, times[#times] * 1e3, #times))
print(("resident memory: %.0f MB before, +%.1f MB after open, +%.1f MB with a view of every tensor"):format(
  rss0, rss_open - rss0, rss_views - rss0))
print(("reading one 11008 x 4096 bf16 weight (90 MB) into f32 and summing: %.0f ms, resident +%.0f MB (sum %.3f)"):format(
  read_s * 1e3, rss_read - rss_views, s))
