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
end)
