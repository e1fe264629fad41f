-- Runs bench_matmul (locus, OpenBLAS, oneDNN) and PyTorch's F.linear on the same shapes, one after
-- the other in one run, and prints one Markdown table with ratios.
--   bin/locus run benchmarks/matmul.lua [--quick]
local root = locus.core.checkout_root
local quick = arg[1] == "--quick" and " --quick" or ""

local function csv(cmd)
  local rows = {}
  local f = assert(io.popen(cmd))
  local header
  for line in f:lines() do
    local fields = {}
    for v in line:gmatch("[^,]+") do fields[#fields + 1] = v end
    if not header then
      header = fields
    else
      local row = {}
      for i, name in ipairs(header) do row[name] = tonumber(fields[i]) end
      rows[#rows + 1] = row
    end
  end
  f:close()
  return rows
end

local function key(r) return r.M .. "x" .. r.N .. "x" .. r.K end

local threads = locus.num_threads()
local ours = csv(root .. "/build/benchmarks/bench_matmul --csv" .. quick)
local torch = {}
for _, r in ipairs(csv("/usr/bin/python3 " .. root .. "/benchmarks/matmul_torch.py --threads " .. threads .. quick ..
  " 2>/dev/null")) do torch[key(r)] = r end

print(("GFLOP/s of y = x W^T, %d threads, kernels %s, cpu: %s"):format(threads, locus.kernel_path(), locus.cpu_features()))
print()
print("| M | N | K | locus f32 | locus bf16 | OpenBLAS f32 | oneDNN f32 | oneDNN bf16 | torch f32 | torch bf16 | locus f32 / torch f32 | locus bf16 / torch bf16 |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for _, r in ipairs(ours) do
  local t = torch[key(r)]
  local function cell(v) return v and ("%.1f"):format(v) or "n/a" end
  local function ratio(a, b) return (a and b) and ("%.2f"):format(a / b) or "n/a" end
  print(("| %d | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |"):format(r.M, r.N, r.K, cell(r.locus_f32),
    cell(r.locus_bf16), cell(r.openblas_f32), cell(r.onednn_f32), cell(r.onednn_bf16), cell(t and t.torch_f32),
    cell(t and t.torch_bf16), ratio(r.locus_f32, t and t.torch_f32), ratio(r.locus_bf16, t and t.torch_bf16)))
end
if next(torch) == nil then print("\n(PyTorch not found: apt-get install python3-torch for its columns)") end
