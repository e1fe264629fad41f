-- GroundingGPT's image path against tests/fixtures/make_groundinggpt.py (a tiny random model in
-- the real layout, references computed as GroundingGPT's code computes them), the prompt
-- templates, the answer parsing, and `locus ground` / `locus dump`.
local locus = require "locus"
local helper = require "helper"
local cjson = require "cjson"
local fx = helper.fixtures .. "/groundinggpt/"

local function npy(name) return locus.npy.load(fx .. name .. ".npy") end

describe("groundinggpt", function()
  local m
  setup(function() m = locus.load(fx .. "model") end)

  it("matches the reference at every stage, and its greedy ids", function()
    local px, w, h = m:preprocess_image(fx .. "photo.png")
    assert.are.same({ 200, 120 }, { w, h })
    helper.assert_close(px, npy "pixel_values", 1e-6, 1e-6, "pixel values")
    local feats = m:encode_image(px)
    helper.assert_f32(feats, npy "image_features", { k = 588, layers = 3, what = "image features" })
    local rows = m:project_image(feats)
    helper.assert_f32(rows, npy "image_embeds", { k = 588, layers = 5, what = "image embeds" })
    local ids = m:input_ids(m:prompt { question = "Where is the dog?", image = true })
    assert.are.same(npy("input_ids"):totable(), ids)
    helper.assert_f32(m:logits(m:splice(ids, { image = rows })), npy "logits", { k = 700, layers = 8, what = "logits" })
    local r = m:ground { image = fx .. "photo.png", question = "Where is the dog?", max_new_tokens = 8 }
    assert.are.same(npy("greedy"):totable(), r.tokens)
    assert.are.equal(#ids, r.prompt_tokens)
    -- each stage on its own clock: the stages add up to the total
    local sum = 0
    for k, v in pairs(r.timing) do
      assert.truthy(v >= 0, k)
      if k ~= "total_s" then sum = sum + v end
    end
    -- what is left over is the parse and the moments between stages
    assert.truthy(sum <= r.timing.total_s + 1e-9 and r.timing.total_s - sum < 0.01,
      ("stages add up to total_s: %.6f of %.6f"):format(sum, r.timing.total_s))
    for _, k in ipairs { "preprocess_s", "encode_s", "project_s", "prompt_s", "generate_s" } do assert.truthy(r.timing[k], k) end
  end)

  it("tokenizes as 4.31's slow tokenizer when asked: added_token_spaces = \"strip\"", function()
    local s = locus.load(fx .. "model", { added_token_spaces = "strip" })
    local ids = s:input_ids(s:prompt { question = "Where is the dog?", image = true })
    assert.are.same(npy("input_ids_strip"):totable(), ids)
    assert.are_not.same(npy("input_ids"):totable(), ids) -- the default keeps the newline after <im_end>
    local rows = s:project_image(s:encode_image(s:preprocess_image(fx .. "photo.png")))
    helper.assert_f32(s:logits(s:splice(ids, { image = rows })), npy "logits_strip", { k = 700, layers = 8, what = "logits" })
    local rc, out = helper.sh(("%s ground --model %smodel --image %sphoto.png --added-token-spaces strip --max-new-tokens 2 --json 'Where is the dog?'")
      :format(helper.locus_cmd, fx, fx))
    assert.are.equal(0, rc, out)
    assert.are.equal(#ids, cjson.decode(out).prompt_tokens)
  end)

  it("runs CLIP's layers through the fused C block, equal to the same layer composed in Lua", function()
    local t = m.tower
    local x = t:embed(npy "pixel_values")
    for i = 1, #t.layers do
      helper.assert_f32(t:layer(x, t.layers[i]), t:layer_lua(x, t.layers[i]), { k = 577, what = "layer " .. i })
    end
    assert.has_error(function() t:features(npy "pixel_values", { layer = 7 }) end)
    assert.are.same({ 577, 32 }, t:features(npy "pixel_values", { layer = -1, cls = true }):shape())
  end)

  it("matches the reference along the video path: frames, EVA, Q-Formers, llama_proj, logits, greedy", function()
    local video = helper.fixtures .. "/video/count.mp4"
    local frames, idx, info = m:read_video(video)
    assert.are.same(npy("video_frame_indices"):totable(), idx)
    local px = m:preprocess_video(frames)
    helper.assert_close(px, npy "video_frames", 1e-6, 1e-6, "frames")
    local rows, feats = m:encode_video(px)
    helper.assert_f32(feats:select(1, 1), npy "video_eva_features", { k = 588, layers = 3, what = "EVA features" })
    helper.assert_f32(rows, npy "video_embeds", { k = 588, layers = 8, what = "video embeds" })
    local ids = m:input_ids(m:prompt { question = "When does the circle move?", video = true })
    assert.are.same(npy("video_input_ids"):totable(), ids)
    helper.assert_f32(m:logits(m:splice(ids, { video = rows })), npy "video_logits", { k = 700, layers = 11, what = "logits" })
    local r = m:ground { video = video, question = "When does the circle move?", max_new_tokens = 8 }
    assert.are.same(npy("video_greedy"):totable(), r.tokens)
    assert.are.equal(info.duration, r.duration)
    local tmp = helper.tmpdir()
    local rc, out = helper.sh(("%s dump --model %smodel --video %s --prompt 'When does the circle move?' --out %s --greedy 8")
      :format(helper.locus_cmd, fx, video, tmp))
    assert.are.equal(0, rc, out)
    helper.assert_f32(locus.npy.load(tmp .. "/video_embeds.npy"), npy "video_embeds", { k = 588, layers = 8, what = "video embeds" })
    assert.are.same(npy("video_greedy"):totable(), locus.npy.load(tmp .. "/greedy.npy"):totable())
    rc, out = helper.sh(("%s dump --model %smodel --frames %svideo_frames.npy --prompt 'When does the circle move?' --out %s/f")
      :format(helper.locus_cmd, fx, fx, tmp))
    assert.are.equal(0, rc, out)
    helper.assert_f32(locus.npy.load(tmp .. "/f/logits.npy"), npy "video_logits", { k = 700, layers = 11, what = "logits" })
    rc, out = helper.sh(("%s ground --json --model %smodel --video %s --max-new-tokens 8 'When?'"):format(helper.locus_cmd, fx, video))
    assert.are.equal(0, rc, out)
    assert.are.equal(4, cjson.decode(out).video.duration)
    os.execute("rm -rf " .. tmp)
  end)

  it("matches the reference along the audio path, alone and with the photo: rows, ids, logits, greedy", function()
    local fbank = locus.npy.load(helper.fixtures .. "/audio/dog.flac.fbank.npy") -- torchaudio's
    local rows = m:encode_audio(fbank)
    helper.assert_f32(rows, npy "audio_embeds", { k = 256, layers = 6, what = "audio embeds" })
    local image_rows = m:project_image(m:encode_image(m:preprocess_image(fx .. "photo.png")))
    for _, case in ipairs {
      { "audio", "What is making this sound?" },
      { "audio_image", "Where is the sound's point of emission in this image?", fx .. "photo.png" },
    } do
      local name, question, photo = case[1], case[2], case[3]
      local ids = m:input_ids(m:prompt { question = question, audio = true, image = photo ~= nil })
      assert.are.same(npy(name .. "_input_ids"):totable(), ids)
      local x = m:splice(ids, { audio = rows, image = photo and image_rows or nil })
      helper.assert_f32(m:logits(x), npy(name .. "_logits"), { k = 700, layers = 11, what = name .. " logits" })
      local r = m:ground { fbank = fbank, image = photo, question = question, max_new_tokens = 8, stop = {} }
      assert.are.same(npy(name .. "_greedy"):totable(), r.tokens)
    end
    -- from the sound file itself, through locus.audio: the same greedy answer (when ../shared is there)
    local dog = helper.root .. "/../shared/assets/media/audio/dog.flac"
    local f = io.open(dog)
    if f then
      f:close()
      local r = m:ground { audio = dog, question = "What is making this sound?", max_new_tokens = 8, stop = {} }
      assert.are.same(npy("audio_greedy"):totable(), r.tokens)
    end
    local tmp = helper.tmpdir()
    local rc, out = helper.sh(("%s dump --model %smodel --fbank %s/audio/dog.flac.fbank.npy --image %sphoto.png --prompt %s --out %s --greedy 8")
      :format(helper.locus_cmd, fx, helper.fixtures, fx, "\"Where is the sound's point of emission in this image?\"", tmp))
    assert.are.equal(0, rc, out)
    helper.assert_f32(locus.npy.load(tmp .. "/audio_embeds.npy"), npy "audio_embeds", { k = 256, layers = 6, what = "audio embeds" })
    assert.are.same(npy("audio_image_input_ids"):totable(), locus.npy.load(tmp .. "/input_ids.npy"):totable())
    helper.assert_f32(locus.npy.load(tmp .. "/logits.npy"), npy "audio_image_logits", { k = 700, layers = 11, what = "logits" })
    local tone = helper.fixtures .. "/audio/tone_32k.flac"
    rc, out = helper.sh(("%s dump --model %smodel --audio %s --prompt 'What is making this sound?' --out %s/a")
      :format(helper.locus_cmd, fx, tone, tmp))
    assert.are.equal(0, rc, out)
    helper.assert_close(locus.npy.load(tmp .. "/a/fbank.npy"), locus.npy.load(tone .. ".fbank.npy"), 0, 1e-3, "fbank")
    helper.assert_f32(locus.npy.load(tmp .. "/a/audio_embeds.npy"), m:encode_audio(locus.audio.read(tone)), { k = 256, layers = 6, what = "audio embeds" })
    rc, out = helper.sh(("%s ground --json --model %smodel --audio %s --image %sphoto.png --max-new-tokens 4 'Where?'")
      :format(helper.locus_cmd, fx, tone, fx))
    assert.are.equal(0, rc, out)
    assert.are.equal(200, cjson.decode(out).image.width)
    os.execute("rm -rf " .. tmp)
  end)

  it("runs from one GGUF file that locus convert makes of the directory, every path matching the reference", function()
    local tmp = helper.tmpdir()
    local file, q8 = tmp .. "/gg.gguf", tmp .. "/gg-q8_0.gguf"
    local rc, out = helper.sh(("%s convert %smodel %s"):format(helper.locus_cmd, fx, file))
    assert.are.equal(0, rc, out)
    rc, out = helper.sh(("%s convert %smodel %s --type q8_0 --encoders f16"):format(helper.locus_cmd, fx, q8))
    assert.are.equal(0, rc, out)
    -- llama.cpp's names and metadata for the LLM, the checkpoint's names (long ones listed) for the rest
    local w = locus.weights.open(file)
    assert.truthy(w:has("blk.1.attn_q.weight") and w:has("token_embd.weight") and w:has("model.mm_vision_projector.0.weight"))
    assert.truthy(w:has("model.Qformer.bert.encoder.layer.0.attention.output.dense.weight"))
    assert.are.equal("llama", w:metadata()["general.architecture"])
    -- f32 weights as the directory's: every stage equals the reference as the directory does (the
    -- tower is found where convert found it, the added tokens come from the file)
    local g = locus.load(file)
    assert.are.equal(m.tokenizer:id("<im_patch>"), g.tokenizer:id("<im_patch>"))
    local feats = g:encode_image(g:preprocess_image(fx .. "photo.png"))
    helper.assert_f32(feats, npy "image_features", { k = 588, layers = 3, what = "image features" })
    local rows = g:project_image(feats)
    local ids = g:input_ids(g:prompt { question = "Where is the dog?", image = true })
    assert.are.same(npy("input_ids"):totable(), ids)
    helper.assert_f32(g:logits(g:splice(ids, { image = rows })), npy "logits", { k = 700, layers = 8, what = "logits" })
    assert.are.same(npy("greedy"):totable(), g:ground { image = fx .. "photo.png", question = "Where is the dog?", max_new_tokens = 8 }.tokens)
    local vrows = g:encode_video(npy "video_frames")
    helper.assert_f32(vrows, npy "video_embeds", { k = 588, layers = 8, what = "video embeds" })
    local fbank = locus.npy.load(helper.fixtures .. "/audio/dog.flac.fbank.npy")
    helper.assert_f32(g:encode_audio(fbank), npy "audio_embeds", { k = 256, layers = 6, what = "audio embeds" })
    -- q8_0 with the encoders in f16: the file carries the CLIP tower; f16 weights round each
    -- weight by at most 2^-11 of itself, so each of the tower's 3 stages moves the features by a
    -- few units of that times their scale
    local q = locus.load(q8, { vision_tower = nil })
    assert.are.equal(q8 .. " (vision_tower)", q.tower_path)
    assert.are.equal("q8_0", locus.weights.open(q8):info("blk.0.ffn_up.weight").dtype)
    assert.are.equal("f16", locus.weights.open(q8):info("vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight").dtype)
    local qf = q:encode_image(q:preprocess_image(fx .. "photo.png"))
    local scale = npy("image_features"):abs():max():item()
    helper.assert_close(qf, npy "image_features", 0, 8 * 2 ^ -11 * 3 * scale, "image features, f16 tower")
    -- `ground --model FILE` as with the directory
    rc, out = helper.sh(("%s ground --json --model %s --image %sphoto.png --max-new-tokens 8 'Where is the dog?'")
      :format(helper.locus_cmd, file, fx))
    assert.are.equal(0, rc, out)
    assert.are.same(npy("greedy"):totable(), cjson.decode(out).tokens)
    os.execute("rm -rf " .. tmp)
  end)

  it("encodes a picture once per process: the next question reuses its rows until the file or the pixels change", function()
    local g = locus.load(fx .. "model")
    local tmp = helper.tmpdir()
    local photo = tmp .. "/photo.png"
    os.execute(("cp %sphoto.png %s"):format(fx, photo))
    local first = g:encode { image = photo }
    assert.is_nil(first.reused.image)
    local again = g:encode { image = photo }
    assert.is_true(again.reused.image)
    assert.are.equal(first.rows.image, again.rows.image)
    assert.are.same({ 200, 120 }, { again.width, again.height })
    -- the answers are those of a fresh model
    local r = g:ground { image = photo, question = "Where is the dog?", max_new_tokens = 8 }
    assert.are.same(npy("greedy"):totable(), r.tokens)
    assert.is_nil(g:encode({ image = photo }, { reuse = false }).reused.image)
    -- a new file under the same name is encoded again
    local img = locus.image.read(photo)
    img:narrow(1, 1, 10):fill(0)
    locus.image.save(photo, img)
    local changed = g:encode { image = photo }
    assert.is_nil(changed.reused.image)
    assert.are_not.same(first.rows.image:totable()[1], changed.rows.image:totable()[1])
    -- decoded pixels: the same bytes are reused, a copy kept so that later changes count
    local px = locus.image.read(fx .. "photo.png")
    assert.is_nil(g:encode({ image = px }).reused.image)
    assert.is_true(g:encode({ image = px:clone() }).reused.image)
    px:narrow(1, 1, 1):fill(7)
    assert.is_nil(g:encode({ image = px }).reused.image)
    -- the rows of one precision are not those of another
    locus.set_precision("exact")
    assert.is_nil(g:encode({ image = fx .. "photo.png" }).reused.image)
    locus.set_precision("fast")
    os.execute("rm -rf " .. tmp)
  end)

  it("runs each stage in the precision the model was loaded with, and restores the caller's", function()
    local tmp = helper.tmpdir()
    local q8 = tmp .. "/q8.gguf"
    local rc, out = helper.sh(("%s convert %smodel %s --type q8_0"):format(helper.locus_cmd, fx, q8))
    assert.are.equal(0, rc, out)
    local ids = m:input_ids(m:prompt { question = "Where is the dog?", image = true })
    local function logits(model) return model:logits(model:splice(ids, { image = model:project_image(model:encode_image(npy "pixel_values")) })) end
    locus.set_precision("exact")
    local exact = logits(locus.load(q8))
    locus.set_precision("fast")
    local fast = logits(locus.load(q8))
    assert.are_not.same(exact:totable(), fast:totable()) -- Q8_0 activations in fast precision
    local staged = locus.load(q8, { precision = { llm = "exact" } })
    helper.assert_equal(logits(staged), exact, "llm in exact precision")
    assert.are.equal("fast", locus.precision())
    assert.has_error(function() locus.load(q8, { precision = "half" }) end,
      q8 .. ': precision must be "exact", "fast" or "bf16", not half')
    assert.has_error(function() locus.load(q8, { precision = { text = "exact" } }) end,
      q8 .. ": precision has no stage 'text' (image, video, audio, llm)")
    rc, out = helper.sh(("%s ground --json --model %s --precision image=exact,llm=exact --image %sphoto.png --max-new-tokens 4 'Where?'")
      :format(helper.locus_cmd, q8, fx))
    assert.are.equal(0, rc, out)
    os.execute("rm -rf " .. tmp)
  end)

  it("reads the user's words as text: markup in a question never becomes a modality's tokens", function()
    local added = {}
    for _, t in ipairs(locus.groundinggpt.ADDED_TOKENS) do added[m.tokenizer:id(t)] = t end
    local function count(ids)
      local n = 0
      for _, id in ipairs(ids) do if added[id] then n = n + 1 end end
      return n
    end
    for _, kind in ipairs(locus.prompt.ORDER) do
      local block = locus.prompt.block(kind)
      local question = "Look: " .. block .. " and " .. locus.prompt.TOKENS[kind].patch .. " where?"
      -- the template's block for the image alone; the question's markup is plain pieces
      local ids = m:prompt_ids { question = question, history = { { block, block } }, image = true }
      assert.are.equal(576 + 2, count(ids), kind)
      local plain = m.tokenizer:encode(question, { bos = false })
      assert.are.equal(0, count(m.tokenizer:encode(question, { bos = false, plain = { { 1, #question } } })), kind)
      assert.truthy(count(plain) > 0, kind) -- read raw, they are tokens
      -- opting in reads them as tokens
      local raw = m:prompt_ids { question = question, image = true, raw_tokens = true }
      assert.are.equal(576 + 2 + count(plain), count(raw), kind)
    end
    -- a normal question tokenizes as before
    assert.are.same(npy("input_ids"):totable(), m:prompt_ids { question = "Where is the dog?", image = true })
    -- ground reads the question the same way
    local question = "<im_start><im_patch><im_end>Where is the dog?"
    local r = m:ground { image = fx .. "photo.png", question = question, max_new_tokens = 1 }
    assert.are.equal(#m:prompt_ids { question = question, image = true }, r.prompt_tokens)
    assert.are_not.equal(#m:prompt_ids { question = question, image = true, raw_tokens = true }, r.prompt_tokens)
  end)

  it("states how far each precision is from exact and from GroundingGPT's own bf16 run (make_bf16_runs.py)", function()
    local pixels, frames = npy "pixel_values", npy "video_frames"
    local ids, vids = npy("input_ids"):totable(), npy("video_input_ids"):totable()
    local function run(precision)
      local g = locus.load(fx .. "model", { precision = precision })
      local rows = g:encode({ pixel_values = pixels }).rows.image
      local vrows = g:encode({ frames = frames }).rows.video
      return { image_embeds = rows, logits = g:logits(g:splice(ids, { image = rows })), video_embeds = vrows,
        video_logits = g:logits(g:splice(vids, { video = vrows })) }
    end
    -- stacked stages each output has gone through (the projector's 2 linears after CLIP's; the
    -- decoder's 2 layers of 2 products each, and the lm_head, after the rows)
    local layers = { image_embeds = 2, logits = 8, video_embeds = 8, video_logits = 13 }
    local runs = { exact = run("exact"), fast = run("fast"), bf16 = run("bf16") }
    local bf16_engaged = locus.cpu_features():find("avx512bf16") and locus.kernel_path() == "avx512"
    for name, l in pairs(layers) do
      local want = npy(name) -- GroundingGPT's code in f32
      local torch_bf16 = npy("bf16_" .. name)
      local scale = want:abs():max():item()
      -- exact and fast (f32 activations for the bf16 checkpoint) are f32 computations
      helper.assert_f32(runs.exact[name], want, { k = 700, layers = l, what = name .. ", exact" })
      helper.assert_f32(runs.fast[name], want, { k = 700, layers = l, what = name .. ", fast" })
      -- bf16: products of bf16-rounded activations; PyTorch in bf16 rounds every op's output
      helper.assert_close(runs.bf16[name], want, 0, helper.bf16_tolerance(l, scale), name .. ", bf16 from exact")
      helper.assert_close(torch_bf16, want, 0, helper.bf16_tolerance(l, scale, 2), name .. ", PyTorch bf16 from exact")
      helper.assert_close(runs.bf16[name], torch_bf16, 0, helper.bf16_tolerance(l, scale, 3), name .. ", bf16 from PyTorch bf16")
      if bf16_engaged then -- the bf16 kernels did run: the result moved by more than f32 rounding
        assert.truthy((runs.bf16[name] - want):abs():max():item() > 1e-4 * scale, name .. ": bf16 precision changed nothing")
      end
    end
  end)

  it("takes EVA, the frame Q-Former and ImageBind from eva_vit_g.pth, BLIP-2's .pth and imagebind_huge.pth when the checkpoint lacks them", function()
    local ok, err = pcall(locus.load, fx .. "model_split")
    assert.is_false(ok)
    assert.truthy(err:find("give eva = eva_vit_g.pth and blip2", 1, true), err)
    ok, err = pcall(locus.load, fx .. "model_split", { eva = fx .. "eva_vit_g.pth", blip2 = fx .. "blip2.pth" })
    assert.is_false(ok)
    assert.truthy(err:find("no ImageBind audio encoder (model.audio_encoder.*); give imagebind = imagebind_huge.pth", 1, true), err)
    local split = locus.load(fx .. "model_split", { eva = fx .. "eva_vit_g.pth", blip2 = fx .. "blip2.pth",
      imagebind = helper.fixtures .. "/imagebind/audio_encoder.pth" })
    local r = split:ground { video = helper.fixtures .. "/video/count.mp4", question = "When does the circle move?", max_new_tokens = 8 }
    assert.are.same(npy("video_greedy"):totable(), r.tokens)
    r = split:ground { fbank = locus.npy.load(helper.fixtures .. "/audio/dog.flac.fbank.npy"), question = "What is making this sound?",
      max_new_tokens = 8, stop = {} }
    assert.are.same(npy("audio_greedy"):totable(), r.tokens)
  end)

  it("keeps <im_start> and <im_end> and overwrites exactly the patch rows", function()
    local ids = m:input_ids(m:prompt { question = "x", image = true })
    local rows = locus.tensor.randn { 576, 64, seed = 3 }
    local x, plain = m:splice(ids, { image = rows }), m.llm:embed(ids)
    local at = 0
    for i, id in ipairs(ids) do if id == m.tokenizer:id("<im_start>") then at = i end end
    helper.assert_equal(x:narrow(1, at, 1), plain:narrow(1, at, 1))
    helper.assert_equal(x:narrow(1, at + 1, 576), rows)
    helper.assert_equal(x:narrow(1, at + 577, 1), plain:narrow(1, at + 577, 1))
    assert.has_error(function() m:splice(m:input_ids("no image here"), { image = rows }) end)
  end)

  it("builds the inference and training templates, sound then video then image", function()
    local p = locus.prompt
    local blocks = "<so_start>" .. ("<so_patch>"):rep(8) .. "<so_end>\n<vi_start>" .. ("<vi_patch>"):rep(64) ..
      "<vi_end>\n<im_start>" .. ("<im_patch>"):rep(576) .. "<im_end>\n"
    assert.are.equal(p.SYSTEM .. "###Human: " .. blocks .. "When?###Assistant:",
      p.build { question = "When?", image = true, video = true, audio = true })
    assert.are.equal(p.SYSTEM .. "###Human: " .. p.block("image") .. "Q1###Assistant: A1###Human: Q2###Assistant:",
      p.build { question = "Q2", image = true, history = { { "Q1", "A1" } } })
    assert.are.equal(p.SYSTEM .. "\n\n### Human: " .. p.block("image") .. "Where?\n### Assistant: ",
      p.build { question = "Where?", image = true, template = "training" })
    assert.has_error(function() p.build { question = "x", template = "chatml" } end)
  end)

  it("maps boxes back to the photo as GroundingGPT's postprocess_output does", function()
    for _, c in ipairs(cjson.decode(io.open(fx .. "postprocess_cases.json"):read("*a"))) do
      assert.are.equal(c.rewritten, locus.grounding.rewrite(c.text, c.width, c.height), c.text .. " " .. c.width .. "x" .. c.height)
    end
  end)

  it("parses phrases, boxes with any spacing, spans, and reports malformed ones", function()
    local r = locus.grounding.parse("The brown dog[0.1,0.2 , 0.5,0.6] and a cat [0.5, 0.5, 0.9, 0.9] [0.0, 0.1, 0.2, 0.3].",
      { width = 100, height = 100 })
    assert.are.equal(3, #r.boxes)
    assert.are.equal("The brown dog", r.boxes[1].phrase)
    assert.are.same({ 10, 20, 50, 60 }, { r.boxes[1].x0, r.boxes[1].y0, r.boxes[1].x1, r.boxes[1].y1 })
    assert.are.equal("a cat", r.boxes[2].phrase)
    assert.are.equal("a cat", r.boxes[3].phrase) -- boxes in a row share the phrase
    local wide = locus.grounding.parse("it [0.25, 0.25, 0.75, 0.75]", { width = 200, height = 100 })
    assert.are.same({ 50, 0, 150, 100 }, { wide.boxes[1].x0, wide.boxes[1].y0, wide.boxes[1].x1, wide.boxes[1].y1 })
    local bad = locus.grounding.parse("a [0.5, 0.2] b [1.2, 0, 0.3, 0.4] c [0.6, 0.6, 0.2, 0.9] d {0.2, x}", { width = 10, height = 10 })
    assert.are.equal(0, #bad.boxes)
    assert.are.equal(4, #bad.problems)
    -- an answer cut off inside a box or a span (max_new_tokens ran out) says so
    local cut = locus.grounding.parse("The dog [0.12, 0.3, 0.5", { width = 10, height = 10 })
    assert.are.equal(0, #cut.boxes)
    assert.are.same({ { text = "[0.12, 0.3, 0.5", reason = "a box without its closing ] (the answer was cut off?)" } }, cut.problems)
    cut = locus.grounding.parse("a [0.1, 0.1, 0.2, 0.2] b [0.3 c [0.1, 0.1, 0.2, 0.2] from {0.1, 0.", { width = 10, height = 10 })
    assert.are.equal(2, #cut.boxes)
    assert.are.same({ "[0.3 c ", "{0.1, 0." }, { cut.problems[1].text, cut.problems[2].text })
    local s = locus.grounding.parse("It barks {0.25, 0.5} then {0.7,0.9}.", { duration = 8 })
    assert.are.equal(2, #s.spans)
    assert.are.same({ 2, 4 }, { s.spans[1].t0, s.spans[1].t1 })
    assert.are.equal("It barks", s.spans[1].phrase)
  end)

  it("ground --json is valid JSON whatever bytes the answer holds", function()
    local cli = require "locus.cli"
    local r = { text = "dog \xe1 [0.1, 0.2, 0.3, 0.4] cut \xe6\x97", tokens = { 5, 6 }, prompt_tokens = 9, width = 4, height = 2,
      boxes = { { phrase = "dog \xe1", x0 = 1, y0 = 0, x1 = 2, y1 = 1, fx0 = 0.1, fy0 = 0.2, fx1 = 0.3, fy1 = 0.4 } }, spans = {},
      problems = { { text = "[0.3", reason = "cut" } }, timing = { total_s = 1 } }
    local text = locus.json.encode(cli.ground_json(r))
    local j = cjson.decode(text)
    assert.are.equal("dog \239\191\189 [0.1, 0.2, 0.3, 0.4] cut \239\191\189\239\191\189", j.text)
    assert.are.equal("dog \239\191\189", j.boxes[1].phrase)
    assert.are.same({}, j.spans)
    assert.truthy(text:find('^{"text":.-,"tokens":%[5,6%],"prompt_tokens":9,"boxes":'), text) -- a fixed key order
    -- every byte value, alone and in pairs, gives valid UTF-8
    for b = 0, 255 do
      local one = locus.json.encode(string.char(b, 0x80) .. string.char(b))
      assert.truthy(pcall(cjson.decode, one), ("byte %d: %s"):format(b, one))
    end
  end)

  it("locus ground --json and locus dump write what the Lua API computes", function()
    local rc, out = helper.sh(("%s ground --json --model %smodel --image %sphoto.png --max-new-tokens 8 'Where is the dog?'")
      :format(helper.locus_cmd, fx, fx))
    assert.are.equal(0, rc, out)
    local j = cjson.decode(out)
    assert.are.same(npy("greedy"):totable(), j.tokens)
    assert.are.same({ width = 200, height = 120 }, j.image)
    assert.truthy(j.timing.total_s > 0)
    local tmp = helper.tmpdir()
    rc, out = helper.sh(("%s dump --model %smodel --image %sphoto.png --prompt 'Where is the dog?' --out %s --greedy 8")
      :format(helper.locus_cmd, fx, fx, tmp))
    assert.are.equal(0, rc, out)
    helper.assert_close(locus.npy.load(tmp .. "/pixel_values.npy"), npy "pixel_values", 1e-6, 1e-6, "pixel values")
    for name, layers in pairs { image_features = 3, image_embeds = 5, logits = 8 } do
      helper.assert_f32(locus.npy.load(tmp .. "/" .. name .. ".npy"), npy(name), { k = 700, layers = layers, what = name })
    end
    assert.are.same(npy("input_ids"):totable(), locus.npy.load(tmp .. "/input_ids.npy"):totable())
    assert.are.same(npy("greedy"):totable(), locus.npy.load(tmp .. "/greedy.npy"):totable())
    -- --pixel-values replaces the image
    rc, out = helper.sh(("%s dump --model %smodel --pixel-values %spixel_values.npy --prompt 'Where is the dog?' --out %s/b")
      :format(helper.locus_cmd, fx, fx, tmp))
    assert.are.equal(0, rc, out)
    helper.assert_f32(locus.npy.load(tmp .. "/b/logits.npy"), npy "logits", { k = 700, layers = 8, what = "logits" })
    os.execute("rm -rf " .. tmp)
  end)

  it("draws numbered boxes, crops them, saves PNG and JPEG, and chats over several turns", function()
    local tmp = helper.tmpdir()
    local img = locus.image.read(fx .. "photo.png")
    local r = locus.grounding.parse("a [0.1, 0.1, 0.5, 0.5]", { width = 200, height = 120 })
    local drawn = locus.image.draw_boxes(img, r.boxes)
    assert.are_not.same(img:totable()[50], drawn:totable()[50])
    locus.image.save(tmp .. "/d.png", drawn)
    helper.assert_equal(locus.image.read(tmp .. "/d.png"), drawn) -- PNG is lossless
    locus.image.save(tmp .. "/d.jpg", drawn)
    assert.are.same({ 120, 200, 3 }, locus.image.read(tmp .. "/d.jpg"):shape())
    assert.has_error(function() locus.image.save(tmp .. "/d.gif", drawn) end)
    local crop = locus.image.crop(img, r.boxes[1])
    assert.are.same({ r.boxes[1].y1 - r.boxes[1].y0, r.boxes[1].x1 - r.boxes[1].x0, 3 }, crop:shape())
    local rc, out = helper.sh(("printf 'Where is the dog?\nAnd then?\n' | %s chat --model %smodel --image %sphoto.png --max-new-tokens 4")
      :format(helper.locus_cmd, fx, fx))
    assert.are.equal(0, rc, out)
    local _, turns = out:gsub("Assistant: ", "")
    assert.are.equal(2, turns, out)
    -- no --max-new-tokens: the default fits what the context has room for (the README's command)
    rc, out = helper.sh(("%s ground --model %smodel --image %sphoto.png --draw %s/g.png 'Where?'")
      :format(helper.locus_cmd, fx, fx, tmp))
    assert.are.equal(0, rc, out)
    assert.are.same({ 120, 200, 3 }, locus.image.read(tmp .. "/g.png"):shape())
    os.execute("rm -rf " .. tmp)
  end)

  it("chats about a video and a sound as well, answering as the Lua API does", function()
    local video, tone = helper.fixtures .. "/video/count.mp4", helper.fixtures .. "/audio/tone_32k.flac"
    local rc, out = helper.sh(("printf 'When does it move?\\nAnd then?\\n' | %s chat --model %smodel --video %s --audio %s --max-new-tokens 4")
      :format(helper.locus_cmd, fx, video, tone))
    assert.are.equal(0, rc, out)
    local first = out:match("Assistant: (.-)\n")
    local want = m:ground { video = video, audio = tone, question = "When does it move?", max_new_tokens = 4 }
    assert.are.equal(want.text, (first:gsub("%s+$", "")))
    local _, turns = out:gsub("Assistant: ", "")
    assert.are.equal(2, turns, out)
    -- in one process, a second question about the same media prefills only what is new
    local enc = m:encode { video = video, audio = tone }
    local q1 = m:prompt_ids { question = "When does it move?", media = enc }
    local a1 = m:answer(q1, enc.rows, { max_new_tokens = 4 })
    local q2 = m:prompt_ids { question = "And then?", history = { { "When does it move?", a1.text } }, media = enc }
    local a2 = m:answer(q2, enc.rows, { max_new_tokens = 4 })
    assert.truthy(a2.reused_tokens >= #q1 - 12, ("turn 2 reused %d of %d tokens"):format(a2.reused_tokens, #q2))
    local fresh = m:answer(q2, enc.rows, { max_new_tokens = 4, reuse = false })
    assert.are.same(fresh.ids, a2.ids)
  end)

  it("says what is missing: the vision tower, the image", function()
    local tmp = helper.tmpdir()
    os.execute(("cp -r %smodel %s/model"):format(fx, tmp))
    local ok, err = pcall(locus.load, tmp .. "/model")
    assert.is_false(ok)
    assert.truthy(err:find("the vision tower '../clip' was not found", 1, true), err)
    assert.truthy(err:find("--vision-tower", 1, true), err)
    assert.truthy(pcall(locus.load, tmp .. "/model", { vision_tower = fx .. "clip" }))
    local rc, out = helper.sh(("%s ground --model %smodel --image %s/none.jpg 'Where?'"):format(helper.locus_cmd, fx, tmp))
    assert.are.equal(1, rc, out)
    assert.truthy(out:find("none.jpg: cannot open", 1, true), out)
    os.execute("rm -rf " .. tmp)
  end)
end)
