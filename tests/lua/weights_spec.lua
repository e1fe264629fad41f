-- Checkpoints through the Lua API and `locus inspect`; fixtures from tests/fixtures/make_checkpoints.py.
local locus = require "locus"
local helper = require "helper"
local ckpt = helper.fixtures .. "/ckpt/"
local shared = helper.root .. "/../shared/assets/models/"

local function ref(name) return locus.npy.load(ckpt .. "ref/" .. name .. ".npy") end

local state_dict = { "embed.weight", "proj.0.weight", "proj.0.bias", "proj.2.weight", "position_ids", "mask", "scalar", "empty" }

describe("weights", function()
  it("gives the same tensors from every layout, in the stored dtype", function()
    local layouts = {
      { "model.safetensors", "" }, { "sharded_st", "" }, { "pytorch_model.bin", "" }, { "sharded_bin", "" },
      { "nested.pth", "model." }, { "sharded_st/model.safetensors.index.json", "" },
      { "sharded_bin/pytorch_model.bin.index.json", "" },
    }
    for _, l in ipairs(layouts) do
      local w = locus.weights.open(ckpt .. l[1]):sub(l[2])
      for _, name in ipairs(state_dict) do
        local t = w:get(name)
        local r = ref(name)
        local what = l[1] .. ": " .. name
        assert.are.same(r:shape(), t:shape(), what)
        if t:dtype() == "bf16" or t:dtype() == "f16" then
          helper.assert_equal(t:float(), r, what)
        else
          assert.are.same(r:totable(), t:totable(), what)
        end
      end
      assert.are.equal("bf16", w:get("proj.0.weight"):dtype())
      assert.are.equal("f16", w:get("proj.0.bias"):dtype())
      assert.are.equal("i64", w:get("position_ids"):dtype())
    end
  end)

  it("reads safetensors whose header length looks like a pickle's first bytes (0x80, small)", function()
    local tmp = helper.tmpdir()
    for _, size in ipairs { 0x180, 0x280, 0x380 } do -- 384, 640, 896 bytes: 0x80 0x01, 0x80 0x02, ...
      local json = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
      json = json .. (" "):rep(size - #json) -- safetensors pads its header with spaces
      local le = {}
      for i = 0, 7 do le[#le + 1] = string.char(math.floor(size / 256 ^ i) % 256) end
      local path = ("%s/adapter%d.safetensors"):format(tmp, size)
      local f = io.open(path, "wb")
      local data = locus.tensor.from { 1.5, -2 }
      f:write(table.concat(le), json, require("ffi").string(data:data(), 8))
      f:close()
      assert.are.equal(0x80, table.concat(le):byte(1))
      local w = locus.weights.open(path)
      assert.are.equal("safetensors", w:format())
      assert.are.same({ 1.5, -2 }, w:get("w"):totable())
      os.rename(path, tmp .. "/adapter.bin") -- the extension does not matter
      assert.are.same({ 1.5, -2 }, locus.weights.open(tmp .. "/adapter.bin"):get("w"):totable())
    end
    os.execute("rm -rf " .. tmp)
  end)

  it("is lazy: tensors are windows of the mapped file", function()
    local w = locus.weights.open(ckpt .. "model.safetensors")
    local t = w:get("embed.weight")
    assert.are.equal("window", t:storage_kind())
    local info = w:info("embed.weight")
    assert.are.same({ 17, 8 }, info.shape)
    assert.are.equal("f32", info.dtype)
    assert.are.equal("F32", info.stored_type)
    assert.are.equal(17 * 8 * 4, info.nbytes)
    assert.truthy(info.file:match("model%.safetensors$"))
    w:close()
    helper.assert_equal(t, ref "embed.weight") -- the view outlives the handle
    assert.has_error(function() w:get("embed.weight") end)
  end)

  it("converts one tensor on request", function()
    local w = locus.weights.open(ckpt .. "pytorch_model.bin")
    local t = w:get("proj.0.weight", { dtype = "f32" })
    assert.are.equal("f32", t:dtype())
    helper.assert_equal(t, ref "proj.0.weight")
  end)

  it("keeps non-contiguous saved tensors and shared storages", function()
    local w = locus.weights.open(ckpt .. "nested.pth")
    local tr = w:get("model.views.transposed")
    assert.are.same({ 1, 10 }, tr:stride())
    helper.assert_equal(tr, ref "views.transposed")
    helper.assert_equal(w:get("model.views.rows"), ref "views.rows")
    local ffi = require "ffi"
    local base, rows = w:get("model.views.base"), w:get("model.views.rows")
    assert.are.equal(ffi.cast("char *", base:data()) + 80, ffi.cast("char *", rows:data()))
    assert.are.same({ "history.0", "history.1" }, { w:names()[12], w:names()[13] })
  end)

  it("sub() views a prefix, and names, has and errors follow it", function()
    local w = locus.weights.open(ckpt .. "nested.pth")
    local m = w:sub("model.")
    assert.is_true(m:has("embed.weight"))
    assert.is_false(m:has("epoch"))
    assert.are.equal(11, #m:names())
    assert.are.same({ "0.weight", "0.bias", "2.weight" }, m:sub("proj."):names())
    local ok, err = pcall(m.get, m, "nope")
    assert.is_false(ok)
    assert.truthy(err:find("no tensor named 'model.nope'", 1, true), err)
  end)

  it("fills nn modules by name", function()
    local w = locus.weights.open(ckpt .. "model.safetensors")
    local mlp = locus.nn.Sequential(locus.nn.Linear(8, 12), locus.nn.GELU(), locus.nn.Linear(12, 5, { bias = false }))
    mlp:load_state(function(k) return w:has(k) and w:get(k) or nil end, "proj.")
    local x = locus.tensor.randn { 3, 8, seed = 1 }
    local want = x:linear(ref "proj.0.weight", ref "proj.0.bias"):gelu():linear(ref "proj.2.weight")
    helper.assert_f32(mlp(x), want, { k = 12, layers = 2, what = "mlp" })
  end)

  it("reads GGUF Q8_0 and Q4_0 blocks as ggml's reference code decodes them", function()
    local w = locus.weights.open(ckpt .. "model.gguf")
    local q8, q4 = w:get("gguf.q8"), w:get("gguf.q4")
    assert.are.equal("q8_0", q8:dtype())
    assert.are.equal("q4_0", q4:dtype())
    assert.are.equal(8 * 34, q8:nbytes())
    helper.assert_equal(q8:float(), ref "gguf.q8")
    helper.assert_equal(q4:float(), ref "gguf.q4")
    -- quantizing the source values again gives the same blocks, so the same numbers
    local src = ref "gguf.q_source"
    helper.assert_equal(src:to("q8_0"):float(), ref "gguf.q8")
    helper.assert_equal(src:to("q4_0"):float(), ref "gguf.q4")
    -- rows are views; splitting a block is refused; linear and embedding take quantized weights
    helper.assert_equal(q8:narrow(1, 2, 2):float(), ref("gguf.q8"):narrow(1, 2, 2))
    assert.has_error(function() q8:narrow(2, 2, 16) end)
    local x = locus.tensor.randn { 3, 64, seed = 1 }
    locus.set_precision("exact") -- f32 activations times the dequantized weights
    helper.assert_f32(x:linear(q4), x:linear(ref "gguf.q4"), { k = 64, what = "q4_0 linear, exact" })
    helper.assert_f32(x:linear(q8), x:linear(ref "gguf.q8"), { k = 64, what = "q8_0 linear, exact" })
    locus.set_precision("fast") -- the activations in Q8_0 blocks, integer products: within the quantization's bound
    for name, wq in pairs { q4 = q4, q8 = q8 } do
      local want, got = x:linear(ref("gguf." .. name)), x:linear(wq)
      local bound, diff = helper.q8_activation_bound(x, ref("gguf." .. name)), (got - want):abs()
      assert.truthy((diff - bound):max():item() <= 0, name .. ": fast product outside the activation-quantization bound")
      assert.truthy(diff:max():item() > 0, name .. ": fast and exact should differ (the activations are quantized)")
    end
    helper.assert_equal(q8:embedding { 3, 0 }, ref("gguf.q8"):embedding { 3, 0 })
  end)

  it("bf16 precision: bf16 weights take activations rounded to bf16 where the CPU has bf16 instructions", function()
    local T = locus.tensor
    local x, w = T.randn { 5, 96, seed = 3 }, T.randn { 7, 96, seed = 4, std = 0.1, dtype = "bf16" }
    local plain = x:linear(w)
    locus.set_precision("bf16")
    assert.are.equal("bf16", locus.precision())
    local got = x:linear(w)
    locus.set_precision("fast")
    assert.are.equal("fast", locus.precision())
    if locus.cpu_features():find("avx512bf16") and locus.kernel_path() == "avx512" then
      helper.assert_f32(got, x:to("bf16"):float():linear(w), { k = 96, what = "bf16 activations" })
      assert.truthy((got - plain):abs():max():item() > 0, "bf16 activations should differ from f32 ones")
    else
      helper.assert_equal(got, plain)
    end
    assert.has_error(function() locus.set_precision("half") end, 'set_precision: "exact", "fast" or "bf16", not half')
  end)

  it("writes GGUF that reads back bit for bit, with the metadata types kept", function()
    local tmp = helper.tmpdir()
    local T = locus.tensor
    local src = locus.weights.open(ckpt .. "model.gguf")
    local list = {}
    for _, name in ipairs(src:names()) do list[#list + 1] = { name, src:get(name) } end
    list[#list + 1] = { "extra.i32", T.from({ { 1, -2 }, { 3, 4 } }, "i32") }
    list[#list + 1] = { "extra.transposed", T.arange(6):view(2, 3):t() } -- written contiguous
    assert.are.equal(#list, locus.gguf.save(tmp .. "/out.gguf", list,
      { metadata_json = src:metadata_json(), types_json = src:metadata_types_json() }))
    local back = locus.weights.open(tmp .. "/out.gguf")
    for _, pair in ipairs(list) do
      local t = back:get(pair[1])
      assert.are.equal(pair[2]:dtype(), t:dtype(), pair[1])
      helper.assert_equal(t:float(), pair[2]:float(), pair[1])
    end
    assert.are.same(src:metadata(), back:metadata())
    assert.are.equal(src:metadata_types_json(), back:metadata_types_json())
    assert.truthy(back:metadata_types_json():find('"locus.test.big":"u64"', 1, true))
    -- types inferred from Lua values, or given
    locus.gguf.save(tmp .. "/typed.gguf", { x = T.ones(2) }, { metadata = { a = "s", b = true, c = 3, d = 0.5, e = { 1, 2 } },
      types = { c = "u16" } })
    local typed = require("cjson").decode(locus.weights.open(tmp .. "/typed.gguf"):metadata_types_json())
    assert.are.same({ a = "string", b = "bool", c = "u16", d = "f32", e = "array:i32" }, typed)
    os.execute("rm -rf " .. tmp)
  end)

  it("writes GGUF tensor by tensor, and leaves no file when the writing goes wrong", function()
    local tmp, T = helper.tmpdir(), locus.tensor
    local a, b = T.randn { 4, 64, seed = 3 }, T.arange(5):to("i32")
    local w = locus.gguf.writer(tmp .. "/s.gguf", { { "a", "q8_0", { 4, 64 } }, { "b", "i32", { 5 } } }, { metadata = { x = 1 } })
    assert.is_nil(io.open(tmp .. "/s.gguf")) -- nothing under the name before finish
    w:add(a:to("q8_0"))
    w:add(b)
    w:finish()
    local back = locus.weights.open(tmp .. "/s.gguf")
    helper.assert_equal(back:get("a"):float(), a:to("q8_0"):float())
    assert.are.same({ 0, 1, 2, 3, 4 }, back:get("b"):totable())
    -- a tensor other than the declared one, or too few tensors: an error and no file
    w = locus.gguf.writer(tmp .. "/bad.gguf", { { "a", "f32", { 4, 64 } } })
    assert.has_error(function() w:add(T.ones(3, 64)) end, tmp .. "/bad.gguf: tensor 'a' was planned as f32 with 2 dims, and came as [3, 64] f32")
    w = locus.gguf.writer(tmp .. "/short.gguf", { { "a", "f32", { 2 } }, { "b", "f32", { 2 } } })
    w:add(T.ones(2))
    assert.has_error(function() w:finish() end, tmp .. "/short.gguf: 1 of 2 planned tensors were written")
    assert.has_error(function() locus.gguf.writer(tmp .. "/q.gguf", { { "a", "q4_0", { 2, 33 } } }) end)
    local rc, out = helper.sh("ls " .. tmp)
    assert.are.equal("s.gguf\n", out)
    os.execute("rm -rf " .. tmp)
  end)

  it("leaves nothing behind when the writing process is killed half-way", function()
    local tmp = helper.tmpdir()
    local script = io.open(tmp .. "/kill.lua", "w")
    script:write([[
      local ffi = require "ffi"
      ffi.cdef "int getpid(void); int kill(int pid, int sig);"
      local w = locus.gguf.writer(arg[1], { { "a", "f32", { 1024, 1024 } }, { "b", "f32", { 1024, 1024 } } })
      w:add(locus.tensor.randn { 1024, 1024, seed = 1 })
      ffi.C.kill(ffi.C.getpid(), 9)
    ]])
    script:close()
    os.execute("mkdir -p " .. tmp .. "/out")
    local rc = helper.sh(("sh -c '%s run %s/kill.lua %s/out/model.gguf' 2>/dev/null"):format(helper.locus_cmd, tmp, tmp))
    assert.are.equal(128 + 9, rc)
    local _, listing = helper.sh("ls -A " .. tmp .. "/out")
    assert.are.equal("", listing)
    os.execute("rm -rf " .. tmp)
  end)

  it("refuses what GGUF or llama.cpp cannot hold, leaving no file", function()
    local tmp = helper.tmpdir()
    local T = locus.tensor
    local cases = {
      { { { ("n"):rep(64), T.ones(2) } }, "longer than llama.cpp's 63-byte limit" },
      { { { "a", T.ones(2) }, { "a", T.ones(2) } }, "duplicate tensor name 'a'" },
      { { { "a", T.ones(1, 1, 1, 1, 2) } }, "has 5 dims" },
      { { { "a", T.ones({ 2 }, "u8") } }, "is u8, which GGUF cannot hold" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(locus.gguf.save, tmp .. "/x.gguf", c[1])
      assert.is_false(ok)
      assert.truthy(err:find(c[2], 1, true), err)
    end
    local ok, err = pcall(locus.gguf.save, tmp .. "/x.gguf", { a = T.ones(2) }, { metadata = { k = { { 1 } } } })
    assert.is_false(ok)
    assert.truthy(err:find("metadata 'k' has elements locus cannot type", 1, true), err)
    local _, listing = helper.sh("ls -A " .. tmp)
    assert.are.equal("", listing)
    os.execute("rm -rf " .. tmp)
  end)

  it("locus convert quantizes 2-D weights and keeps the rest", function()
    local tmp = helper.tmpdir()
    local rc, out = helper.sh(("%s convert %s %s/q.gguf --type q8_0"):format(helper.locus_cmd, ckpt .. "model.safetensors", tmp))
    assert.are.equal(0, rc, out)
    local w = locus.weights.open(tmp .. "/q.gguf")
    assert.are.equal("f32", w:get("embed.weight"):dtype()) -- rows of 8: not a multiple of 32
    assert.are.equal("f16", w:get("proj.0.bias"):dtype())
    helper.assert_equal(w:get("proj.2.weight"), ref "proj.2.weight")
    rc, out = helper.sh(("%s convert %s %s/h.gguf --type f16"):format(helper.locus_cmd, ckpt .. "pytorch_model.bin", tmp))
    assert.are.equal(0, rc, out)
    assert.are.equal("f16", locus.weights.open(tmp .. "/h.gguf"):get("embed.weight"):dtype())
    rc, out = helper.sh(("%s convert %s %s/z.gguf --type q2"):format(helper.locus_cmd, ckpt .. "model.safetensors", tmp))
    assert.are.equal(1, rc, out)
    os.execute("rm -rf " .. tmp)
  end)

  it("reads GGUF metadata of every type", function()
    local w = locus.weights.open(ckpt .. "model.gguf")
    local md = w:metadata()
    assert.are.equal("llama", md["general.architecture"])
    assert.are.equal(0.25, md["locus.test.float"])
    assert.are.equal(true, md["locus.test.flag"])
    assert.are.equal(2 ^ 40, md["locus.test.big"])
    assert.are.same({ "alpha", "beta", "gamma" }, md["locus.test.words"])
    assert.are.same({ -1, 0, 7 }, md["locus.test.ints"])
    assert.are.same({ format = "pt", note = "locus fixture" }, locus.weights.open(ckpt .. "model.safetensors"):metadata())
  end)

  it("takes a tensor two shards hold from the one the index names, matching whole file names", function()
    local tmp = helper.tmpdir()
    local a, b, c = locus.tensor.randn({ 4 }, { seed = 1 }), locus.tensor.randn({ 4 }, { seed = 2 }), locus.tensor.randn({ 3 }, { seed = 3 })
    locus.weights.save(tmp .. "/untrained.safetensors", { x = a, y = c })
    locus.weights.save(tmp .. "/trained.safetensors", { x = b })
    local f = io.open(tmp .. "/model.safetensors.index.json", "w")
    f:write('{"metadata": {}, "weight_map": {"x": "trained.safetensors", "y": "untrained.safetensors"}}')
    f:close()
    local w = locus.weights.open(tmp)
    helper.assert_equal(w:get("x"), b, "x, from the file the index names")
    helper.assert_equal(w:get("y"), c, "y")
    assert.is_true(w:info("x").file:match("/trained%.safetensors$") ~= nil, w:info("x").file)
    os.execute("rm -rf " .. tmp)
  end)

  it("reads the JSON files of a model directory", function()
    local tmp = helper.tmpdir()
    local f = io.open(tmp .. "/config.json", "w")
    f:write('{"hidden_size": 64, "rope_scaling": null, "mm_vision_tower": "openai/clip"}')
    f:close()
    f = io.open(tmp .. "/added_tokens.json", "w")
    f:write('{"<im_patch>": 32000}')
    f:close()
    local cfg = locus.config.load(tmp)
    assert.are.equal(64, cfg.config.hidden_size)
    assert.is_nil(cfg.config.rope_scaling)
    assert.are.same({ ["<im_patch>"] = 32000 }, cfg.added_tokens)
    assert.is_nil(cfg.generation_config)
    f = io.open(tmp .. "/tokenizer_config.json", "w")
    f:write('{"model_max_length": 2048,')
    f:close()
    local ok, err = pcall(locus.config.load, tmp)
    assert.is_false(ok)
    assert.truthy(err:find(tmp .. "/tokenizer_config.json: not valid JSON", 1, true), err)
    os.execute("rm -rf " .. tmp)
  end)

  it("locus inspect lists tensors and metadata, and --json prints one object", function()
    local rc, out = helper.sh(helper.locus_cmd .. " inspect " .. ckpt .. "model.safetensors")
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("proj.0.weight  bf16   [12, 8]    192", 1, true), out)
    assert.truthy(out:find("8 tensors, 1.1 KB (1079 bytes)", 1, true), out)
    assert.truthy(out:find("note = locus fixture", 1, true), out)
    rc, out = helper.sh(helper.locus_cmd .. " inspect --json " .. ckpt .. "nested.pth")
    assert.are.equal(0, rc, out)
    local j = require("cjson").decode(out)
    assert.are.equal("pytorch", j.format)
    assert.are.equal(13, #j.tensors)
    assert.are.same({ name = "model.views.transposed", dtype = "f32", shape = { 10, 6 } }, j.tensors[9])
    assert.are.same({}, j.tensors[7].shape) -- the 0-d tensor
  end)

  it("refuses hostile and broken files with the file and the reason, exit status 1, nothing run", function()
    local cases = {
      ["pickle_os_system.bin"] = "refuses the pickle global 'os.system'",
      ["pickle_builtins_eval.bin"] = "refuses the pickle global 'builtins.eval'",
      ["pickle_subprocess_popen.bin"] = "refuses the pickle global 'subprocess.Popen'",
      ["st_overlap.safetensors"] = "tensors 'embed.weight' and 'proj.0.weight' overlap",
      ["legacy.pt"] = "a legacy (pre-zip) PyTorch checkpoint; re-save it with torch >= 1.6",
      ["gguf_version1.gguf"] = "GGUF version 1",
    }
    for file, msg in pairs(cases) do
      local rc, out = helper.sh(helper.locus_cmd .. " inspect " .. ckpt .. "bad/" .. file)
      assert.are.equal(1, rc, out)
      assert.truthy(out:find("bad/" .. file .. ": " .. msg, 1, true), out)
    end
    assert.is_nil(io.open("/tmp/locus_pickle_was_executed"))
    -- a shard index that maps no tensors
    local tmp = helper.tmpdir()
    local f = io.open(tmp .. "/model.safetensors.index.json", "w")
    f:write('{"metadata": {}, "weight_map": {}}')
    f:close()
    local rc, out = helper.sh(helper.locus_cmd .. " inspect " .. tmp)
    assert.are.equal(1, rc, out)
    assert.truthy(out:find(tmp .. "/model.safetensors.index.json: the weight_map lists no tensors", 1, true), out)
    os.execute("rm -rf " .. tmp)
  end)

  it("converts an HF LLaMA directory as llama.cpp's converter does: names, permuted q/k, metadata, vocabulary", function()
    if not locus.config.is_file(shared .. "stories260K.gguf") then return pending("../shared/assets is absent") end
    local tmp = helper.tmpdir()
    local rc, out = helper.sh(("%s convert %s %s/s.gguf"):format(helper.locus_cmd, shared .. "stories260K_hf", tmp))
    assert.are.equal(0, rc, out)
    local mine, theirs = locus.weights.open(tmp .. "/s.gguf"), locus.weights.open(shared .. "stories260K.gguf")
    -- every tensor the same bytes (llama.cpp's file also has output.weight: a copy of the tied embeddings)
    local n = 0
    for _, name in ipairs(theirs:names()) do
      if name ~= "output.weight" then
        helper.assert_equal(mine:get(name), theirs:get(name), name)
        n = n + 1
      end
    end
    assert.are.equal(47, n)
    assert.are.equal(47, #mine:names())
    local a, b = mine:metadata(), theirs:metadata()
    for _, key in ipairs { "llama.embedding_length", "llama.block_count", "llama.feed_forward_length", "llama.rope.dimension_count",
      "llama.attention.head_count", "llama.attention.head_count_kv", "llama.attention.layer_norm_rms_epsilon" } do
      assert.are.equal(b[key], a[key], key)
    end
    -- the same text as llama.cpp's converter from the same model: greedy ids of both files
    local x = locus.llm.load(tmp .. "/s.gguf", { tokenizer = shared .. "stories260K.gguf" })
    local y = locus.llm.load(shared .. "stories260K.gguf")
    local ids = y.tokenizer:encode("Once upon a time")
    assert.are.same(y:generate { ids = ids, max_new_tokens = 16 }.ids, x:generate { ids = ids, max_new_tokens = 16 }.ids)
    -- LLaMA's tokenizer.model as GGUF metadata: llama.cpp's own vocabulary file of it, entry for entry
    local vocab = locus.weights.open(helper.root .. "/../shared/assets/tokenizer/ggml-vocab-llama-spm.gguf"):metadata()
    local md = locus.tokenizer.load(helper.root .. "/../shared/assets/tokenizer/tokenizer.model"):gguf_metadata()
    for _, key in ipairs { "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type" } do
      assert.are.equal(32000, #md[key])
      assert.are.same(vocab[key], md[key], key)
    end
    for _, key in ipairs { "tokenizer.ggml.model", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id" } do
      assert.are.equal(vocab[key], md[key], key)
    end
    os.execute("rm -rf " .. tmp)
  end)

  it("reads the shared stories260K model identically from GGUF and from HF safetensors", function()
    if not locus.config.is_file(shared .. "stories260K.gguf") then return pending("../shared/assets is absent") end
    local g, h = locus.weights.open(shared .. "stories260K.gguf"), locus.weights.open(shared .. "stories260K_hf")
    assert.are.equal(48, #g:names())
    -- llama.cpp's converter permutes q/k rows for its RoPE layout; every other tensor is the same bytes
    local pairs_ = { ["token_embd.weight"] = "model.embed_tokens.weight", ["output_norm.weight"] = "model.norm.weight" }
    for i = 0, 4 do
      local b, m = "blk." .. i .. ".", "model.layers." .. i .. "."
      pairs_[b .. "attn_v.weight"] = m .. "self_attn.v_proj.weight"
      pairs_[b .. "attn_output.weight"] = m .. "self_attn.o_proj.weight"
      pairs_[b .. "ffn_gate.weight"] = m .. "mlp.gate_proj.weight"
      pairs_[b .. "ffn_up.weight"] = m .. "mlp.up_proj.weight"
      pairs_[b .. "ffn_down.weight"] = m .. "mlp.down_proj.weight"
      pairs_[b .. "attn_norm.weight"] = m .. "input_layernorm.weight"
      pairs_[b .. "ffn_norm.weight"] = m .. "post_attention_layernorm.weight"
    end
    local n = 0
    for gn, hn in pairs(pairs_) do
      helper.assert_equal(g:get(gn), h:get(hn), gn)
      n = n + 1
    end
    assert.are.equal(37, n)
    -- q and k: llama.cpp's permute(w, heads) = w.reshape(heads, 2, rows/heads/2, cols).swapaxes(1, 2)
    local function permuted(w, heads)
      local rows, cols = w:size(1), w:size(2)
      return w:view(heads, 2, rows / heads / 2, cols):transpose(2, 3):reshape(rows, cols)
    end
    for i = 0, 4 do
      local m = "model.layers." .. i .. ".self_attn."
      helper.assert_equal(g:get("blk." .. i .. ".attn_q.weight"), permuted(h:get(m .. "q_proj.weight"), 8))
      helper.assert_equal(g:get("blk." .. i .. ".attn_k.weight"), permuted(h:get(m .. "k_proj.weight"), 4))
    end
  end)
end)
