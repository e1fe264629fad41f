-- Sound in, against torchaudio and ImageBind's audio preprocessing (tests/fixtures/make_audio.py).
local locus = require "locus"
local helper = require "helper"
local A = locus.audio
local fx = helper.fixtures .. "/audio/"
local shared = helper.root .. "/../shared/assets/media/audio/"

-- The shared sounds (../shared/assets) are checked when they are there; the fixtures' own always.
local function path_of(name)
  for _, dir in ipairs { fx, shared, shared .. "../video/" } do
    local f = io.open(dir .. name)
    if f then f:close(); return dir .. name end
  end
end

local function peak_memory_kb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s*(%d+)")
    if kb then return tonumber(kb) end
  end
end

describe("audio", function()
  it("reads rate, channels and length", function()
    local i = A.info(fx .. "u8_6ch_8k.wav")
    assert.are.same({ 8000, 6, 21600, "sndfile" }, { i.sample_rate, i.channels, i.frames, i.decoder })
    assert.are.equal(2.7, i.duration)
    local m = A.info(fx .. "aac_3s.m4a") -- FFmpeg counts the decoded samples, priming included as torchaudio has them
    assert.are.same({ 44100, 2, 146432, "ffmpeg" }, { m.sample_rate, m.channels, m.frames, m.decoder })
  end)

  it("resamples to 16 kHz as torchaudio.functional.resample does", function()
    for _, name in ipairs { "dog.flac", "tone_32k.flac", "u8_6ch_8k.wav", "s16_192k.wav", "short_0.1s.wav" } do
      if not path_of(name) then goto continue end
      local want = locus.npy.load(fx .. name .. ".resampled.npy")
      local w = A.samples(path_of(name)):select(1, 1)
      local got = want:size(1) == 1 and w:view(1, -1)
        or locus.tensor.cat({ w:narrow(1, 1, 8000), w:narrow(1, w:size(1) - 7999, 8000) }, 1):view(2, 8000)
      helper.assert_close(got, want, 0, 2e-5, name)
      ::continue::
    end
  end)

  it("reads any stretch exactly as resampling the whole file gives it, through libsndfile or FFmpeg", function()
    for _, case in ipairs { { fx .. "tone_32k.flac", 32000, 64000 }, { fx .. "aac_3s.m4a", 44100, 53128 } } do
      local path, rate, n16 = case[1], case[2], case[3]
      local whole = A.resample(A.samples(path, { rate = rate }), rate, 16000)
      assert.are.equal(n16, whole:size(2))
      for _, span in ipairs { { 0, 100 }, { 1, 17 }, { 12461, 15661 }, { 21333, 53333 }, { n16 - 56, n16 }, { n16 - 856, n16 + 999999 } } do
        local got = A.samples(path, { start = span[1], stop = span[2] })
        local n = math.min(span[2], n16) - span[1]
        helper.assert_equal(got, whole:narrow(2, span[1] + 1, n), path .. " samples " .. span[1] .. ".." .. span[2])
      end
      assert.are.equal(0, A.samples(path, { start = n16 + 10, stop = n16 + 100 }):size(2))
    end
  end)

  it("places the three 2-s clips as pytorchvideo's sampler does, on exact fractions", function()
    -- from tests/fixtures/reference.py's clip_timepoints (int(t * 16000) on Python's Fractions)
    local cases = {
      [0] = { 0, 0, 0 }, [31999] = { 0, 0, 0 }, [32003] = { 0, 1, 2 }, [32009] = { 0, 3, 6 },
      [34058] = { 0, 685, 1371 }, [34247] = { 0, 748, 1497 }, [104908] = { 0, 24302, 48605 },
      [172800000] = { 0, 57589333, 115178666 },
    }
    for n, starts in pairs(cases) do
      local spans = A.clip_spans(n)
      for k = 1, 3 do
        assert.are.same({ starts[k], math.min(starts[k] + 32000, n) }, spans[k], "clip " .. k .. " of " .. n .. " samples")
      end
    end
  end)

  it("computes ImageBind's normalized Kaldi filter banks within 1e-3 of torchaudio", function()
    for _, name in ipairs { "bird_audio.wav", "dog.flac", "mmaction2_test.wav", "machine.wav", "baby.mp4", "tone_32k.flac",
      "aac_3s.m4a", "u8_6ch_8k.wav", "s16_192k.wav", "short_0.1s.wav", "silent.wav" } do
      if not path_of(name) then goto continue end
      local x, spans = A.read(path_of(name))
      local want_spans = locus.npy.load(fx .. name .. ".spans.npy")
      for k = 1, 3 do
        assert.are.same({ want_spans:get(k, 1), want_spans:get(k, 2) }, spans[k], name .. " clip " .. k)
      end
      helper.assert_close(x, locus.npy.load(fx .. name .. ".fbank.npy"), 0, 1e-3, name)
      ::continue::
    end
  end)

  it("reads NaN and infinite samples as silence rather than spreading them", function()
    local x = A.read(fx .. "nan.wav")
    assert.are.same({ 3, 1, 128, 204 }, x:shape())
    local s = x:abs():sum():item()
    assert.truthy(s == s and s < math.huge)
  end)

  it("decodes only the clips' stretches of a three-hour file", function()
    local dir = helper.tmpdir()
    local path = dir .. "/three_hours.wav"
    -- a sparse 16-bit mono 16 kHz WAV: 44-byte header, then 3 h of samples that read as zeros
    local bytes = 3 * 3600 * 16000 * 2
    local function u32(v) return string.char(v % 256, math.floor(v / 256) % 256, math.floor(v / 65536) % 256, math.floor(v / 16777216) % 256) end
    local f = assert(io.open(path, "wb"))
    f:write("RIFF", u32(36 + bytes), "WAVEfmt ", u32(16), "\1\0\1\0", u32(16000), u32(32000), "\2\0\16\0", "data", u32(bytes))
    f:seek("set", 44 + bytes - 2)
    f:write("\0\0")
    f:close()
    local before = peak_memory_kb()
    local x, spans = A.read(path)
    assert.are.same({ 3, 1, 128, 204 }, x:shape())
    assert.are.same({ 115178666, 115210666 }, spans[3])
    assert.truthy(peak_memory_kb() - before < 64 * 1024, "peak memory grew by more than 64 MiB")
    os.execute("rm -rf " .. dir)
  end)

  it("refuses corrupt, truncated and non-audio files with an error naming them", function()
    local ok, err = pcall(A.read, fx .. "truncated.flac")
    assert.is_false(ok)
    assert.truthy(err:find("truncated.flac", 1, true), err)
    ok, err = pcall(A.read, helper.fixtures .. "/groundinggpt/photo.png")
    assert.is_false(ok)
    assert.truthy(err:find("photo.png: has no sound track", 1, true), err)
    ok, err = pcall(A.read, helper.fixtures .. "/make_audio.py")
    assert.is_false(ok)
    assert.truthy(err:find("make_audio.py: cannot read as audio", 1, true), err)
    local dir = helper.tmpdir()
    local function write_altered(src, dst, alter)
      local f = assert(io.open(src, "rb"))
      local data = alter(f:read("*a"))
      f:close()
      f = assert(io.open(dir .. "/" .. dst, "wb"))
      f:write(data)
      f:close()
      return dir .. "/" .. dst
    end
    -- AAC cut short, its index (at the end) lost
    ok, err = pcall(A.read, write_altered(fx .. "aac_3s.m4a", "cut.m4a", function(d) return d:sub(1, math.floor(#d / 2)) end))
    assert.is_false(ok)
    assert.truthy(err:find("cut.m4a", 1, true), err)
    -- FLAC with every 997th byte of its frames inverted
    ok, err = pcall(A.read, write_altered(fx .. "tone_32k.flac", "corrupt.flac", function(d)
      local parts = { d:sub(1, 20000) }
      for i = 20001, #d, 997 do
        parts[#parts + 1] = string.char(255 - d:byte(i)) .. d:sub(i + 1, math.min(i + 996, #d))
      end
      return table.concat(parts)
    end))
    assert.is_false(ok)
    assert.truthy(err:find("corrupt.flac: truncated or corrupt audio", 1, true), err)
    os.execute("rm -rf " .. dir)
    ok, err = pcall(A.read, fx .. "missing.wav")
    assert.is_false(ok)
    assert.truthy(err:find("missing.wav", 1, true), err)
  end)
end)
