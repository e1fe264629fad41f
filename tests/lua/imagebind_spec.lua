-- ImageBind's audio encoder against torch's own modules wired as ImageBind wires them
-- (tests/fixtures/make_imagebind.py: width 64, 4 heads, 2 blocks, the real stem and input size).
local locus = require "locus"
local helper = require "helper"
local fx = helper.fixtures .. "/imagebind/"

describe("imagebind audio encoder", function()
  local w = locus.weights.open(fx .. "audio_encoder.pth")
  local enc = locus.imagebind.load_audio(w, { heads = 4 })
  local fbank = locus.npy.load(helper.fixtures .. "/audio/dog.flac.fbank.npy")

  it("reads imagebind_huge.pth's audio keys, the logit scale included", function()
    assert.are.equal(2, #enc.blocks)
    assert.are.equal(64, enc.width)
    assert.truthy(math.abs(enc.scale - 20) < 1e-5)
  end)

  it("matches the trunk's tokens (stem, CLS, positions, blocks with add_bias_kv attention)", function()
    helper.assert_f32(enc:tokens(fbank:select(1, 1)), locus.npy.load(fx .. "tokens.npy"), { k = 256, layers = 1, what = "tokens" })
  end)

  it("matches the normalized, scaled embeddings of all three clips", function()
    local e = enc:forward(fbank)
    helper.assert_f32(e, locus.npy.load(fx .. "embeds.npy"), { k = 256, layers = 4, what = "embeds" })
    for i = 1, 3 do
      local r = e:select(1, i)
      assert.truthy(math.abs(math.sqrt((r * r):sum():item()) - 20) < 1e-3)
    end
  end)

  it("gives the same embeddings from a sound file through locus.audio", function()
    local dog = helper.root .. "/../shared/assets/media/audio/dog.flac"
    local f = io.open(dog)
    if not f then return pending("../shared/assets is absent") end
    f:close()
    local e = enc:forward(locus.audio.read(dog))
    helper.assert_close(e, locus.npy.load(fx .. "embeds.npy"), 1e-3, 1e-3, "embeds from dog.flac")
  end)

  it("refuses weights without the audio trunk and filter banks of the wrong size", function()
    local ok, err = pcall(locus.imagebind.load_audio, locus.weights.open(helper.fixtures .. "/groundinggpt/clip"))
    assert.is_false(ok)
    assert.truthy(err:find("modality_trunks.audio", 1, true), err)
    ok, err = pcall(enc.forward, enc, locus.tensor.zeros { 3, 1, 128, 100 })
    assert.is_false(ok)
    assert.truthy(err:find("position embeddings", 1, true), err)
    ok, err = pcall(enc.forward, enc, locus.tensor.zeros { 128, 204 })
    assert.is_false(ok)
    assert.truthy(err:find("[clips, 1, mel, frames]", 1, true), err)
  end)
end)

describe("GroundingGPT audio branch", function()
  local w = locus.weights.open(fx .. "audio_branch.safetensors")
  local branch = locus.audio_branch.load(w, { imagebind_heads = 4, qformer_heads = 4 })
  local fbank = locus.npy.load(helper.fixtures .. "/audio/dog.flac.fbank.npy")

  it("finds the encoder under model.audio_encoder. and computes encode_audioQformer's rows", function()
    local rows, e = branch:forward(fbank)
    helper.assert_f32(e, locus.npy.load(fx .. "embeds.npy"), { k = 256, layers = 4, what = "clip embeddings" })
    helper.assert_f32(rows, locus.npy.load(fx .. "audio_embeds.npy"), { k = 256, layers = 7, what = "audio rows" })
  end)

  it("refuses more clips than position embeddings, and checkpoints without the branch", function()
    local ok, err = pcall(branch.from_embeddings, branch, locus.tensor.randn { 9, 32 })
    assert.is_false(ok)
    assert.truthy(err:find("9 clips, but 8 audio position embeddings", 1, true), err)
    ok, err = pcall(locus.audio_branch.load, locus.weights.open(fx .. "audio_encoder.pth"))
    assert.is_false(ok)
    assert.truthy(err:find("no model.audio_position_embedding.weight", 1, true), err)
  end)
end)
