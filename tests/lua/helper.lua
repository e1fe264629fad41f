-- Shared by the Lua specs: paths, fixtures and tolerant comparisons.
local locus = require "locus"

local helper = {}
local root = locus.core.checkout_root
helper.root = root
helper.fixtures = root .. "/tests/fixtures"
helper.locus_cmd = root .. "/bin/locus"

function helper.fixture(name) return locus.npy.load(helper.fixtures .. "/ops/" .. name .. ".npy") end

-- Largest |got - want| / (atol + rtol |want|) over all elements must stay <= 1.
function helper.assert_close(got, want, rtol, atol, what)
  rtol, atol = rtol or 1e-5, atol or 1e-6
  local gs, ws = table.concat(got:shape(), ","), table.concat(want:shape(), ",")
  assert(gs == ws, ("%s: shape [%s] vs expected [%s]"):format(what or "tensor", gs, ws))
  local g, w = got:float():contiguous(), want:float():contiguous()
  local ffi = require "ffi"
  local gp, wp = ffi.cast("float *", g:data()), ffi.cast("float *", w:data())
  local worst, where = 0, -1
  for i = 0, g:numel() - 1 do
    local g1, w1 = gp[i], wp[i]
    local e
    if g1 == w1 or (g1 ~= g1 and w1 ~= w1) then
      e = 0 -- equal, or both NaN
    else
      e = math.abs(g1 - w1) / (atol + rtol * math.abs(w1))
      if e ~= e then e = math.huge end -- one NaN, or inf vs finite
    end
    if e > worst then worst, where = e, i end
  end
  if worst > 1 then -- (the message only then: where is -1 when nothing differs)
    error(("%s: element %d is %.9g, expected %.9g (rtol %g, atol %g)"):format(what or "tensor", where,
      tonumber(gp[where]), tonumber(wp[where]), rtol, atol), 2)
  end
end

function helper.assert_equal(got, want, what) helper.assert_close(got, want, 0, 0, what) end

-- The error model for comparing two f32 computations of the same function that may add in another
-- order (PyTorch vs locus, a batch vs one frame, oneDNN's kernels for other row counts, another
-- kernel path). A dot product of k terms in f32 is off by about u*sqrt(k) of its terms' scale
-- (u = 2^-24; rounding errors add like a random walk, Higham 2.8), and each of `layers` stages
-- stacked on one another adds its own. So |got - want| <= C * u * sqrt(k) * layers * scale, with
-- scale = max |want| (the tensor's magnitude: an element near zero is as uncertain as a large one)
-- and C = 64 for what normalizations and softmax amplify. The bound does not depend on the CPU,
-- on its kernels or on the number of rows, and is still ~1e-4 of the scale or tighter at the
-- fixtures' sizes: a wrong weight, a transposed matrix or a missing stage is off by the scale itself.
helper.F32_UNIT_ROUNDOFF = 2 ^ -24
helper.F32_SAFETY = 64
function helper.f32_tolerance(k, layers, scale)
  return helper.F32_SAFETY * helper.F32_UNIT_ROUNDOFF * math.sqrt(k) * (layers or 1) * scale
end

-- The error of a product with Q8_0/Q4_0 weights in "fast" precision against the same weights
-- dequantized (w, f32 [N, K]) times f32 x [M, K]: each 32-block of an x row is quantized with
-- the scale amax/127 (kept as f16), so an element moves by at most amax/254 (rounding) plus
-- amax/2048 (the f16 scale), and y[m, n] by that times the block's sum of |w|. Returns the
-- bound per element, f32 [M, N], with f32 rounding of the sums on top.
function helper.q8_activation_bound(x, w)
  local m, k, n = x:size(1), x:size(2), w:size(1)
  local xa, wa = x:float():abs(), w:float():abs()
  local bound = locus.tensor.zeros { m, n }
  for b = 0, k / 32 - 1 do
    local amax = xa:narrow(2, b * 32 + 1, 32):max(2)                       -- [M]
    local wsum = wa:narrow(2, b * 32 + 1, 32):sum(2)                       -- [N]
    bound = bound + (amax * (1 / 254 + 1 / 2048)):view(m, 1) * wsum:view(1, n)
  end
  local exact_scale = xa:matmul(wa:t())                                    -- sum |x| |w|
  return bound + exact_scale * (64 * helper.F32_UNIT_ROUNDOFF * math.sqrt(k))
end

-- The error of bf16 arithmetic: rounding a value to bf16 moves it by at most u = 2^-8 of itself,
-- and every stage that rounds its inputs (locus's bf16 precision) or its outputs too (PyTorch in
-- bf16) adds about that much of the result's scale. So two computations of `layers` stacked stages
-- that differ only in where they round to bf16 stay within 2^-8 * layers * C * scale, with C = 2
-- for one that rounds every op's output (PyTorch) and C = 1 for one that rounds only the inputs of
-- its products (locus); the bound of two such runs against each other is the sum.
helper.BF16_UNIT_ROUNDOFF = 2 ^ -8
function helper.bf16_tolerance(layers, scale, c) return (c or 1) * helper.BF16_UNIT_ROUNDOFF * layers * scale end

-- opts: k (terms per dot product), layers (stacked stages, default 1), what
function helper.assert_f32(got, want, opts)
  assert(opts and opts.k, "assert_f32: give k, the terms per dot product")
  local scale = want:float():abs():max():item()
  local atol = helper.f32_tolerance(opts.k, opts.layers, math.max(scale, 1e-30))
  helper.assert_close(got, want, 0, atol, (opts.what or "tensor") .. (" (error model: k %d, layers %d, scale %.3g)"):format(
    opts.k, opts.layers or 1, scale))
end

-- Runs a shell command; returns its exit status and output (stdout and stderr together).
function helper.sh(cmd)
  local f = io.popen("(" .. cmd .. ") 2>&1; echo \"__rc=$?\"")
  local out = f:read("*a")
  f:close()
  local rc = tonumber(out:match("__rc=(%d+)%s*$"))
  return rc, (out:gsub("__rc=%d+%s*$", ""))
end

-- s as one shell word, whatever it holds (newlines, quotes)
function helper.quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

function helper.tmpdir()
  local rc, out = helper.sh("mktemp -d")
  assert(rc == 0, out)
  return (out:gsub("%s+$", ""))
end

-- Runs fn under each kernel path this CPU has (ref first), restoring "auto" afterwards.
function helper.each_kernel_path(fn)
  local features = locus.cpu_features()
  local paths = { "ref" }
  if features:match("avx2") and features:match("fma") then paths[#paths + 1] = "avx2" end
  if features:match("avx512f") and features:match("avx512bw") then paths[#paths + 1] = "avx512" end
  for _, p in ipairs(paths) do
    locus.set_kernel_path(p)
    local ok, err = pcall(fn, p)
    locus.set_kernel_path("auto")
    if not ok then error(("[kernel path %s] %s"):format(p, tostring(err)), 0) end
  end
end


return helper
