-- Completion and help in the console (locus.introspect), and `?name` through the console itself.
local locus = require "locus"
local helper = require "helper"
local I = locus.introspect

describe("introspect", function()
  local env = setmetatable({ locus = locus, x = locus.tensor.ones(2), m = locus.load(helper.fixtures .. "/groundinggpt/model") },
    { __index = _G })

  it("completes globals, keywords, table fields, tensor methods and model methods", function()
    assert.are.same({ "locus.tensor", "locus.tokenizer", "locus.train" }, I.complete("locus.t", env))
    assert.are.same({ "x:narrow" }, I.complete("x:narr", env))
    assert.are.same({ "print" }, I.complete("prin", env))
    assert.are.same({ "function" }, I.complete("functio", env))
    local model = I.complete("m:", env) -- the recipe's stages and the pipeline's steps
    for _, want in ipairs { "m:ground", "m:encode", "m:encode_image", "m:prompt_ids", "m:answer", "m:parse" } do
      assert.truthy(table.concat(model, " "):find(want, 1, true), want)
    end
    assert.are.same({}, I.complete("nothing.here", env))
    assert.are.same({}, I.complete("locus.version.x", env)) -- a string has no fields to offer
  end)

  it("shows a function's signature and doc comment, and what other values are", function()
    local doc = I.doc("locus.tensor.randn", env)
    assert.truthy(doc:find("^locus.tensor.randn%(%.%.%.%)\n  Normal values"), doc)
    assert.truthy(I.doc("x:narrow", env):find("^x:narrow%(d, start, length%)"))
    assert.truthy(I.doc("m:ground", env):find("^m:ground%(opts%)\n  The whole request"), I.doc("m:ground", env))
    assert.are.equal("x: tensor f32 [2]", I.doc("x", env))
    assert.are.equal("nope: nothing by that name", I.doc("nope", env))
    assert.truthy(I.doc("print", env):find("built%-in"))
  end)

  it("answers ?name in the console", function()
    local rc, out = helper.sh(("printf '?locus.load\\n1 + 1\\n' | %s"):format(helper.locus_cmd))
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("locus.load(dir, opts)", 1, true), out)
    assert.truthy(out:find("\n2\n", 1, true), out)
  end)
end)
