-- K-quant models: llama.cpp's Q4_K_M mix as locus.quantize plans it, and a small random LLaMA
-- (widths multiples of 256) converted to q4_k_m, q5_k and q6_k by `locus convert` giving, in
-- "exact" precision, the logits of the same model with its dequantized weights in f32.
local locus = require "locus"
local helper = require "helper"
local quantize = locus.quantize

local function convert(src, out, to)
  local rc, msg = helper.sh(("%s convert %s %s --type %s"):format(helper.locus_cmd, helper.quote(src), helper.quote(out), to))
  assert(rc == 0, msg)
end

describe("quantize (the q4_k_m plan)", function()
  it("picks llama.cpp's Q4_K_M types for a 32-layer LLaMA", function()
    local names = { "token_embd.weight", "output.weight", "output_norm.weight" }
    for i = 0, 31 do names[#names + 1] = "blk." .. i .. ".attn_v.weight" end
    local model = quantize.model(names)
    assert.are.same({ n_layers = 32, tied = false }, model)
    local function plan(name, shape, dtype) return quantize.dtype_for("q4_k_m", name, dtype or "bf16", shape, model) end
    assert.are.equal("q6_k", plan("output.weight", { 32000, 4096 }))
    assert.are.equal("q4_k", plan("token_embd.weight", { 32000, 4096 }))
    assert.are.equal("f32", plan("output_norm.weight", { 4096 }, "f32"))
    -- use_more_bits: the first and last four of 32 layers and every third from layer 6
    local more = { [0] = 1, 1, 2, 3, [6] = 1, [9] = 1, [12] = 1, [15] = 1, [18] = 1, [21] = 1, [24] = 1, [27] = 1,
      [28] = 1, [29] = 1, [30] = 1, [31] = 1 }
    for i = 0, 31 do
      local want = more[i] and "q6_k" or "q4_k"
      assert.are.equal(want, plan("blk." .. i .. ".attn_v.weight", { 4096, 4096 }), "attn_v of layer " .. i)
      assert.are.equal(want, plan("blk." .. i .. ".ffn_down.weight", { 4096, 11008 }), "ffn_down of layer " .. i)
      assert.are.equal(want, plan("model.layers." .. i .. ".mlp.down_proj.weight", { 4096, 11008 }), "HF down_proj " .. i)
      assert.are.equal("q4_k", plan("blk." .. i .. ".attn_q.weight", { 4096, 4096 }))
      assert.are.equal("q4_k", plan("blk." .. i .. ".ffn_gate.weight", { 11008, 4096 }))
    end
    -- rows that do not fill super-blocks fall back to q8_0 (llama.cpp: Q5_0/Q5_1/Q8_0), or f16
    assert.are.equal("q8_0", plan("blk.0.attn_q.weight", { 4096, 4000 }))
    assert.are.equal("q8_0", plan("output.weight", { 32000, 4000 }))
    assert.are.equal("f16", plan("blk.0.attn_q.weight", { 10, 100 }))
    -- tied embeddings: the token embedding is the output matrix and gets its type
    assert.are.equal("q6_k", quantize.dtype_for("q4_k_m", "token_embd.weight", "f16", { 32000, 4096 },
      quantize.model { "token_embd.weight", "blk.0.attn_q.weight" }))
    -- plain types: rows that do not fit stay as stored
    assert.are.equal("q5_k", quantize.dtype_for("q5_k", "blk.0.attn_q.weight", "f32", { 64, 512 }, model))
    assert.are.equal("f32", quantize.dtype_for("q5_k", "blk.0.attn_q.weight", "f32", { 64, 96 }, model))
  end)

  it("is what locus convert --type accepts, and a wrong --type is refused by name", function()
    local rc, out = helper.sh(helper.locus_cmd .. " convert a.gguf b.gguf --type q3_k")
    assert.are.equal(1, rc)
    assert.matches("--type must be one of f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k, q4_k_m, not 'q3_k'", out, 1, true)
  end)
end)

describe("K-quant LLaMA", function()
  local dir, f32
  setup(function()
    dir = helper.tmpdir()
    f32 = dir .. "/f32.gguf"
    local rc, out = helper.sh(("%s run %s %s f32 256 512"):format(helper.locus_cmd,
      helper.quote(helper.root .. "/tests/llama_cpp/make_tiny_llama.lua"), helper.quote(f32)))
    assert(rc == 0, out)
  end)
  teardown(function() helper.sh("rm -rf " .. helper.quote(dir)) end)

  it("converts to q4_k_m with the documented type per tensor", function()
    convert(f32, dir .. "/q4_k_m.gguf", "q4_k_m")
    local w = locus.weights.open(dir .. "/q4_k_m.gguf")
    local want = { ["token_embd.weight"] = "q4_k", ["output.weight"] = "q6_k", ["output_norm.weight"] = "f32",
      ["blk.0.attn_v.weight"] = "q4_k", ["blk.1.attn_v.weight"] = "q6_k", -- use_more_bits(1, 2): the last eighth
      ["blk.0.ffn_down.weight"] = "q4_k", ["blk.1.ffn_down.weight"] = "q6_k" }
    for _, info in ipairs(w:infos()) do
      local dtype = want[info.name] or (#info.shape == 1 and "f32" or "q4_k")
      assert.are.equal(dtype, info.dtype, info.name)
    end
    assert.are.equal("Q6_K", w:info("output.weight").stored_type)
  end)

  for _, to in ipairs { "q4_k_m", "q5_k", "q6_k" } do
    it("gives the logits of its dequantized f32 weights in exact precision (" .. to .. ")", function()
      local q, deq = dir .. "/" .. to .. ".gguf", dir .. "/" .. to .. "_f32.gguf"
      convert(f32, q, to)
      convert(q, deq, "f32") -- every K-quant matrix dequantized, nothing else changed
      local ids = { 1, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100 }
      local ok, err = pcall(function()
        locus.set_precision("exact")
        local mq, md = locus.llm.load(q), locus.llm.load(deq)
        local lq, ld = mq:logits(ids), md:logits(ids)
        helper.assert_f32(lq, ld, { k = 512, layers = 2, what = to .. " logits" })
        assert.are.same(md:generate { ids = ids, max_new_tokens = 8 }.ids, mq:generate { ids = ids, max_new_tokens = 8 }.ids)
        -- "fast": K-quants multiply Q8_0-quantized activations in integers (each product within
        -- q8_activation_bound of exact, tested below), so the logits move by a few percent
        locus.set_precision("fast")
        local lf = locus.llm.load(q):logits(ids)
        local spread = lq:max():item() + (-lq):max():item()
        assert.truthy((lf - lq):abs():max():item() <= 0.05 * spread, to .. ": fast logits far from exact ones")
        assert.truthy((lf - lq):abs():max():item() > 0, to .. ": fast should quantize the activations")
      end)
      locus.set_precision("fast")
      assert(ok, err)
    end)
  end

  it("multiplies K-quant weights with quantized activations within their bound (fast precision)", function()
    local T = locus.tensor
    local x = T.randn { 5, 512, seed = 21 }
    for _, dt in ipairs { "q4_k", "q5_k", "q6_k" } do
      local wq = T.randn { 33, 512, seed = 22, std = 0.05 }:to(dt)
      local wd = wq:float()
      local got, want = x:linear(wq), x:linear(wd)
      local diff = (got - want):abs()
      assert.truthy((diff - helper.q8_activation_bound(x, wd)):max():item() <= 0, dt .. ": outside the activation-quantization bound")
      assert.truthy(diff:max():item() > 0, dt .. ": fast and exact should differ")
    end
  end)
end)
