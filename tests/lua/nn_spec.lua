local locus = require "locus"
local helper = require "helper"
local T, nn = locus.tensor, locus.nn

describe("nn modules", function()
  it("Linear, LayerNorm, RMSNorm, GELU, SiLU, Embedding compute what the ops compute", function()
    local x = T.randn { 5, 8, seed = 1 }
    local lin = nn.Linear(8, 3, { seed = 2 })
    assert.are.same({ 3, 8 }, lin.weight:shape())
    helper.assert_equal(lin(x), x:linear(lin.weight, lin.bias))
    local nobias = nn.Linear(8, 3, { bias = false, dtype = "bf16" })
    assert.is_nil(nobias.bias)
    assert.are.equal("bf16", nobias.weight:dtype())
    helper.assert_equal(nn.LayerNorm(8, { eps = 1e-6 })(x), x:layer_norm(nil, nil, 1e-6))
    helper.assert_equal(nn.RMSNorm(8)(x), x:rms_norm(nil, 1e-6))
    helper.assert_equal(nn.GELU()(x), x:gelu())
    helper.assert_equal(nn.GELU { approximate = "tanh" }(x), x:gelu_tanh())
    helper.assert_equal(nn.QuickGELU()(x), x:quick_gelu())
    helper.assert_equal(nn.SiLU()(x), x:silu())
    local emb = nn.Embedding(10, 4)
    helper.assert_equal(emb { 3, 0 }, T.cat({ emb.weight:narrow(1, 4, 1), emb.weight:narrow(1, 1, 1) }, 1))
  end)

  it("Sequential chains modules and names parameters as PyTorch does", function()
    local mlp = nn.Sequential(nn.Linear(4, 6), nn.GELU(), nn.Linear(6, 2))
    local x = T.randn { 3, 4, seed = 5 }
    local c = mlp.children
    helper.assert_equal(mlp(x), c[3](c[2](c[1](x))))
    local names = {}
    for k in pairs(mlp:parameters()) do names[#names + 1] = k end
    table.sort(names)
    assert.are.same({ "0.bias", "0.weight", "2.bias", "2.weight" }, names)
    assert.truthy(tostring(mlp):match("%(0%) Linear%(4 %-> 6, f32%)"))
  end)

  it("lets scripts define modules", function()
    local Double = nn.class("Double")
    function Double.new() return setmetatable({}, Double) end
    function Double:forward(x) return x * 2 end
    local m = nn.Sequential(Double(), nn.SiLU())
    helper.assert_equal(m(T.ones(2)), T.full({ 2 }, 2):silu())
    assert.are.equal("Sequential(\n  (0) Double\n  (1) SiLU\n)", tostring(m))
  end)

  it("loads a state by name and checks names and shapes", function()
    local mlp = nn.Sequential(nn.Linear(4, 6), nn.GELU(), nn.Linear(6, 2))
    local state = {
      ["proj.0.weight"] = T.ones(6, 4), ["proj.0.bias"] = T.zeros(6),
      ["proj.2.weight"] = T.ones(2, 6), ["proj.2.bias"] = T.full({ 2 }, 0.5),
    }
    mlp:load_state(state, "proj.")
    local y = mlp(T.ones(1, 4))
    local g = T.scalar(4):gelu():item()
    helper.assert_close(y, T.full({ 1, 2 }, 6 * g + 0.5), 1e-6, 1e-6)
    state["proj.2.bias"] = nil
    assert.has_error(function() mlp:load_state(state, "proj.") end, "load_state: missing tensor 'proj.2.bias'")
    state["proj.2.bias"] = T.zeros(3)
    assert.has_error(function() mlp:load_state(state, "proj.") end,
      "load_state: 'proj.2.bias' has shape [3], the module needs [2]")
  end)

  it("builds modules straight from a checkpoint prefix, with no random weights", function()
    local w = locus.weights.open(helper.fixtures .. "/ckpt/model.safetensors")
    local lin = nn.Linear.load(w, "proj.0.")
    assert.are.equal("bf16", lin.weight:dtype()) -- used as stored
    assert.are.equal("f16", lin.bias:dtype())
    local x = T.randn { 3, 8, seed = 5 }
    helper.assert_equal(lin(x), x:linear(w:get("proj.0.weight"), w:get("proj.0.bias")))
    assert.is_nil(nn.Linear.load(w, "proj.2.").bias) -- no proj.2.bias in the file
    assert.has_error(function() nn.Linear.load(w, "proj.2.", { bias = true }) end)
    assert.is_nil(nn.Linear.load(w, "proj.0.", { bias = false }).bias)
    assert.has_error(function() nn.Linear.load(w, "proj.0.bias") end) -- "proj.0.biasweight" is not there
  end)

  it("runs a fused encoder layer that keeps its tensors alive after every other reference is gone", function()
    local c, hidden, t = 16, 24, 5
    local function r(shape, seed, std) return T.randn(shape, { seed = seed, std = std or 0.2 }) end
    local layer = nn.EncoderLayer({
      ln1_w = r({ c }, 1, 1) + 1, ln1_b = r({ c }, 2), q_w = r({ c, c }, 3), q_b = r({ c }, 4), k_w = r({ c, c }, 5),
      v_w = r({ c, c }, 6), v_b = r({ c }, 7), o_w = r({ c, c }, 8), o_b = r({ c }, 9), ln2_w = r({ c }, 10) + 1,
      ln2_b = r({ c }, 11), fc1_w = r({ hidden, c }, 12), fc1_b = r({ hidden }, 13), fc2_w = r({ c, hidden }, 14),
      fc2_b = r({ c }, 15),
    }, { heads = 2, eps = 1e-6, act = "quick_gelu" })
    collectgarbage()
    collectgarbage() -- only the module holds the temporaries now
    local x = r({ t, c }, 16, 1)
    local p = layer.tensors
    local n = x:layer_norm(p.ln1_w, p.ln1_b, 1e-6)
    local q, k, v = n:linear(p.q_w, p.q_b), n:linear(p.k_w), n:linear(p.v_w, p.v_b)
    local y = x + q:view(t, 2, 8):attention(k:view(t, 2, 8), v:view(t, 2, 8)):view(t, c):linear(p.o_w, p.o_b)
    y = y + y:layer_norm(p.ln2_w, p.ln2_b, 1e-6):linear(p.fc1_w, p.fc1_b):quick_gelu():linear(p.fc2_w, p.fc2_b)
    helper.assert_f32(layer(x), y, { k = hidden, what = "fused vs composed" })
    helper.assert_equal(layer:apply(x:clone()), layer(x))
    assert.has_error(function() nn.EncoderLayer({ ln1_w = p.ln1_w }, {}) end)
    assert.has_error(function() nn.EncoderLayer(p, { act = "relu" }) end)
  end)
end)
