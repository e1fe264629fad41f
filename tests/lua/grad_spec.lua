-- locus.grad (csrc/ops/grad.c): every backward pass against PyTorch's autograd on the same random
-- inputs (tests/fixtures/make_grads.py), and against central differences of locus's own forward.
local helper = require "helper"
local grad = require "locus.grad"
local tensor = require "locus.tensor"
local npy = require "locus.npy"

local function fx(case, name) return npy.load(("%s/grads/%s_%s.npy"):format(helper.fixtures, case, name)) end

-- k: the terms behind each gradient element (for the f32 error model), layers: stages stacked
local function same(got, case, name, k, layers)
  helper.assert_f32(got, fx(case, name), { k = k, layers = layers or 2, what = case .. " " .. name })
end

local function total(t) return t:contiguous():view(t:numel()):sum(1):item() end

-- central differences of sum(f(x) * dy) with respect to a few elements of x, against dx
local function finite_differences(f, x, dy, dx, what)
  local ffi = require "ffi"
  local xf = x:float():contiguous():clone()
  local n = xf:numel()
  local p, d = ffi.cast("float *", xf:data()), ffi.cast("const float *", dx:contiguous():data())
  for _, i in ipairs { 0, math.floor(n / 3), math.floor(n / 2), n - 1 } do
    local v = p[i]
    local h = 1e-2 * math.max(1, math.abs(v))
    p[i] = v + h
    local up = total(f(xf) * dy)
    p[i] = v - h
    local down = total(f(xf) * dy)
    p[i] = v
    local numeric, analytic = (up - down) / (2 * h), d[i]
    assert.is_true(math.abs(numeric - analytic) <= 2e-2 * math.max(1, math.abs(analytic)),
      ("%s: element %d: finite differences %.6g, backward %.6g"):format(what, i, numeric, analytic))
  end
end

