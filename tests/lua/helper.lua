-- Shared by the Lua specs: paths, fixtures and tolerant comparisons.
local lego = require "lego"

local helper = {}
local root = lego.core.checkout_root
helper.root = root
helper.fixtures = root .. "/tests/fixtures"
helper.lego_cmd = root .. "/bin/lego"

function helper.fixture(name) return lego.npy.load(helper.fixtures .. "/ops/" .. name .. ".npy") end

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
  assert(worst <= 1, ("%s: element %d is %.9g, expected %.9g (rtol %g, atol %g)"):format(
    what or "tensor", where, tonumber(gp[where]), tonumber(wp[where]), rtol, atol))
end

function helper.assert_equal(got, want, what) helper.assert_close(got, want, 0, 0, what) end

-- Runs a shell command; returns its exit status and output (stdout and stderr together).
function helper.sh(cmd)
  local f = io.popen("(" .. cmd .. ") 2>&1; echo \"__rc=$?\"")
  local out = f:read("*a")
  f:close()
  local rc = tonumber(out:match("__rc=(%d+)%s*$"))
  return rc, (out:gsub("__rc=%d+%s*$", ""))
end

function helper.tmpdir()
  local rc, out = helper.sh("mktemp -d")
  assert(rc == 0, out)
  return (out:gsub("%s+$", ""))
end

-- Runs fn under each kernel path this CPU has (ref first), restoring "auto" afterwards.
function helper.each_kernel_path(fn)
  local features = lego.cpu_features()
  local paths = { "ref" }
  if features:match("avx2") and features:match("fma") then paths[#paths + 1] = "avx2" end
  if features:match("avx512f") and features:match("avx512bw") then paths[#paths + 1] = "avx512" end
  for _, p in ipairs(paths) do
    lego.set_kernel_path(p)
    local ok, err = pcall(fn, p)
    lego.set_kernel_path("auto")
    if not ok then error(("[kernel path %s] %s"):format(p, tostring(err)), 0) end
  end
end


return helper
