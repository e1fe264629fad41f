-- The LLaMA decoder against a PyTorch transcription of transformers' LlamaForCausalLM
-- (tests/fixtures/make_llama.py), against itself composed from locus's ops in Lua, and
-- stories260K's published greedy story; then generation and the CLI.
local locus = require "locus"
local helper = require "helper"
local T = locus.tensor
local fx = helper.fixtures .. "/llama/"
local shared = helper.root .. "/../shared/assets/models/"

local ids = locus.npy.load(fx .. "ids.npy"):totable()

local function have(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

describe("llm", function()
  it("gives PyTorch's logits at every position, f32 and bf16 weights, and its greedy ids", function()
    for _, v in ipairs { { "f32", "logits", "greedy" }, { "bf16", "logits_bf16", "greedy_bf16" } } do
      local m = locus.llm.load(fx .. v[1])
      local logits = m:logits(ids)
      assert.are.same({ #ids, 400 }, logits:shape())
      helper.assert_f32(logits, locus.npy.load(fx .. v[2] .. ".npy"), { k = 128, layers = 3, what = v[1] .. " logits" })
      assert.are.same(locus.npy.load(fx .. v[3] .. ".npy"):totable(), m:generate { ids = ids, max_new_tokens = 16 }.ids)
    end
  end)

  it("keeps positions in its cache: a prompt in two pieces gives the logits of the whole", function()
    local m = locus.llm.load(fx .. "f32")
    local whole = m:logits(ids)
    local x = m:embed(ids)
    m:forward(x:narrow(1, 1, 30), 0)
    local rest = m:forward(x:narrow(1, 31, #ids - 30):contiguous(), 30)
    helper.assert_f32(rest, whole:narrow(1, 31, #ids - 30), { k = 128, layers = 3, what = "second piece" })
    for k = 1, 3 do -- and token by token
      local one = m:forward(x:narrow(1, 30 + k, 1):contiguous(), 29 + k, { last = true })
      helper.assert_f32(one, whole:narrow(1, 30 + k, 1), { k = 128, layers = 3, what = "token " .. k })
    end
  end)

  it("equals the same model composed in Lua from locus's ops", function()
    local m = locus.llm.load(fx .. "f32")
    local w = locus.weights.open(fx .. "f32")
    local n = #ids
    local x = w:get("model.embed_tokens.weight"):embedding(ids)
    for i = 0, 1 do
      local p = "model.layers." .. i .. "."
      local function W(name) return w:get(p .. name .. ".weight") end
      local h = x:rms_norm(W "input_layernorm", 1e-5)
      local q = h:linear(W "self_attn.q_proj"):view(n, 4, 16):rope(0, 10000)
      local k = h:linear(W "self_attn.k_proj"):view(n, 2, 16):rope(0, 10000)
      local v = h:linear(W "self_attn.v_proj"):view(n, 2, 16)
      x = x + q:attention(k, v, 0):view(n, 64):linear(W "self_attn.o_proj")
      h = x:rms_norm(W "post_attention_layernorm", 1e-5)
      x = x + (h:linear(W "mlp.gate_proj"):silu() * h:linear(W "mlp.up_proj")):linear(W "mlp.down_proj")
    end
    local logits = x:rms_norm(w:get("model.norm.weight"), 1e-5):linear(w:get("lm_head.weight"))
    helper.assert_f32(m:logits(ids), logits, { k = 128, layers = 3, what = "logits" })
    helper.assert_f32(m:hidden(), x:rms_norm(w:get("model.norm.weight"), 1e-5), { k = 128, layers = 3, what = "hidden" })
  end)

  it("reproduces stories260K's greedy story from GGUF and from HF safetensors", function()
    if not have(shared .. "stories260K.gguf") then return pending("../shared/assets is absent") end
    local md = io.open(shared .. "stories260K.md"):read("*a")
    local story = md:match("temperature 0.0.-```\n%$ [^\n]*\n(.-)\n```")
    assert.truthy(story and #story > 500)
    local gguf = locus.llm.load(shared .. "stories260K.gguf")
    local hf = locus.llm.load(shared .. "stories260K_hf", { tokenizer = shared .. "stories260K.gguf" })
    local a = gguf:generate { ids = { 1 }, max_new_tokens = 256 }
    local b = hf:generate { ids = { 1 }, max_new_tokens = 256 }
    assert.are.same(a.ids, b.ids)
    assert.are.equal(story, a.text)
  end)

  it("samples reproducibly with a seed, and top-k 1 is greedy", function()
    local m = locus.llm.load(fx .. "f32")
    local short = { unpack(ids, 1, 8) }
    local s1 = m:generate { ids = short, max_new_tokens = 20, temperature = 0.9, top_p = 0.9, seed = 7 }
    local s2 = m:generate { ids = short, max_new_tokens = 20, temperature = 0.9, top_p = 0.9, seed = 7 }
    local s3 = m:generate { ids = short, max_new_tokens = 20, temperature = 0.9, top_p = 0.9, seed = 8 }
    assert.are.same(s1.ids, s2.ids)
    assert.are_not.same(s1.ids, s3.ids)
    local greedy = m:generate { ids = short, max_new_tokens = 20 }
    assert.are.same(greedy.ids, m:generate { ids = short, max_new_tokens = 20, temperature = 1.5, top_k = 1, seed = 3 }.ids)
    local penalized = m:generate { ids = short, max_new_tokens = 20, repetition_penalty = 1.3 }
    assert.are_not.same(greedy.ids, penalized.ids)
    assert.are.same(greedy.ids, m:generate { ids = short, max_new_tokens = 20, repetition_penalty = 1.0 }.ids)
    -- embeddings in place of ids give the same answer (the path image rows are spliced into)
    assert.are.same(greedy.ids, m:generate { embeds = m:embed(short), max_new_tokens = 20 }.ids)
  end)

  it("stops at stop strings and streams text that never shows them", function()
    local m = locus.llm.load(fx .. "f32")
    local full = m:generate { prompt = "Where is the dog?", max_new_tokens = 40 }
    assert.truthy(#full.text > 10, full.text)
    local stop = full.text:sub(6, 8)
    local streamed = {}
    local cut = m:generate { prompt = "Where is the dog?", max_new_tokens = 40, stop = { "zzzz", stop },
      on_token = function(text) streamed[#streamed + 1] = text end }
    assert.are.equal("stop", cut.stopped)
    assert.are.equal(full.text:sub(1, full.text:find(stop, 1, true) - 1), cut.text)
    assert.are.equal(cut.text, table.concat(streamed))
    local streamed_all = {}
    m:generate { prompt = "Where is the dog?", max_new_tokens = 40, on_token = function(t) streamed_all[#streamed_all + 1] = t end }
    assert.are.equal(full.text, table.concat(streamed_all))
  end)

  it("refuses a context overflow and bad options with clear errors", function()
    local m = locus.llm.load(fx .. "f32", { max_context = 64 })
    local ok, err = pcall(m.generate, m, { ids = ids, max_new_tokens = 10 })
    assert.is_false(ok)
    assert.truthy(err:find("59 prompt tokens + 10 new tokens exceed the context of 64", 1, true), err)
    ok, err = pcall(m.forward, m, m:embed(ids), 10)
    assert.is_false(ok)
    assert.truthy(err:find("exceed the context of 64 tokens", 1, true), err)
    assert.has_error(function() m:generate { ids = { 1 }, temperature = -1 } end)
    assert.has_error(function() m:generate { ids = { 1 }, temperature = 1, top_p = 1.5 } end)
    assert.has_error(function() m:generate {} end)
    assert.has_error(function() m:logits {} end)
    assert.has_error(function() m:logits { 400 } end) -- outside the vocabulary
  end)

  it("locus generate prints text, or one JSON object", function()
    local rc, out = helper.sh(helper.locus_cmd .. " generate --model " .. fx .. "f32 --prompt 'Where is the dog?' --max-new-tokens 12")
    assert.are.equal(0, rc, out)
    local m = locus.llm.load(fx .. "f32")
    assert.are.equal(m:generate { prompt = "Where is the dog?", max_new_tokens = 12 }.text .. "\n", out)
    rc, out = helper.sh(helper.locus_cmd .. " generate --json --model " .. fx .. "bf16 --prompt 'Hi' --max-new-tokens 5 --temperature 0.8 --seed 3 --top-p 0.9")
    assert.are.equal(0, rc, out)
    local j = require("cjson").decode(out)
    local want = locus.llm.load(fx .. "bf16"):generate { prompt = "Hi", max_new_tokens = 5, temperature = 0.8, seed = 3, top_p = 0.9 }
    assert.are.same(want.ids, j.tokens)
    assert.are.equal(want.text, j.text)
    assert.are.equal(want.stopped, j.stopped)
    assert.truthy(j.timing.prefill_s >= 0 and j.timing.decode_tokens_per_s > 0)
    rc, out = helper.sh(helper.locus_cmd .. " generate --model " .. fx .. "f32 --prompt x --max-new-tokens 500")
    assert.are.equal(1, rc, out)
    assert.truthy(out:find("exceed the context of 128", 1, true), out)
  end)

  it("takes a prompt's leading positions from the KV cache when they are the same rows", function()
    local m = locus.llm.load(fx .. "f32")
    local a = m:generate { ids = ids, max_new_tokens = 6 }
    assert.are.equal(0, a.reused_tokens)
    local again = m:generate { ids = ids, max_new_tokens = 6 }
    assert.are.equal(#ids - 1, again.reused_tokens) -- all but the last row, whose logits are needed
    assert.are.same(a.ids, again.ids)
    -- a longer prompt that starts with the first one, and with its answer: only the rest is computed
    local longer = {}
    for i, id in ipairs(ids) do longer[i] = id end
    for _, id in ipairs(a.ids) do longer[#longer + 1] = id end
    longer[#longer + 1] = 17
    local b = m:generate { ids = longer, max_new_tokens = 6 }
    assert.are.equal(#ids + #a.ids - 1, b.reused_tokens) -- the answer's last token was never forwarded
    local whole = m:generate { ids = longer, max_new_tokens = 6, reuse = false }
    assert.are.equal(0, whole.reused_tokens)
    assert.are.same(whole.ids, b.ids)
    -- a prompt that differs early reuses only what is the same
    local other = { ids[1], ids[2], 99 }
    assert.are.equal(2, m:generate { ids = other, max_new_tokens = 1 }.reused_tokens)
    helper.assert_f32(m:forward(m:embed(other), 0, { last = true }), m:logits(other):narrow(1, 3, 1),
      { k = 128, layers = 3, what = "logits after reuse" })
  end)

  it("saves and restores the KV cache", function()
    local m = locus.llm.load(fx .. "f32")
    local first = m:generate { ids = ids, max_new_tokens = 4 }
    local state = m:save_cache(#ids)
    -- [layers, 2, kv_heads, positions, head_dim]: layer 0's keys are its rotated k projection
    assert.are.same({ 2, 2, 2, #ids, 16 }, state.kv:shape())
    local w = locus.weights.open(fx .. "f32")
    local h = m:embed(ids):rms_norm(w:get("model.layers.0.input_layernorm.weight"), 1e-5)
    local k = h:linear(w:get("model.layers.0.self_attn.k_proj.weight")):view(#ids, 2, 16):rope(0, 10000)
    helper.assert_f32(state.kv:select(1, 1):select(1, 1):transpose(1, 2), k, { k = 64, what = "cached keys" })
    m:generate { ids = { 1, 5, 6, 7 }, max_new_tokens = 4 } -- overwrites the cache
    m:restore_cache(state)
    local again = m:generate { ids = ids, max_new_tokens = 4 }
    assert.are.equal(#ids - 1, again.reused_tokens)
    assert.are.same(first.ids, again.ids)
    m:forget()
    assert.are.equal(0, m:generate { ids = ids, max_new_tokens = 1 }.reused_tokens)
    assert.has_error(function() m:save_cache(10000) end)
  end)

  it("keeps its KV cache in f16 on request, within the rounding's bound of f32", function()
    local a, b = locus.llm.load(fx .. "f32"), locus.llm.load(fx .. "f32", { kv_cache = "f16" })
    local la, lb = a:logits(ids), b:logits(ids)
    local scale = la:abs():max():item()
    local worst = (la - lb):abs():max():item()
    assert.truthy(worst > 0 and worst <= 4 * 2 ^ -11 * 3 * scale, ("f16 cache: %g of %g"):format(worst, scale))
    local state = b:save_cache(#ids)
    assert.are.equal("f16", state.kv:dtype())
    assert.has_error(function() locus.llm.load(fx .. "f32", { kv_cache = "bf16" }) end, nil)
    local rc, out = helper.sh(helper.locus_cmd .. " generate --kv-cache f16 --model " .. fx .. "f32 --prompt 'Hi' --max-new-tokens 3")
    assert.are.equal(0, rc, out)
  end)
end)