describe("locus.grad against PyTorch's autograd", function()
  it("rms_norm", function()
    local c = "rms_norm"
    local dx, dw = grad.rms_norm(fx(c, "dy"), fx(c, "x"), fx(c, "w"), 1e-6)
    same(dx, c, "dx", 64)
    same(dw, c, "dw", 5)
    finite_differences(function(x) return x:rms_norm(fx(c, "w"), 1e-6) end, fx(c, "x"), fx(c, "dy"), dx, c)
  end)

  it("layer_norm, and parameter gradients add up over calls", function()
    local c = "layer_norm"
    local acc = { dw = tensor.zeros { 48 }, db = tensor.zeros { 48 } }
    local dx = grad.layer_norm(fx(c, "dy"), fx(c, "x"), fx(c, "w"), 1e-5, acc)
    grad.layer_norm(fx(c, "dy"), fx(c, "x"), fx(c, "w"), 1e-5, acc)
    same(dx, c, "dx", 48)
    helper.assert_f32(acc.db, fx(c, "db") * 2, { k = 10, what = "layer_norm db, twice" })
    helper.assert_f32(acc.dw, fx(c, "dw") * 2, { k = 10, what = "layer_norm dw, twice" })
    finite_differences(function(x) return x:layer_norm(fx(c, "w"), fx(c, "b"), 1e-5) end, fx(c, "x"), fx(c, "dy"), dx, c)
  end)

  for _, kind in ipairs { "gelu", "gelu_tanh", "quick_gelu", "silu" } do
    it("activation " .. kind, function()
      local c = "act_" .. kind
      local dx = grad.activation(kind, fx(c, "dy"), fx(c, "x"))
      same(dx, c, "dx", 1)
      local forward = { gelu = "gelu", gelu_tanh = "gelu_tanh", quick_gelu = "quick_gelu", silu = "silu" }
      finite_differences(function(x) return x[forward[kind]](x) end, fx(c, "x"), fx(c, "dy"), dx, c)
    end)
  end

  it("swiglu", function()
    local c = "swiglu"
    local dg, du = grad.swiglu(fx(c, "dy"), fx(c, "g"), fx(c, "u"))
    same(dg, c, "dg", 1)
    same(du, c, "du", 1)
  end)

  for _, form in ipairs { "rope", "rope_interleaved" } do
    it(form, function()
      local pos0 = fx(form, "pos0"):item()
      local dx = grad.rope(fx(form, "dy"), pos0, 10000, form == "rope_interleaved")
      same(dx, form, "dx", 2)
      finite_differences(function(x) return x:rope(pos0, 10000, form == "rope_interleaved") end, fx(form, "x"),
        fx(form, "dy"), dx, form)
    end)
  end

  for _, causal in ipairs { true, false } do
    local c = causal and "attention_causal" or "attention_full"
    it(c .. (causal and " (grouped-query heads)" or ""), function()
      local q, k, v, dout = fx(c, "q"), fx(c, "k"), fx(c, "v"), fx(c, "dout")
      local dq, dk, dv = grad.attention(dout, q, k, v, causal)
      local s = k:size(1)
      same(dq, c, "dq", s * 8, 3)
      same(dk, c, "dk", q:size(1) * 8, 3)
      same(dv, c, "dv", q:size(1), 3)
      local attend = function(qq) return qq:attention(k, v, causal and s - q:size(1) or nil) end
      finite_differences(attend, q, dout, dq, c .. " dq")
    end)
  end

  it("embedding adds each row's gradient at its id (repeated ids sum)", function()
    local c = "embedding"
    local dw = grad.embedding(fx(c, "dy"), fx(c, "ids"), tensor.zeros { 11, 8 })
    same(dw, c, "dweight", 3)
  end)

  it("cross_entropy, ignoring -100", function()
    local c = "cross_entropy"
    local loss, dlogits = grad.cross_entropy(fx(c, "logits"), fx(c, "targets"))
    assert.is_true(math.abs(loss - fx(c, "loss"):item()) < 1e-5 * math.abs(fx(c, "loss"):item()), tostring(loss))
    same(dlogits, c, "dlogits", 13)
    local all_ignored = tensor.from({ -100, -100, -100, -100, -100, -100 }, "i64")
    local nan, zero = grad.cross_entropy(fx(c, "logits"), all_ignored)
    assert.is_true(nan ~= nan)
    assert.are.equal(0, zero:abs():max():item())
    assert.has_error(function() grad.cross_entropy(fx(c, "logits"), tensor.from({ 1, 2, 3, 4, 5, 13 }, "i64")) end,
      "grad.cross_entropy: cross_entropy: target 13 of row 5 is outside [0, 13)")
  end)

  it("patch_conv: a vision tower's patch embedding", function()
    local c = "patch_conv"
    local dx, dw = grad.patch_conv(fx(c, "dy"), fx(c, "x"), fx(c, "w"))
    same(dx, c, "dx", 5)
    same(dw, c, "dw", 12)
  end)

  it("linear: two matmuls and a sum", function()
    local c = "linear"
    local acc = { db = tensor.zeros { 7 } }
    local dx, dw, db = grad.linear(fx(c, "dy"), fx(c, "x"), fx(c, "w"), acc)
    same(dx, c, "dx", 7)
    same(dw, c, "dw", 12)
    same(db, c, "db", 12)
  end)
end)

describe("locus.train.llama", function()
  it("trains through the tiny LLaMA as PyTorch does: logits, loss, every weight's gradient and the inputs'", function()
    local llm = require "locus.llm"
    local llama = require "locus.train.llama"
    local m = llm.load(helper.fixtures .. "/llama/f32")
    local net = llama.new(m.config, function(name) return m.weights:get(name) end)
    local ids, labels = fx("llama", "ids"), fx("llama", "labels")
    local t = ids:numel()
    local logits, saved = net:forward(m:embed(ids))
    helper.assert_f32(logits, fx("llama", "logits"), { k = 96, layers = 4, what = "training forward vs PyTorch" })
    -- the same as the fused inference decoder
    local ids_table = {}
    for i = 0, t - 1 do ids_table[i + 1] = ids:view(t):narrow(1, i + 1, 1):item() end
    helper.assert_f32(logits, m:logits(ids_table), { k = 96, layers = 4, what = "training forward vs inference forward" })
    local loss, d = grad.cross_entropy(logits:narrow(1, 1, t - 1), labels:narrow(1, 2, t - 1))
    assert.is_true(math.abs(loss - fx("llama", "loss"):item()) < 1e-4, tostring(loss))
    local dlogits = tensor.zeros { t, logits:size(2) }
    dlogits:narrow(1, 1, t - 1):copy(d)
    local grads = {}
    for _, name in ipairs(m.weights:names()) do
      if name ~= "model.embed_tokens.weight" then grads[name] = tensor.zeros(m.weights:get(name):shape()) end
    end
    local dx = net:backward(saved, dlogits, grads)
    same(dx, "llama", "dx", 96, 6)
    local checked = 0
    for name, g in pairs(grads) do
      same(g, "llama", "d." .. name, t * 4, 6)
      checked = checked + 1
    end
    assert.are.equal(2 * 9 + 2, checked) -- nine weights per layer, the final norm and lm_head
  end)
end)

