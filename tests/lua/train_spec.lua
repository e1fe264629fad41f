-- locus.train.data: GroundingGPT's training samples tokenized and masked as its train.py does
-- (tests/fixtures/make_train_data.py transcribes it), and refused with the sample's id when bad.
local helper = require "helper"
local data = require "locus.train.data"
local npy = require "locus.npy"
local locus = require "locus"

local dir = helper.fixtures .. "/train"

local function list(t) -- an i64 tensor as a Lua list
  local out, c = {}, t:contiguous()
  local p = require("ffi").cast("const int64_t *", c:data())
  for i = 0, c:numel() - 1 do out[i + 1] = tonumber(p[i]) end
  return out
end

describe("locus.train.data", function()
  it("tokenizes and masks as GroundingGPT's preprocess: images moved to the front, the mask's drift kept", function()
    local tok = require("locus.tokenizer").load(helper.fixtures .. "/groundinggpt/model")
    local samples = data.load(dir .. "/samples.json")
    assert.are.equal(3, #samples)
    for _, s in ipairs(samples) do
      local got = data.tokenize(s, tok)
      assert.are.same(list(npy.load(("%s/%s_ids.npy"):format(dir, s.id))), got.ids, s.id .. " ids")
      assert.are.same(list(npy.load(("%s/%s_labels.npy"):format(dir, s.id))), got.labels, s.id .. " labels")
      assert.are.equal(s.image, got.image)
    end
  end)

  it("tokenizes in the inference template: ground's prompt is the sample's prefix, the loss on the answers and their ###", function()
    local m = locus.load(helper.fixtures .. "/groundinggpt/model")
    local s = { id = "two turns", image = "dog.png", conversations = {
      { from = "human", value = "Where is the dog?\n<image>" }, { from = "gpt", value = "At [0.1, 0.2, 0.3, 0.4]." },
      { from = "human", value = "And the cat?" }, { from = "gpt", value = "Nowhere." } } }
    local t = data.tokenize(s, m.tokenizer, { template = "inference" })
    local text, plain = require("locus.prompt").build { question = "Where is the dog?", image = true }
    local asked = m.tokenizer:encode(text, { plain = plain })
    assert.are.same(asked, { unpack(t.ids, 1, #asked) })
    -- the labelled tokens, read back, are the answers each followed by the template's stop
    local runs, run = {}, nil
    for i, l in ipairs(t.labels) do
      if l ~= data.IGNORE_INDEX then
        assert.are.equal(t.ids[i], l)
        run = run or {}
        run[#run + 1] = l
      elseif run then
        runs[#runs + 1], run = m.tokenizer:decode(run), nil
      end
    end
    if run then runs[#runs + 1] = m.tokenizer:decode(run) end
    assert.are.same({ "At [0.1, 0.2, 0.3, 0.4].###", "Nowhere.###" }, runs) -- decode drops the leading space
    assert.has_error(function() data.tokenize(s, m.tokenizer, { template = "chat" }) end,
      "train: template is training or inference, not chat")
  end)

  it("refuses samples it cannot learn from, naming the file and the sample", function()
    local tmp = helper.tmpdir()
    local cases = {
      { '[{"id": "a", "conversations": [{"from": "human", "value": "hi"}]}]', "sample 1 (id a): no assistant (gpt) turn" },
      { '[{"id": "b", "conversations": [{"from": "bot", "value": "hi"}]}]', "sample 1 (id b): turn 1 is not" },
      { '[{"id": "c"}]', "sample 1 (id c): no \"conversations\" list" },
      { '[{"id": "d", "image": 5, "conversations": []}]', "sample 1 (id d): \"image\" is not a string" },
      { '{"id": "e"}', "not a list of samples" },
      { '[{"id": ', "not JSON" },
    }
    for _, c in ipairs(cases) do
      local f = io.open(tmp .. "/t.json", "w")
      f:write(c[1])
      f:close()
      local ok, err = pcall(data.load, tmp .. "/t.json")
      assert.is_false(ok, c[1])
      assert.truthy(err:find(tmp .. "/t.json: ", 1, true) and err:find(c[2], 1, true), err)
    end
    os.execute("rm -rf " .. tmp)
  end)
end)

describe("locus train", function()
  local MODEL = helper.fixtures .. "/groundinggpt/model"
  local cmd = helper.locus_cmd

  -- a folder with the samples and their photo (dog.png: the tiny model's fixture photo)
  local function workspace(extra)
    local tmp = helper.tmpdir()
    os.execute(("ln -s %s/groundinggpt/photo.png %s/dog.png"):format(helper.fixtures, tmp))
    local samples = require("locus.json").decode(io.open(dir .. "/samples.json"):read("*a"))
    for _, s in ipairs(extra or {}) do samples[#samples + 1] = s end
    local f = io.open(tmp .. "/train.json", "w")
    f:write(require("locus.json").encode(samples))
    f:close()
    return tmp
  end

  it("computes the loss and the adapter's gradients of a sample as PyTorch does", function()
    local tmp = workspace()
    local train = require "locus.train"
    local tr = train.new { model = MODEL, data = tmp .. "/train.json", images = tmp, out = tmp .. "/out",
      trainable = { "model.mm_vision_projector.*" }, steps = 1, lr = 1e-3 }
    assert.are.same({ "model.mm_vision_projector.0.bias", "model.mm_vision_projector.0.weight",
      "model.mm_vision_projector.2.bias", "model.mm_vision_projector.2.weight" }, tr.names)
    local t = data.tokenize(tr.samples[1], tr.m.tokenizer, tr.opts)
    local loss = tr:accumulate(t, 1)
    local want = npy.load(dir .. "/step_loss.npy"):item()
    assert.is_true(math.abs(loss - want) < 1e-4 * want, ("loss %.7g, PyTorch %.7g"):format(loss, want))
    for short, name in pairs { w0 = "model.mm_vision_projector.0.weight", b0 = "model.mm_vision_projector.0.bias",
      w2 = "model.mm_vision_projector.2.weight", b2 = "model.mm_vision_projector.2.bias" } do
      helper.assert_f32(tr.grads[name], npy.load(dir .. "/step_d" .. short .. ".npy"),
        { k = 832, layers = 8, what = "d" .. short })
    end
    os.execute("rm -rf " .. tmp)
  end)

  it("trains the vision tower too: its gradients as PyTorch's, written whole beside the model", function()
    local tmp = workspace()
    local train = require "locus.train"
    local tr = train.new { model = MODEL, data = tmp .. "/train.json", images = tmp, out = tmp .. "/out",
      trainable = { "model.mm_vision_projector.*", "vision_model.*" }, steps = 1, lr = 1e-3 }
    assert.is_true(#tr.tower_names > 30, tostring(#tr.tower_names))
    local loss = tr:accumulate(data.tokenize(tr.samples[1], tr.m.tokenizer, tr.opts), 1)
    local want = npy.load(dir .. "/step_loss.npy"):item()
    assert.is_true(math.abs(loss - want) < 1e-4 * want, ("loss %.7g, PyTorch %.7g"):format(loss, want))
    for _, name in ipairs { "vision_model.embeddings.patch_embedding.weight", "vision_model.embeddings.position_embedding.weight",
      "vision_model.pre_layrnorm.weight", "vision_model.encoder.layers.0.self_attn.q_proj.weight",
      "vision_model.encoder.layers.1.mlp.fc2.bias" } do
      helper.assert_f32(tr.grads[name], npy.load(dir .. "/step_d." .. name .. ".npy"), { k = 832, layers = 12, what = name })
    end
    helper.assert_f32(tr.grads["model.mm_vision_projector.0.weight"], npy.load(dir .. "/step_dw0.npy"),
      { k = 832, layers = 8, what = "dw0 with the tower training" })
    -- two steps through the command: the tower is written whole and the model directory uses it
    local rc, out = helper.sh(("%s train --model %s --data %s/train.json --images %s --trainable 'vision_model.encoder.*' "
      .. "--trainable 'model.mm_vision_projector.*' --steps 2 --lr 1e-3 --out %s/t"):format(cmd, MODEL, tmp, tmp, tmp))
    assert.are.equal(0, rc, out)
    local cfg = require("locus.json").decode(io.open(tmp .. "/t/config.json"):read("*a"))
    assert.are.equal("vision_tower", cfg.mm_vision_tower)
    local tw, orig = locus.weights.open(tmp .. "/t/vision_tower"), locus.weights.open(helper.fixtures .. "/groundinggpt/clip")
    assert.are.equal(#orig:names(), #tw:names())
    local name = "vision_model.encoder.layers.0.mlp.fc1.weight"
    assert.is_true((tw:get(name) - orig:get(name)):abs():max():item() > 1e-5, "the tower did not change")
    helper.assert_equal(tw:get("vision_model.embeddings.class_embedding"), orig:get("vision_model.embeddings.class_embedding"),
      "a frozen tower weight")
    rc, out = helper.sh(("%s ground --model %s/t --image %s/dog.png --max-new-tokens 3 'Where?' && %s train --model %s "
      .. "--data %s/train.json --images %s --trainable 'vision_model.encoder.*' --trainable 'model.mm_vision_projector.*' "
      .. "--steps 3 --lr 1e-3 --out %s/t --resume"):format(cmd, tmp, tmp, cmd, MODEL, tmp, tmp, tmp))
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("step 3/3", 1, true), out)
    os.execute("rm -rf " .. tmp)
  end)

  it("writes a model directory that ground runs, and a run killed with kill -9 and resumed ends where an unbroken one does", function()
    local tmp = workspace()
    local args = ("train --model %s --data %s/train.json --images %s --trainable 'model.mm_vision_projector.*' --steps 24 "
      .. "--lr 1e-3 --save-every 2 --threads 1"):format(MODEL, tmp, tmp)
    local rc, out = helper.sh(("%s %s --out %s/straight"):format(cmd, args, tmp))
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("step 24/24  loss ", 1, true), out)
    rc, out = helper.sh(("%s ground --model %s/straight --image %s/dog.png --max-new-tokens 4 'Where?'"):format(cmd, tmp, tmp))
    assert.are.equal(0, rc, out)
    -- killed once a checkpoint is on disk, then resumed
    rc, out = helper.sh(("(%s %s --out %s/broken >/dev/null 2>&1 & echo $! > %s/pid); for i in $(seq 6000); do "
      .. "grep -q '\"step\":[2-9]' %s/broken/train_state.json 2>/dev/null && break; sleep 0.02; done; kill -9 $(cat %s/pid); "
      .. "sleep 0.2; cat %s/broken/train_state.json"):format(cmd, args, tmp, tmp, tmp, tmp, tmp))
    local at = tonumber(out:match('"step":(%d+)'))
    assert.is_true(at ~= nil and at >= 2 and at < 24, "killed at step " .. tostring(at) .. ": " .. out)
    rc, out = helper.sh(("%s %s --out %s/broken --resume"):format(cmd, args, tmp))
    assert.are.equal(0, rc, out)
    assert.truthy(out:find(("step %d/24"):format(at + 1), 1, true), out)
    local a, b = locus.weights.open(tmp .. "/straight/trained.safetensors"), locus.weights.open(tmp .. "/broken/trained.safetensors")
    for _, name in ipairs(a:names()) do helper.assert_equal(b:get(name), a:get(name), name) end
    local original = locus.weights.open(MODEL)
    local moved = (a:get("model.mm_vision_projector.2.weight") - original:get("model.mm_vision_projector.2.weight"):float()):abs():max():item()
    assert.is_true(moved > 1e-4, "the adapter did not change")
    os.execute("rm -rf " .. tmp)
  end)

  it("skips or refuses bad samples by id: a missing photo, a box outside [0, 1], no match for the pattern", function()
    local tmp = workspace {
      { id = "lost", image = "missing.png", conversations = { { from = "human", value = "<image>\nWhere?" },
        { from = "gpt", value = "Here." } } },
      { id = "wild", image = "dog.png", conversations = { { from = "human", value = "<image>\nWhere?" },
        { from = "gpt", value = "At [0.1, 0.2, 1.5, 0.9]." } } },
    }
    local base = ("%s train --model %s --data %s/train.json --images %s --steps 6 --lr 1e-3 --out %s/out"):format(cmd, MODEL, tmp,
      tmp, tmp)
    local rc, out = helper.sh(base .. " --trainable 'model.mm_vision_projector.*'")
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("skipping sample lost: its image " .. tmp .. "/missing.png is missing or unreadable", 1, true), out)
    assert.truthy(out:find("skipping sample wild: a box outside [0, 1] in an answer: [0.1, 0.2, 1.5, 0.9]", 1, true), out)
    rc, out = helper.sh(base .. "2 --trainable 'model.mm_vision_projector.*' --on-bad refuse")
    assert.are.equal(1, rc, out)
    assert.truthy(out:find("train.json: sample 4 (id lost): its image", 1, true), out)
    rc, out = helper.sh(base .. "3 --trainable 'nothing.*'")
    assert.truthy(rc == 1 and out:find("no weight of " .. MODEL .. " matches nothing.*", 1, true), out)
    os.execute("rm -rf " .. tmp)
  end)
end)

describe("locus.train.fresh", function()
  local fresh = require "locus.train.fresh"
  local function tensor_of(t) return require("locus.tensor").from(t, "f32") end
  local recipe = { tokenizer = helper.fixtures .. "/groundinggpt/model/tokenizer.model",
    llm = { hidden = 32, intermediate = 48, layers = 2, heads = 2 }, tower = { hidden = 16, intermediate = 32, layers = 3, heads = 2 } }

  it("writes a GroundingGPT in the real layout that loads, answers and trains; the same seed the same bytes", function()
    local tmp = helper.tmpdir()
    for _, d in ipairs { "a", "b" } do
      local o = { out = tmp .. "/" .. d, seed = 3 }
      for k, v in pairs(recipe) do o[k] = v end
      fresh.groundinggpt(o)
    end
    local rc, out = helper.sh(("cmp %s/a/model.safetensors %s/b/model.safetensors && cmp %s/a/vision_tower/model.safetensors "
      .. "%s/b/vision_tower/model.safetensors"):format(tmp, tmp, tmp, tmp))
    assert.are.equal(0, rc, out)
    -- the fixture model's LLaMA, adapter and tower names, no more and no fewer
    local want = {}
    for _, n in ipairs(locus.weights.open(helper.fixtures .. "/groundinggpt/model"):names()) do
      if n:match("^model%.layers%.") or n:match("^model%.embed") or n:match("^model%.norm") or n:match("^lm_head")
        or n:match("^model%.mm_vision_projector") then want[#want + 1] = n end
    end
    local got = locus.weights.open(tmp .. "/a"):names()
    table.sort(want)
    table.sort(got)
    assert.are.same(want, got)
    local clip_want, clip_got = locus.weights.open(helper.fixtures .. "/groundinggpt/clip"):names(), locus.weights.open(tmp .. "/a/vision_tower"):names()
    table.sort(clip_want)
    table.sort(clip_got)
    assert.are.same(clip_want, clip_got)
    local m = locus.load(tmp .. "/a")
    local vocab = m.tokenizer:vocab_size()
    for i, tok in ipairs(fresh.ADDED) do assert.are.equal(vocab - #fresh.ADDED + i - 1, m.tokenizer:id(tok)) end
    local w = locus.weights.open(tmp .. "/a")
    assert.are.same({ vocab, 32 }, w:get("lm_head.weight"):shape())
    local function rms(t) t = t:float(); return math.sqrt((t * t):mean():item()) end
    -- fan-in initialization: embeddings 1, a matrix 1/sqrt(fan in), a residual branch's last one
    -- also 1/sqrt(2 layers); the CLIP positions a sine-cosine table
    assert.is_true(math.abs(rms(w:get("model.embed_tokens.weight")) - 1) < 0.02)
    assert.is_true(math.abs(rms(w:get("model.layers.0.self_attn.q_proj.weight")) - 1 / math.sqrt(32)) < 0.01)
    assert.is_true(math.abs(rms(w:get("model.layers.1.mlp.down_proj.weight")) - 1 / math.sqrt(48) / 2) < 0.01)
    local pos = locus.weights.open(tmp .. "/a/vision_tower"):get("vision_model.embeddings.position_embedding.weight")
    helper.assert_close(pos:narrow(1, 2, 1):view(16), tensor_of { 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1 }, 0, 1e-6,
      "patch (0, 0): sines 0, cosines 1")
    assert.are.equal(0, pos:narrow(1, 1, 1):abs():max():item()) -- the class token's row
    rc, out = helper.sh(("%s ground --model %s/a --image %s/groundinggpt/photo.png --max-new-tokens 3 'Where?'"):format(
      helper.locus_cmd, tmp, helper.fixtures))
    assert.are.equal(0, rc, out)
    os.execute("rm -rf " .. tmp)
  end)

  it("initializes as transformers does on request: std 0.02 everywhere", function()
    local tmp = helper.tmpdir()
    local o = { out = tmp .. "/t", init = "transformers" }
    for k, v in pairs(recipe) do o[k] = v end
    fresh.groundinggpt(o)
    local w = locus.weights.open(tmp .. "/t")
    for _, name in ipairs { "model.embed_tokens.weight", "model.layers.1.mlp.down_proj.weight", "lm_head.weight" } do
      local t = w:get(name):float()
      local std = math.sqrt((t * t):mean():item())
      assert.is_true(math.abs(std - 0.02) < 0.002, name .. " " .. std)
    end
    os.execute("rm -rf " .. tmp)
  end)

  it("takes GroundingGPT's image_token_len from the config: a smaller tower makes fewer image tokens", function()
    local tmp = helper.tmpdir()
    local o = { out = tmp .. "/small" }
    for k, v in pairs(recipe) do o[k] = v end
    o.tower = { hidden = 16, intermediate = 32, layers = 2, heads = 2, image_size = 168 }
    fresh.groundinggpt(o)
    local m = locus.load(tmp .. "/small")
    assert.are.equal(144, m.token_counts.image)
    local ids = m:prompt_ids { question = "Where?", image = true }
    local patches = 0
    for _, id in ipairs(ids) do if id == m.tokenizer:id("<im_patch>") then patches = patches + 1 end end
    assert.are.equal(144, patches)
    local r = m:ground { image = helper.fixtures .. "/groundinggpt/photo.png", question = "Where?", max_new_tokens = 2 }
    assert.are.equal("string", type(r.text))
    local t = data.tokenize({ id = "x", image = "a.png", conversations = { { from = "human", value = "<image>\nWhere?" },
      { from = "gpt", value = "Here." } } }, m.tokenizer, { image_tokens = m.token_counts.image })
    patches = 0
    for _, id in ipairs(t.ids) do if id == m.tokenizer:id("<im_patch>") then patches = patches + 1 end end
    assert.are.equal(144, patches)
    -- a config that disagrees with its tower is refused, naming both
    local cfg = require("locus.json").decode(io.open(tmp .. "/small/config.json"):read("*a"))
    cfg.image_token_len = 576
    locus.write_text(tmp .. "/small/config.json", require("locus.json").encode(cfg))
    local ok, err = pcall(locus.load, tmp .. "/small")
    assert.is_false(ok)
    assert.truthy(err:find("config image_token_len is 576, but the vision tower", 1, true)
      and err:find("makes 144 patches (168 px in 14 px patches)", 1, true), err)
    os.execute("rm -rf " .. tmp)
  end)

  it("refuses sizes that do not make a model", function()
    local o = { out = "/nonexistent/x" }
    for k, v in pairs(recipe) do o[k] = v end
    o.llm = { hidden = 30, intermediate = 48, layers = 2, heads = 4 }
    assert.has_error(function() fresh.groundinggpt(o) end, "fresh: llm.hidden (30) must be a multiple of 4 that splits into 4 heads of an even size")
    o.llm = { hidden = 32, intermediate = 48, layers = 0, heads = 2 }
    assert.has_error(function() fresh.groundinggpt(o) end, "fresh: llm.layers must be a whole number >= 1")
  end)
end)

describe("locus.train.pack", function()
  local pack = require "locus.train.pack"
  it("makes a trained run self-contained, in the dtype asked for, whole or not at all", function()
    local tmp = helper.tmpdir()
    require("locus.train.fresh").groundinggpt { out = tmp .. "/scratch", tokenizer = helper.fixtures .. "/groundinggpt/model/tokenizer.model",
      llm = { hidden = 32, intermediate = 48, layers = 2, heads = 2 }, tower = { hidden = 16, intermediate = 32, layers = 2, heads = 2, image_size = 56 } }
    os.execute(("ln -s %s/groundinggpt/photo.png %s/dog.png"):format(helper.fixtures, tmp))
    locus.train.run { model = tmp .. "/scratch", data = helper.fixtures .. "/train/samples.json", images = tmp,
      out = tmp .. "/run", trainable = { "*" }, steps = 2, lr = 1e-3 }
    pack(tmp .. "/run", tmp .. "/f32")
    pack(tmp .. "/run", tmp .. "/f16", { dtype = "f16" })
    local rc, out = helper.sh(("find %s/f32 %s/f16 -type l"):format(tmp, tmp))
    assert.are.equal("", out) -- nothing linked
    local run, f32, f16 = locus.weights.open(tmp .. "/run"), locus.weights.open(tmp .. "/f32"), locus.weights.open(tmp .. "/f16")
    local names = run:names()
    table.sort(names)
    local got = f32:names()
    table.sort(got)
    assert.are.same(names, got)
    for _, name in ipairs(names) do
      assert.are.equal(0, (run:get(name):float() - f32:get(name):float()):abs():max():item(), name)
      assert.are.equal("f16", f16:info(name).dtype, name)
    end
    local tower = locus.weights.open(tmp .. "/f16/vision_tower")
    assert.are.equal("f16", tower:info("vision_model.embeddings.patch_embedding.weight").dtype)
    -- the run's trained tower, not the fresh one it started from
    local trained = locus.weights.open(tmp .. "/run/vision_tower"):get("vision_model.embeddings.patch_embedding.weight")
    assert.are.equal(0, (trained:float() - locus.weights.open(tmp .. "/f32/vision_tower")
      :get("vision_model.embeddings.patch_embedding.weight"):float()):abs():max():item())
    local ask = "%s ground --model %s --image %s/groundinggpt/photo.png --max-new-tokens 4 'Where?'"
    local _, a = helper.sh(ask:format(helper.locus_cmd, tmp .. "/run", helper.fixtures))
    local _, b = helper.sh(ask:format(helper.locus_cmd, tmp .. "/f32", helper.fixtures))
    assert.are.equal(a, b)
    assert.has_error(function() pack(tmp .. "/run", tmp .. "/f16") end, ("pack: %s/f16 exists; pack into a new directory"):format(tmp))
    assert.has_error(function() pack(tmp .. "/run", tmp .. "/x", { dtype = "q4_0" }) end, "pack: dtype is f32, f16 or bf16, not q4_0")
    assert.has_error(function() pack(tmp .. "/nothing", tmp .. "/y") end, ("pack: %s/nothing is not a model directory (no config.json)"):format(tmp))
    rc = helper.sh(("test -e %s/x || test -e %s/y || test -e %s/x.partial"):format(tmp, tmp, tmp))
    assert.are_not.equal(0, rc)
    os.execute("rm -rf " .. tmp)
  end)
end)

describe("locus.train.patches", function()
  local patches = require "locus.train.patches"
  it("labels each patch with the colour and the box (tenths, hundredths) of the shape whose box holds its centre", function()
    -- 200 x 100 pads to 200 x 200 with 50 rows above: the box is [0.1, 0.3, 0.5, 0.6] of the square;
    -- on a 4 x 4 grid the patch centres are at 25, 75, 125, 175 of it
    local s = { width = 200, height = 100, shapes = { { colour = "blue", shape = "square", box = { 20, 10, 100, 70 } },
      { colour = "red", shape = "circle", box = { 150, 0, 197, 33 } } } }
    local l = patches.labels(s, 4)
    assert.are.equal(9, #l)
    local blue, red = 3, 1 -- scenes.COLOUR_NAMES order
    local want_colour = { 0, 0, 0, 0, blue, blue, 0, red, 0, 0, 0, 0, 0, 0, 0, 0 }
    assert.are.same(want_colour, l[1])
    -- red's box in the square: [0.75, 0.25, 0.985, 0.415] -> hundredths 75, 25, 99 (98.5 rounds up), 42
    local want = { [5] = { 1, 0, 3, 0, 5, 0, 6, 0 }, [6] = { 1, 0, 3, 0, 5, 0, 6, 0 }, [8] = { 7, 5, 2, 5, 9, 9, 4, 2 } }
    for i = 1, 16 do
      for h = 2, 9 do assert.are.equal(want[i] and want[i][h - 1] or -100, l[h][i], ("patch %d head %d"):format(i, h)) end
    end
  end)

  it("trains the tower alone on its patches' labels and writes it back; the LLM is untouched", function()
    local tmp = helper.tmpdir()
    require("locus.train.fresh").groundinggpt { out = tmp .. "/m", tokenizer = helper.fixtures .. "/groundinggpt/model/tokenizer.model",
      llm = { hidden = 32, intermediate = 48, layers = 1, heads = 2 }, tower = { hidden = 32, intermediate = 64, layers = 2, heads = 2, image_size = 56 } }
    local list = require("locus.scenes").write(tmp .. "/scenes", { count = 4, seed = 3 })
    local before = locus.weights.open(tmp .. "/m/vision_tower"):get("vision_model.encoder.layers.0.mlp.fc1.weight"):float():clone()
    local llm = locus.weights.open(tmp .. "/m"):get("lm_head.weight"):float():clone()
    local losses = {}
    patches.run { model = tmp .. "/m", scenes = list, images = tmp .. "/scenes", steps = 40, batch = 4, lr = 1e-2,
      progress = function(step, n, loss) losses[step] = loss end }
    assert.are.equal(40, #losses)
    local first, last = (losses[1] + losses[2] + losses[3]) / 3, (losses[38] + losses[39] + losses[40]) / 3
    assert.is_true(last < 0.7 * first, ("loss %.3f -> %.3f"):format(first, last))
    local after = locus.weights.open(tmp .. "/m/vision_tower"):get("vision_model.encoder.layers.0.mlp.fc1.weight"):float()
    assert.is_true((after - before):abs():max():item() > 1e-3)
    assert.are.equal(0, (locus.weights.open(tmp .. "/m"):get("lm_head.weight"):float() - llm):abs():max():item())
    os.execute("rm -rf " .. tmp)
  end)
end)

describe("examples/train_scenes.lua", function()
  it("trains a model from scratch on scenes, resumes, and scores it on held-out scenes", function()
    local tmp = helper.tmpdir()
    local cmd = ("%s run %s/examples/train_scenes.lua %s/w 3"):format(helper.locus_cmd, helper.root, tmp)
    local rc, out = helper.sh(cmd)
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("3 steps: Acc@0.5 %d%.%d+ on 100 held%-out questions"), out)
    local state = require("locus.json").decode(io.open(tmp .. "/w/run/train_state.json"):read("*a"))
    assert.are.equal(3, state.step)
    rc, out = helper.sh(cmd:gsub(" 3$", " 5")) -- five steps: goes on from the third
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("5 steps: Acc@0.5", 1, true), out)
    os.execute("rm -rf " .. tmp)
  end)
end)

