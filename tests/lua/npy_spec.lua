local locus = require "locus"
local helper = require "helper"
local T, npy = locus.tensor, locus.npy
local dir = helper.fixtures .. "/npy/"

describe("npy", function()
  it("reads every dtype numpy writes (f64 as f32)", function()
    local base = { { -6, -5, -4, -3 }, { -2, -1, 0, 1 }, { 2, 3, 4, 5 } }
    local function map(f)
      local r = {}
      for i, row in ipairs(base) do
        r[i] = {}
        for j, v in ipairs(row) do r[i][j] = f(v) end
      end
      return r
    end
    for name, dt in pairs { f32 = "f32", f16 = "f16", f64 = "f32", i32 = "i32", i64 = "i64", i8 = "i8" } do
      local t = npy.load(dir .. "dtype_" .. name .. ".npy")
      assert.are.equal(dt, t:dtype())
      local want = name:sub(1, 1) == "f" and map(function(v) return v * 1.5 end) or base
      assert.are.same(want, t:totable(), name)
    end
    assert.are.same(map(function(v) return v % 7 end), npy.load(dir .. "dtype_u8.npy"):totable())
    assert.are.same(map(function(v) return v % 7 ~= 0 end), npy.load(dir .. "dtype_bool.npy"):totable())
    assert.are.equal(2.5, npy.load(dir .. "scalar_f32.npy"):item())
    assert.are.same({ 0, 3 }, npy.load(dir .. "empty_f32.npy"):shape())
  end)

  it("maps files copy-on-write on request", function()
    local t = npy.load(dir .. "dtype_f32.npy", { mmap = true })
    assert.are.equal("window", t:storage_kind())
    assert.are.same(npy.load(dir .. "dtype_f32.npy"):totable(), t:totable())
    t:fill(0) -- lands in private pages, never in the file
    assert.are.equal(-9, npy.load(dir .. "dtype_f32.npy"):get(1, 1))
  end)

  it("saves what it loads, for every dtype it can write, and views", function()
    local tmp = helper.tmpdir()
    for _, dt in ipairs { "f32", "f16", "i8", "u8", "i32", "i64", "bool" } do
      local t = T.randn({ 3, 5, seed = 4 }):affine(3, 0):to(dt)
      npy.save(tmp .. "/x.npy", t)
      local back = npy.load(tmp .. "/x.npy")
      assert.are.equal(dt, back:dtype())
      assert.are.same(t:totable(), back:totable())
    end
    local v = T.arange(12):view(3, 4):t()
    npy.save(tmp .. "/v.npy", v)
    assert.are.same(v:totable(), npy.load(tmp .. "/v.npy"):totable())
    npy.save(tmp .. "/s.npy", T.scalar(7))
    assert.are.equal(7, npy.load(tmp .. "/s.npy"):item())
    os.execute("rm -rf " .. tmp)
  end)

  it("writes files numpy reads", function()
    local tmp = helper.tmpdir()
    npy.save(tmp .. "/x.npy", T.arange(6):view(2, 3))
    local rc, out = helper.sh("/usr/bin/python3 -c \"import numpy as n; a=n.load('" .. tmp ..
      "/x.npy'); print(a.dtype, a.shape, a.sum())\"")
    if rc == 0 then
      assert.are.equal("float32 (2, 3) 15.0\n", out)
    else
      print("skipped the numpy check: " .. out:gsub("\n.*", ""))
    end
    os.execute("rm -rf " .. tmp)
  end)

  it("refuses bad files with the file name and the reason", function()
    local cases = {
      ["fortran.npy"] = "Fortran%-order",
      ["object.npy"] = "unsupported %.npy dtype '|O'",
      ["bigendian.npy"] = "unsupported %.npy dtype '>f4'",
      ["truncated.npy"] = "truncated %.npy file",
      ["header_only.npy"] = "runs past the end of the file",
      ["missing.npy"] = "cannot open",
    }
    for file, pattern in pairs(cases) do
      local ok, err = pcall(npy.load, dir .. file)
      assert.is_false(ok, file)
      assert.truthy(err:find(dir .. file, 1, true), err)
      assert.truthy(err:match(pattern), err)
    end
    local ok, err = pcall(npy.load, helper.fixtures .. "/make_fixtures.py")
    assert.is_false(ok)
    assert.truthy(err:match("not a %.npy file"), err)
  end)

  it("never leaves a partial file behind", function()
    local ok, err = pcall(npy.save, "/nonexistent-dir/x.npy", T.zeros(3))
    assert.is_false(ok)
    assert.truthy(err:match("/nonexistent%-dir/x%.npy: cannot write"), err)
    local tmp = helper.tmpdir()
    ok = pcall(npy.save, tmp .. "/x.npy", T.zeros({ 3 }, "bf16"))
    assert.is_false(ok) -- .npy has no bfloat16
    local _, listing = helper.sh("ls -A " .. tmp)
    assert.are.equal("", listing)
    os.execute("rm -rf " .. tmp)
  end)
end)