describe("locus.train.optim", function()
  it("AdamW under a warmed-up cosine schedule with clipping follows torch.optim.AdamW step for step", function()
    local optim = require "locus.train.optim"
    local params = { p1 = fx("adamw", "p1_start"), p2 = fx("adamw", "p2_start") }
    local grads = { p1 = tensor.zeros { 7, 5 }, p2 = tensor.zeros { 5 } }
    local opt = optim.adamw { lr = 1e-2, weight_decay = 0.1, warmup = 2, steps = 6, clip = 1.0 }
    local rates = {}
    for step = 1, 6 do
      grads.p1:copy(fx("adamw", "g1_" .. step))
      grads.p2:copy(fx("adamw", "g2_" .. step))
      local _, lr = opt:step(params, grads)
      rates[step] = lr
      assert.are.equal(0, grads.p1:abs():max():item()) -- zeroed for the next step
    end
    assert.are.same({ 0, 5e-3, 1e-2 }, { rates[1], rates[2], rates[3] })
    helper.assert_f32(params.p1, fx("adamw", "p1_end"), { k = 6, layers = 6, what = "p1 after 6 steps" })
    helper.assert_f32(params.p2, fx("adamw", "p2_end"), { k = 6, layers = 6, what = "p2 after 6 steps" })
  end)
end)

describe("locus.train.vit", function()
  it("trains through the tiny CLIP tower as PyTorch does: GroundingGPT's features and every weight's gradient", function()
    local vit = require "locus.train.vit"
    local weights = require "locus.weights"
    local dir = helper.fixtures .. "/groundinggpt/clip"
    local cfg = require("locus.config").read_json(dir .. "/config.json")
    local w = weights.open(dir)
    local net = vit.new(cfg, function(name) return w:get(name) end, "vision_model.")
    local px = npy.load(helper.fixtures .. "/groundinggpt/pixel_values.npy")
    local feats, saved = net:forward(px, -2)
    same(feats, "vit", "feats", 3 * 14 * 14, 4)
    -- the same as the inference tower (the fused C layers)
    local clip = require("locus.clip").load(dir)
    helper.assert_f32(feats, clip:features(px, { layer = -2 }), { k = 3 * 14 * 14, layers = 4, what = "vs locus.clip" })
    local grads, checked = {}, 0
    for _, name in ipairs(w:names()) do grads[name] = tensor.zeros(w:get(name):shape()) end
    net:backward(saved, fx("vit", "dy"), grads)
    for name, g in pairs(grads) do
      local path = ("%s/grads/vit_d.%s.npy"):format(helper.fixtures, name)
      local f = io.open(path, "rb")
      if f and name:match("k_proj%.bias$") then
        -- a key bias adds the same q.b to every score of a query: softmax ignores it, so its true
        -- gradient is zero and both sides are rounding noise
        f:close()
        assert.is_true(g:abs():max():item() < 1e-4 and fx("vit", "d." .. name):abs():max():item() < 1e-4, name)
        checked = checked + 1
      elseif f then
        f:close()
        same(g, "vit", "d." .. name, 577 * 4, 8)
        checked = checked + 1
      else -- the last layer does not reach hidden state -2: no gradient
        assert.truthy(name:find("layers.2.", 1, true) or name:find("post_layernorm", 1, true), name)
        assert.are.equal(0, g:abs():max():item(), name)
      end
    end
    assert.is_true(checked >= 30, tostring(checked))
  end)
end)
