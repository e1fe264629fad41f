-- Frames in, against the ffmpeg CLI (tests/fixtures/make_videos.py).
local locus = require "locus"
local helper = require "helper"
local V = locus.video
local fx = helper.fixtures .. "/video/"
local shared = helper.root .. "/../shared/assets/media/video/"

describe("video", function()
  it("reads the frame count, duration, rate and size, counting when the container does not say", function()
    local i = V.info(fx .. "count.mp4")
    assert.are.same({ 48, 12, 64, 48, 0, false }, { i.frames, i.fps, i.width, i.height, i.rotation, i.counted })
    assert.truthy(math.abs(i.duration - 4) < 0.1)
    local u = V.info(fx .. "uncounted.mkv")
    assert.are.same({ 48, true }, { u.frames, u.counted })
    assert.are.equal(90, V.info(fx .. "rotated.mp4").rotation)
  end)

  it("samples min(64, count) frames at floor(i * count / n)", function()
    assert.are.same({ 0, 1, 2 }, V.sample_indices(3))
    local idx = V.sample_indices(243)
    assert.are.equal(64, #idx)
    assert.are.same({ 0, 3, 7, 11 }, { idx[1], idx[2], idx[3], idx[4] })
    assert.are.equal(math.floor(63 * 243 / 64), idx[64])
  end)

  it("decodes the frames the ffmpeg CLI decodes, upright, seeking or not", function()
    local frames = V.frames(fx .. "count.mp4", { 0, 7, 30, 47 }, { width = 64, height = 48 })
    for k, n in ipairs { 0, 7, 30, 47 } do
      helper.assert_equal(frames:select(1, k), locus.npy.load(fx .. ("frames_count_%d.npy"):format(n)), "frame " .. n)
    end
    -- one at a time (every one a fresh seek) gives the same frames
    helper.assert_equal(V.frames(fx .. "count.mp4", { 30 }, { width = 64, height = 48 }):select(1, 1), frames:select(1, 3))
    helper.assert_equal(V.frames(fx .. "rotated.mp4", { 7 }, { width = 48, height = 64 }):select(1, 1),
      locus.npy.load(fx .. "frames_rotated_7.npy"))
    helper.assert_equal(V.frames(fx .. "uncounted.mkv", { 30 }, { width = 64, height = 48 }):select(1, 1), frames:select(1, 3))
  end)

  it("squashes frames to 224 x 224 as decord and the ffmpeg CLI do, and normalizes them", function()
    local frames, idx, info = V.read(fx .. "count.mp4")
    assert.are.same({ 48, 224, 224, 3 }, frames:shape())
    assert.are.equal(48, #idx)
    helper.assert_equal(frames:select(1, 8), locus.npy.load(fx .. "frames_count_7_224.npy"))
    local px = V.preprocess(frames:narrow(1, 1, 2))
    assert.are.same({ 2, 3, 224, 224 }, px:shape())
    helper.assert_equal(px:select(1, 2), locus.image.normalize(frames:select(1, 2)))
    assert.are.equal(48, info.frames)
  end)

  it("matches the ffmpeg CLI on the shared videos, at full size and at 224", function()
    local f = io.open(shared .. "baby.mp4")
    if not f then return pending("../shared/assets is absent") end
    f:close()
    local ffi = require "ffi"
    for _, c in ipairs { { "baby.mp4", 100, "" }, { "dog.mp4", 210, "" }, { "mmaction2_demo.mp4", 10, ",scale=224:224" },
      { "baby.mp4", 3, ",scale=224:224" } } do -- H.264 at 640x360, 576x1024, 340x256
      local info = V.info(shared .. c[1])
      local size = c[3] == "" and { width = info.width, height = info.height } or nil
      local ours = V.frames(shared .. c[1], { c[2] }, size)
      local p = io.popen(("ffmpeg -v error -i %s -vf 'select=eq(n\\,%d)%s' -vsync 0 -frames:v 1 -f rawvideo -pix_fmt rgb24 -")
        :format(shared .. c[1], c[2], c[3]))
      local raw = p and p:read("*a") or ""
      if p then p:close() end
      if #raw == 0 then return pending("the ffmpeg CLI is not installed") end
      local o, same = ffi.cast("uint8_t *", ours:data()), true
      for i = 0, #raw - 1 do if o[i] ~= raw:byte(i + 1) then same = false break end end
      assert.is_true(same, c[1] .. " frame " .. c[2])
    end
  end)

  it("encodes frames with EVA ViT-g and ln_vision as BLIP-2 does, batched or one by one", function()
    local d = helper.fixtures .. "/video_model/"
    local enc = locus.eva.load(locus.weights.open(d .. "model.safetensors"), { heads = 2 })
    local frames = locus.npy.load(d .. "frames.npy")
    local feats = enc:features(frames)
    assert.are.same({ 2, 257, 32 }, feats:shape())
    helper.assert_f32(feats, locus.npy.load(d .. "eva_features.npy"), { k = 588, layers = 3, what = "EVA features" })
    helper.assert_f32(enc:features(frames:narrow(1, 2, 1)):select(1, 1), feats:select(1, 2), { k = 588, layers = 3, what = "frame alone" })
    assert.has_error(function() locus.eva.load(locus.weights.open(d .. "model.safetensors"), { heads = 5 }) end)
  end)

  it("runs BLIP-2's Q-Former over frame features as LAVIS does", function()
    local d = helper.fixtures .. "/video_model/"
    local q = locus.qformer.load(locus.weights.open(d .. "model.safetensors"), { heads = 2 })
    assert.is_truthy(q.layers[1].cross)
    assert.is_nil(q.layers[2].cross) -- cross-attention on every second layer
    local out = q:forward(locus.npy.load(d .. "eva_features.npy"))
    assert.are.same({ 2, 4, 16 }, out:shape())
    helper.assert_f32(out, locus.npy.load(d .. "qformer_out.npy"), { k = 257, layers = 2, what = "Q-Former" })
  end)

  it("refuses broken and frameless files with the file and the reason", function()
    local cases = { ["audio.wav"] = "has no video stream", ["empty.mp4"] = "cannot read as a video",
      ["missing.mp4"] = "cannot read as a video" }
    for file, msg in pairs(cases) do
      local ok, err = pcall(V.info, fx .. file)
      assert.is_false(ok, file)
      assert.truthy(err:find(fx .. file, 1, true) and err:find(msg, 1, true), err)
    end
    local ok, err = pcall(V.frames, fx .. "count.mp4", { 60 }, { width = 64, height = 48 })
    assert.is_false(ok)
    assert.truthy(err:find("frame 60 is past the end of the video", 1, true), err)
    ok, err = pcall(V.frames, fx .. "count.mp4", { 5, 2 })
    assert.is_false(ok)
    assert.truthy(err:find("ascending", 1, true), err)
    ok = pcall(function() return V.read(fx .. "truncated.mp4") end) -- a clean error or the frames that are there
    assert.is_boolean(ok)
  end)
end)
