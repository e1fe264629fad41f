-- Every op against references computed by tests/fixtures/make_fixtures.py (numpy in float64, or
-- torch's own functions), under every kernel path this CPU has, with contiguous and strided inputs.
local locus = require "locus"
local helper = require "helper"
local T, fx, close, f32 = locus.tensor, helper.fixture, helper.assert_close, helper.assert_f32

-- the same values in a non-contiguous layout: stored transposed, viewed back
local function strided(t)
  local n = t:dim()
  if n < 2 then return t:view(t:numel(), 1):expand(t:numel(), 2):select(2, 1) end
  return t:transpose(n - 1, n):contiguous():transpose(n - 1, n)
end

describe("ops against PyTorch/numpy fixtures", function()
  it("matmul broadcasts batch dims; contiguous and transposed operands", function()
    helper.each_kernel_path(function()
      local a, b = fx "matmul_a", fx "matmul_b"
      f32(a:matmul(b), fx "matmul_out", { k = 7, what = "matmul" })
      f32(strided(a):matmul(strided(b)), fx "matmul_out", { k = 7, what = "matmul strided" })
      f32(fx("matmul2_a"):matmul(fx "matmul2_b"), fx "matmul2_out", { k = 33, what = "matmul odd sizes" })
      local a2 = fx "matmul2_a"
      f32(strided(a2):matmul(fx "matmul2_b"), fx "matmul2_out", { k = 33, what = "matmul2 strided" })
      -- added into an existing tensor (a gradient accumulator): out + a b, twice
      local out = fx("matmul2_out"):clone()
      for _ = 1, 2 do locus.core.check(locus.core.call(locus.core.C.locus_matmul_acc, out, strided(a2), fx "matmul2_b")) end
      f32(out, fx("matmul2_out"):scale(3), { k = 33, what = "matmul_acc" })
    end)
  end)

  it("linear with f32, bf16 and f16 weights at decode and prefill sizes", function()
    helper.each_kernel_path(function(path)
      for _, m in ipairs { 1, 3, 40 } do
        local x, b = fx("linear_m" .. m .. "_x"), fx("linear_m" .. m .. "_b")
        f32(x:linear(fx("linear_m" .. m .. "_w"), b), fx("linear_m" .. m .. "_out"), { k = 67, what = "f32 m=" .. m })
        local wb = fx("linear_m" .. m .. "_wbf16"):to("bf16")
        f32(x:linear(wb, b), fx("linear_m" .. m .. "_out_bf16"), { k = 67, what = "bf16 m=" .. m })
        close(x:linear(wb, b:to("bf16")), fx("linear_m" .. m .. "_out_bf16"), 1e-2, 1e-2, "bf16 bias m=" .. m)
        local wh = fx("linear_m" .. m .. "_wf16"):to("f16")
        f32(x:linear(wh, b), fx("linear_m" .. m .. "_out_f16"), { k = 67, what = "f16 m=" .. m })
        f32(strided(x):linear(wb, b), fx("linear_m" .. m .. "_out_bf16"), { k = 67, what = "strided x m=" .. m })
        -- leading dims are kept: [m, k] as [1, m, k]
        local y = x:view(1, m, x:size(2)):linear(wb, b)
        assert.are.same({ 1, m, 45 }, y:shape())
      end
    end)
  end)

  it("broadcasting add, sub, mul, div", function()
    local a, b = fx "bin_a", fx "bin_b"
    close(a + b, fx "bin_add", 1e-6, 1e-6, "add")
    close(a - b, fx "bin_sub", 1e-6, 1e-6, "sub")
    close(a * b, fx "bin_mul", 1e-6, 1e-6, "mul")
    close(a / b, fx "bin_div", 1e-6, 1e-6, "div")
    close(strided(a) * strided(b), fx "bin_mul", 1e-6, 1e-6, "mul strided")
    close(a:to("bf16") + b, fx "bin_add", 1e-2, 1e-2, "bf16 add")
  end)

  it("activations", function()
    local x = fx "act_x"
    close(x:gelu(), fx "act_gelu", 1e-5, 1e-6, "gelu")
    close(x:gelu_tanh(), fx "act_gelu_tanh", 1e-5, 1e-6, "gelu_tanh")
    close(x:quick_gelu(), fx "act_quick_gelu", 1e-5, 1e-6, "quick_gelu")
    close(x:silu(), fx "act_silu", 1e-5, 1e-6, "silu")
    close(strided(x):silu(), fx "act_silu", 1e-5, 1e-6, "silu strided")
    close(x:affine(2, -1), x * 2 - 1, 1e-6, 1e-6, "affine")
  end)

  it("softmax, layer norm and RMS norm", function()
    f32(fx("softmax_x"):softmax(), fx "softmax_out", { k = 33, what = "softmax" })
    f32(strided(fx "softmax_x"):softmax(), fx "softmax_out", { k = 33, what = "softmax strided" })
    local x, w, b = fx "ln_x", fx "ln_w", fx "ln_b"
    f32(x:layer_norm(w, b, 1e-5), fx "ln_out", { k = 48, what = "layer_norm" })
    close(x:layer_norm(w:to("bf16"):float(), b, 1e-5), x:layer_norm(w:to("bf16"), b, 1e-5), 0, 0, "bf16 weight")
    f32(x:rms_norm(w, 1e-6), fx "rms_out", { k = 48, what = "rms_norm" })
    -- a fully masked softmax row is NaN, as in torch, and does not crash
    local masked = T.full({ 1, 3 }, -math.huge):softmax()
    assert.is_true(masked:get(1, 1) ~= masked:get(1, 1))
  end)

  it("rotary embedding as HF LLaMA", function()
    close(fx("rope_x"):rope(3, 10000), fx "rope_out", 1e-5, 1e-6, "rope")
    assert.has_error(function() T.zeros(2, 3, 5):rope(0) end)
  end)

  it("embedding rows, in any float dtype, and bad ids", function()
    local w, ids = fx "emb_w", fx "emb_ids"
    close(w:embedding(ids), fx "emb_out", 0, 0, "embedding")
    close(w:to("bf16"):embedding(ids:to("i32")), fx("emb_out"):to("bf16"):float(), 0, 0, "bf16 embedding")
    assert.has_error(function() w:embedding { 3, 50 } end,
      "embedding: id 50 at position 1 is outside the vocabulary [0, 50)")
  end)

  it("conv2d: patch embedding and padded 3x3, oneDNN and reference", function()
    helper.each_kernel_path(function()
      f32(fx("conv_patch_x"):conv2d(fx "conv_patch_w", nil, 14), fx "conv_patch_out", { k = 588, what = "patch conv" })
      f32(fx("conv_pad_x"):conv2d(fx "conv_pad_w", fx "conv_pad_b", 1, 1), fx "conv_pad_out", { k = 27, what = "pad conv" })
    end)
  end)

  it("reductions and top-k", function()
    local x = fx "red_x"
    f32(x:sum(2), fx "red_sum", { k = 9, what = "sum" })
    f32(x:mean(2), fx "red_mean", { k = 9, what = "mean" })
    close(x:max(2), fx "red_max", 0, 0, "max")
    close(x:argmax(2), fx "red_argmax", 0, 0, "argmax")
    f32(strided(x):sum(2), fx "red_sum", { k = 9, what = "sum strided" })
    local v, i = fx("topk_x"):topk(5)
    close(v, fx "topk_values", 0, 0, "topk values")
    close(i, fx "topk_indices", 0, 0, "topk indices")
    local _, ties = T.from({ 1, 3, 3, 2, 3 }):topk(3)
    assert.are.same({ 1, 2, 4 }, ties:totable()) -- equal values: lower index first
  end)

  it("concatenates along any dim", function()
    local a, b = T.from { { 1, 2 }, { 3, 4 } }, T.from { { 5, 6 } }
    assert.are.same({ { 1, 2 }, { 3, 4 }, { 5, 6 } }, T.cat({ a, b }, 1):totable())
    assert.are.same({ { 1, 2, 1, 3 }, { 3, 4, 2, 4 } }, T.cat({ a, a:t() }, 2):totable())
    assert.has_error(function() T.cat({ a, T.zeros(1, 3) }, 1) end)
  end)

  -- Attention composed from matmul and softmax, head by head (k, v [S, KVH, D]; causal from pos0).
  local function attention_reference(q, k, v, pos0)
    local t, h, d = q:size(1), q:size(2), q:size(3)
    local s, kvh = k:size(1), k:size(2)
    local mask = T.zeros { t, s }
    if pos0 then
      for i = 1, t do for j = pos0 + i + 1, s do mask:set(i, j, -math.huge) end end
    end
    local heads = {}
    for hd = 1, h do
      local kv = math.floor((hd - 1) / (h / kvh)) + 1
      local p = (q:select(2, hd):matmul(k:select(2, kv):float():transpose(1, 2)):scale(1 / math.sqrt(d)) + mask):softmax()
      heads[hd] = p:matmul(v:select(2, kv):float()):view(t, 1, d)
    end
    return T.cat(heads, 2)
  end

  it("attention over head-major and token-major keys and values, f32 and f16, causal and full", function()
    -- 70 query rows: the fused path (16 rows and more) in two blocks, and the row path on "ref";
    -- error model: the longest sum is over the 90 keys, two products stacked (scores, values)
    local q = T.randn { 70, 4, 16, seed = 5, std = 2 }
    local stored = T.randn { 2, 100, 16, seed = 6 } -- as the decoder's cache: [KVH][positions][D]
    local token_major = T.randn { 90, 2, 16, seed = 7 }
    helper.each_kernel_path(function(path)
      for _, dtype in ipairs { "f32", "f16" } do
        local k = stored:to(dtype):narrow(2, 1, 90):transpose(1, 2) -- [90, 2, 16], head-major strides
        assert.are.same({ 16, 1600, 1 }, k:stride())
        local v = token_major:to(dtype)
        for _, pos0 in ipairs { 20, false } do
          local what = ("%s %s %s"):format(path, dtype, pos0 and "causal" or "full")
          f32(q:attention(k, v, pos0 or nil), attention_reference(q, k, v, pos0 or nil), { k = 90, layers = 2, what = what })
          f32(q:attention(v, k, pos0 or nil), attention_reference(q, v, k, pos0 or nil), { k = 90, layers = 2, what = what .. " swapped" })
        end
      end
    end)
  end)

  it("gives the same results with 1 and 2 threads", function()
    local x, w = T.randn { 40, 300, seed = 1 }, T.randn { 500, 300, seed = 2, std = 0.05 }
    local n = locus.num_threads()
    locus.set_num_threads(1)
    local one = { x:linear(w:to("bf16")), x:linear(w), x:softmax(), x:layer_norm(nil, nil, 1e-5), x:sum(2) }
    locus.set_num_threads(2)
    local two = { x:linear(w:to("bf16")), x:linear(w), x:softmax(), x:layer_norm(nil, nil, 1e-5), x:sum(2) }
    locus.set_num_threads(n)
    for k = 1, #one do f32(one[k], two[k], { k = 300, what = "result " .. k }) end
  end)
end)
