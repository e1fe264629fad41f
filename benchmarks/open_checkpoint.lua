-- Opening a checkpoint the size of GroundingGPT-7B: time and resident memory.
--   bin/lego run benchmarks/open_checkpoint.lua [DIR]      (default build/bench-groundinggpt-7b)
-- The first run writes DIR: the LLaMA-7B + mm_projector tensors of GroundingGPT-7B (vocab 32009)
-- in bf16, random values, as two safetensors shards with an index, 13.5 GB in all. Then it times
-- lego.weights.open on the directory, and reads resident memory (VmRSS) after opening, after
-- taking every tensor (views: nothing is read), and after summing one 11008 x 4096 weight.
local ffi = require "ffi"
local T = lego.tensor
local dir = arg[1] or (lego.core.checkout_root .. "/build/bench-groundinggpt-7b")

ffi.cdef "typedef struct { long sec; long nsec; } bench_timespec; int clock_gettime(int clk, bench_timespec *ts);"
local ts = ffi.new("bench_timespec")
local function clock()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.sec) + tonumber(ts.nsec) * 1e-9
end

local function rss_mb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmRSS:%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end

local function tensors()
  local list = { { "model.embed_tokens.weight", { 32009, 4096 } } }
  for l = 0, 31 do
    local p = "model.layers." .. l .. "."
    for _, t in ipairs {
      { "self_attn.q_proj.weight", { 4096, 4096 } }, { "self_attn.k_proj.weight", { 4096, 4096 } },
      { "self_attn.v_proj.weight", { 4096, 4096 } }, { "self_attn.o_proj.weight", { 4096, 4096 } },
      { "mlp.gate_proj.weight", { 11008, 4096 } }, { "mlp.up_proj.weight", { 11008, 4096 } },
      { "mlp.down_proj.weight", { 4096, 11008 } }, { "input_layernorm.weight", { 4096 } },
      { "post_attention_layernorm.weight", { 4096 } },
    } do
      list[#list + 1] = { p .. t[1], t[2] }
    end
  end
  for _, t in ipairs {
    { "model.norm.weight", { 4096 } }, { "model.mm_projector.0.weight", { 4096, 1024 } },
    { "model.mm_projector.0.bias", { 4096 } }, { "model.mm_projector.2.weight", { 4096, 4096 } },
    { "model.mm_projector.2.bias", { 4096 } }, { "lm_head.weight", { 32009, 4096 } },
  } do
    list[#list + 1] = t
  end
  return list
end

-- safetensors by hand: 8-byte header length, JSON header, data (random bf16 from one 64 MB block)
local function write_shards()
  os.execute("mkdir -p '" .. dir .. "'")
  local block = T.randn { 32 * 2 ^ 20, seed = 7, std = 0.02, dtype = "bf16" }
  local block_bytes = block:nbytes()
  local list, shards, shard, size = tensors(), {}, nil, 0
  for _, t in ipairs(list) do
    local n = 2
    for _, d in ipairs(t[2]) do n = n * d end
    t.bytes = n
    if not shard or size + n > 10e9 then
      shard = { tensors = {} }
      shards[#shards + 1] = shard
      size = 0
    end
    shard.tensors[#shard.tensors + 1] = t
    size = size + n
  end
  local index = {}
  for i, s in ipairs(shards) do
    local name = ("model-%05d-of-%05d.safetensors"):format(i, #shards)
    local parts, off = {}, 0
    for _, t in ipairs(s.tensors) do
      parts[#parts + 1] = ('"%s":{"dtype":"BF16","shape":[%s],"data_offsets":[%d,%d]}'):format(t[1],
        table.concat(t[2], ","), off, off + t.bytes)
      off = off + t.bytes
      index[#index + 1] = ('"%s":"%s"'):format(t[1], name)
    end
    local header = "{" .. table.concat(parts, ",") .. "}"
    header = header .. (" "):rep((8 - #header % 8) % 8)
    local f = assert(io.open(dir .. "/" .. name, "wb"))
    local len = ffi.new("uint64_t[1]", #header)
    f:write(ffi.string(len, 8), header)
    local pos = 0
    for _, t in ipairs(s.tensors) do
      local left = t.bytes
      while left > 0 do
        local start = pos % block_bytes
        local n = math.min(left, block_bytes - start)
        f:write(ffi.string(ffi.cast("char *", block:data()) + start, n))
        pos, left = pos + n, left - n
      end
    end
    f:close()
    io.write(("wrote %s (%.1f GB)\n"):format(name, off / 1e9))
  end
  local f = assert(io.open(dir .. "/model.safetensors.index.json", "w"))
  f:write('{"metadata":{},"weight_map":{', table.concat(index, ","), "}}\n")
  f:close()
end

if not io.open(dir .. "/model.safetensors.index.json") then write_shards() end

collectgarbage()
local rss0 = rss_mb()
local times = {}
local w
for i = 1, 7 do
  if w then w:close() end
  local t0 = clock()
  w = lego.weights.open(dir)
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

print(("machine: %s, %d threads"):format(lego.cpu_features(), lego.num_threads()))
print(("checkpoint: %s, %d tensors, %.2f GB bf16 in 2 shards"):format(dir, #names, total / 1e9))
print(("open (index + 2 shard headers + mmap): median %.2f ms, min %.2f ms, max %.2f ms over %d runs"):format(
  times[4] * 1e3, times[1] * 1e3, times[#times] * 1e3, #times))
print(("resident memory: %.0f MB before, +%.1f MB after open, +%.1f MB with a view of every tensor"):format(
  rss0, rss_open - rss0, rss_views - rss0))
print(("reading one 11008 x 4096 bf16 weight (90 MB) into f32 and summing: %.0f ms, resident +%.0f MB (sum %.3f)"):format(
  read_s * 1e3, rss_read - rss_views, s))
