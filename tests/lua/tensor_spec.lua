local locus = require "locus"
local helper = require "helper"
local T = locus.tensor

describe("tensor", function()
  it("creates tensors of every dtype with shape, dtype and values", function()
    for _, dt in ipairs { "f32", "f16", "bf16", "i8", "u8", "i32", "i64", "bool" } do
      local z = T.zeros({ 2, 3 }, dt)
      assert.are.equal(dt, z:dtype())
      assert.are.same({ 2, 3 }, z:shape())
      assert.are.equal(6, z:numel())
      assert.are.equal(0, z:get(2, 3))
      assert.are.equal(1, T.ones({ 4 }, dt):get(4))
    end
    assert.are.same({ 5 }, T.zeros(5):shape())
    assert.are.same({}, T.scalar(3):shape())
    assert.are.equal(3, T.scalar(3):item())
    assert.are.same({ 0, 1, 2, 3 }, T.arange(4, "i32"):totable())
    assert.are.equal(2 ^ 25 + 1, T.arange(2 ^ 25 + 2, "i64"):get(-1))
  end)

  it("round-trips nested tables", function()
    local t = T.from { { 1, 2, 3 }, { 4, 5, 6 } }
    assert.are.same({ 2, 3 }, t:shape())
    assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 } }, t:totable())
    assert.are.same({ 7, -8 }, T.from({ 7, -8 }, "i64"):totable())
    assert.are.same({ true, false }, T.from({ true, false }, "bool"):totable())
    assert.has_error(function() T.from { { 1, 2 }, { 3 } } end, "tensor.from: ragged table: dim 2 has sizes 2 and 1")
  end)

  it("makes the same normal numbers for the same seed, whatever the dtype", function()
    local a, b = T.randn { 1000, seed = 7 }, T.randn { 1000, seed = 7 }
    helper.assert_equal(a, b)
    local c = T.randn { 1000, seed = 8 }
    assert.is_true(math.abs(a:get(1) - c:get(1)) > 0)
    local mean, var = 0, 0
    local big = T.randn { 20000, seed = 3 }
    mean = big:mean():item()
    var = ((big - mean) * (big - mean)):mean():item()
    assert.is_true(math.abs(mean) < 0.03, "mean " .. mean)
    assert.is_true(math.abs(var - 1) < 0.05, "var " .. var)
    helper.assert_close(T.randn { 1000, seed = 7, dtype = "bf16" }, a, 1 / 128, 0)
    local scaled = T.randn { 1000, seed = 7, mean = 2, std = 0.5 }
    helper.assert_close(scaled, a * 0.5 + 2, 1e-6, 1e-6)
  end)

  it("views share storage: narrow, select, transpose, permute, view, expand", function()
    local t = T.from { { 0, 1, 2, 3 }, { 4, 5, 6, 7 }, { 8, 9, 10, 11 } }
    assert.are.same({ { 1, 2 }, { 5, 6 }, { 9, 10 } }, t:narrow(2, 2, 2):totable())
    assert.are.same({ 4, 5, 6, 7 }, t:select(1, 2):totable())
    assert.are.same({ 3, 7, 11 }, t:select(2, -1):totable())
    local tt = t:transpose(1, 2)
    assert.are.same({ 4, 3 }, tt:shape())
    assert.are.same({ 1, 4 }, tt:stride())
    assert.is_false(tt:is_contiguous())
    assert.are.equal(6, tt:get(3, 2))
    local p = T.arange(24):view(2, 3, 4):permute(3, 1, 2)
    assert.are.same({ 4, 2, 3 }, p:shape())
    assert.are.equal(1 * 12 + 2 * 4 + 3, p:get(4, 2, 3))
    assert.are.same({ 6, 2 }, t:view(6, -1):shape())
    local e = T.from({ 1, 2, 3 }):view(1, 3):expand(2, 3)
    assert.are.same({ 0, 1 }, e:stride())
    assert.are.same({ { 1, 2, 3 }, { 1, 2, 3 } }, e:totable())
    -- writes through a view land in the shared storage
    t:select(1, 1):fill(-1)
    assert.are.same({ -1, -1, -1, -1 }, t:select(1, 1):totable())
    assert.are.same({ -1, 4, 8 }, tt:select(1, 1):totable())
  end)

  it("reshape copies only when a view is impossible", function()
    local t = T.arange(6):view(2, 3):transpose(1, 2)
    assert.has_error(function() t:view(6) end,
      "view: reshape: [3, 2] f32 is not contiguous enough to view without a copy (call contiguous() first)")
    assert.are.same({ 0, 3, 1, 4, 2, 5 }, t:reshape(6):totable())
    assert.are.same({ 0, 3, 1, 4, 2, 5 }, t:contiguous():view(6):totable())
    -- a view across a narrowed-but-contiguous-rows tensor works without copying
    local rows = T.arange(12):view(4, 3):narrow(1, 2, 2)
    assert.are.same({ 3, 4, 5, 6, 7, 8 }, rows:view(6):totable())
  end)

  it("casts with round-to-nearest-even and saturation", function()
    local x = T.from { 1.0, 1 + 2 ^ -8, 1 + 3 * 2 ^ -8, 65504, 70000, 1e-8, -2.5 }
    assert.are.same({ 1, 1, 1 + 2 ^ -6, 65536, 70144, 1e-8, -2.5 }, (function()
      local b = x:to("bf16"):float():totable()
      b[6] = 1e-8 -- bf16 keeps 1e-8 only approximately; checked below
      return b
    end)())
    assert.is_true(math.abs(x:to("bf16"):float():get(6) - 1e-8) < 1e-10)
    local h = x:to("f16"):float():totable()
    assert.are.equal(65504, h[4])
    assert.are.equal(math.huge, h[5])
    assert.are.same({ 127, -128, 0 }, T.from({ 300, -300, 0 / 0 }):to("i8"):totable())
    assert.are.same({ 2, -2 }, T.from({ 2.7, -2.7 }):to("i32"):totable())
  end)

  it("operators broadcast and accept scalars", function()
    local a = T.from { { 1, 2, 3 }, { 4, 5, 6 } }
    local b = T.from { 10, 20, 30 }
    assert.are.same({ { 11, 22, 33 }, { 14, 25, 36 } }, (a + b):totable())
    assert.are.same({ { 2, 4, 6 }, { 8, 10, 12 } }, (a * 2):totable())
    assert.are.same({ { 0, 1, 2 }, { 3, 4, 5 } }, (a - 1):totable())
    assert.are.same({ { -1, -2, -3 }, { -4, -5, -6 } }, (-a):totable())
    assert.are.same({ { 0.5, 1, 1.5 }, { 2, 2.5, 3 } }, (a / 2):totable())
    assert.has_error(function() return a + T.zeros(4) end, "add: shapes [2, 3] f32 and [4] f32 do not broadcast (dim 1: 3 vs 4)")
    -- the ops compute their output shapes themselves (locus.h's shape query); nothing is left recorded
    local C = locus.core.C
    local sizes = require("ffi").new("int64_t[8]")
    C.locus_shape_query_begin()
    assert.are.equal(-1, locus.core.call(C.locus_matmul, nil, T.ones(2, 3, 4), T.ones(4, 5)))
    assert.are.equal(3, C.locus_shape_query_end(sizes))
    assert.are.same({ 2, 3, 5 }, { tonumber(sizes[0]), tonumber(sizes[1]), tonumber(sizes[2]) })
    assert.are.equal(-1, C.locus_shape_query_end(sizes))
    assert.are.same({ 2, 7, 3, 5 }, T.ones(2, 1, 3, 4):matmul(T.ones(7, 4, 5)):shape())
    assert.has_error(function() return T.ones(2, 3):matmul(T.ones(4, 5)) end)
    assert.are.same({ 1, 4, 3, 3 }, T.ones(1, 2, 7, 7):conv2d(T.ones(4, 2, 3, 3), nil, 2):shape())
  end)

  it("raises errors that carry liblocus's message", function()
    local t = T.zeros(2, 3)
    assert.has_error(function() t:narrow(2, 3, 2) end, "narrow: [2, 4) is outside dim 1 of size 3")
    assert.has_error(function() t:select(3, 1) end, "select: dim 2 out of range for 2 dims")
    assert.has_error(function() t:get(3, 1) end, "index 3 out of range for dim 1 of size 2")
    assert.has_error(function() T.zeros({ 2 }, "f64") end)
    assert.has_error(function() T.zeros(-1) end, "zeros: locus_tensor_new: negative size -1 in dim 0")
    assert.has_error(function() t:matmul(T.zeros(2, 3)) end,
      "matmul: cannot multiply [2, 3] f32 by [2, 3] f32 (need float [..., M, K] @ [..., K, N])")
  end)

  it("prints dtype, shape and values, summarizing big tensors", function()
    local s = tostring(T.from { { 1, 2 }, { 3, 4 } })
    assert.are.equal("tensor f32 [2, 2]\n[[1.0000, 2.0000],\n [3.0000, 4.0000]]", s)
    local big = tostring(T.randn { 100, 200, seed = 1 })
    assert.truthy(big:match("^tensor f32 %[100, 200%]  min %S+  max %S+  mean %S+  std %S+\n"))
    assert.truthy(big:find("...", 1, true))
    assert.are.equal("tensor i64 [3]\n[1, 2, 3]", tostring(T.from({ 1, 2, 3 }, "i64")))
    assert.are.equal("tensor f32 [0, 3] (empty)", tostring(T.zeros(0, 3)))
  end)

  it("frees tensors when they are collected: 100k tensors keep memory flat #memory", function()
    local C = locus.core.C
    local function rss_kb()
      local f = io.open("/proc/self/statm")
      local pages = f:read("*n")
      pages = f:read("*n")
      f:close()
      return pages * 4
    end
    collectgarbage()
    local storages0 = tonumber(C.locus_live_storages())
    for _ = 1, 2000 do local _ = T.zeros(64, 64) end -- warm up allocator and JIT
    collectgarbage()
    local rss0 = rss_kb()
    local peak = 0
    for i = 1, 100000 do -- 1.6 GB in all if nothing were freed; no manual collection here
      local t = T.zeros(64, 64)
      local v = t:narrow(1, 2, 8):transpose(1, 2)
      assert(v)
      if i % 1000 == 0 then peak = math.max(peak, rss_kb() - rss0) end
    end
    assert.is_true(peak < 200000, ("resident memory grew by %d kB during the loop"):format(peak))
    collectgarbage()
    collectgarbage()
    assert.is_true(tonumber(C.locus_live_storages()) <= storages0 + 2, "storages leaked")
  end)

  it("releases a tensor's memory at once on request, and twice is harmless", function()
    local C = require("locus.core").C
    local t = T.randn({ 500, 400 }, { dtype = "bf16" })
    local before = tonumber(C.locus_live_bytes())
    local f = t:float()
    assert.are.equal(before + 500 * 400 * 4, tonumber(C.locus_live_bytes()))
    f:release()
    f:release()
    assert.are.equal(before, tonumber(C.locus_live_bytes()))
    local v = t:narrow(1, 1, 10) -- a view keeps the storage: releasing the tensor frees only its header
    t:release()
    assert.are.equal(10 * 400, v:numel())
    assert.are.equal("bf16", v:dtype())
  end)
end)

