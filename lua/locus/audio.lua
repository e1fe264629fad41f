-- locus.audio: sound in, as GroundingGPT's audio branch takes it (ImageBind's
-- load_and_transform_audio_data): resampled to 16 kHz, three 2-s clips, Kaldi filter banks.
--   local info = locus.audio.info("dog.flac")        -- {frames, sample_rate, channels, duration, decoder}
--   local w = locus.audio.samples("dog.flac", {start = 0, stop = 32000})  -- f32 [channels, n] at 16 kHz
--   local x = locus.audio.read("dog.flac")           -- f32 [3, 1, 128, 204], normalized
-- libsndfile reads WAV, FLAC, Ogg, AIFF and MP3; FFmpeg the rest (M4A, Opus, a video's sound).
-- Only the stretches the clips cover are decoded, so a three-hour file costs three short reads
-- (with FFmpeg, which cannot seek to an exact sample, one pass to count and one to read).
local ffi = require "ffi"
local core = require "locus.core"
local call = core.call -- C calls that keep their tensor arguments alive (locus.core)
local tensor = require "locus.tensor"
local C = core.C

local audio = {}

audio.RATE = 16000          -- ImageBind's sample rate
audio.MEL_BINS = 128
audio.TARGET_FRAMES = 204   -- filter-bank frames per clip after padding or cutting
audio.CLIP_SECONDS = 2
audio.CLIPS = 3
audio.MEAN, audio.STD = -4.268, 9.138

local function check_path(path, name)
  if type(path) ~= "string" then error(name .. ": path must be a string", 3) end
end

function audio.info(path)
  check_path(path, "audio.info")
  local i = ffi.new("locus_audio_info")
  core.check(C.locus_audio_probe(path, i), "audio.info")
  return { frames = tonumber(i.frames), sample_rate = i.sample_rate, channels = i.channels, duration = i.duration,
    decoder = i.decoder == C.LOCUS_AUDIO_FFMPEG and "ffmpeg" or "sndfile", probed = i } -- probed: for C, to skip a second probe
end

-- Samples [start, stop) (0-based, clipped to the end) of the file resampled to opts.rate
-- (16000) as torchaudio.functional.resample does: f32 [channels, n].
function audio.samples(path, opts)
  check_path(path, "audio.samples")
  opts = opts or {}
  local rate = opts.rate or audio.RATE
  local t = C.locus_audio_read(path, rate, opts.start or 0, opts.stop or 2 ^ 62)
  if t == nil then core.fail("audio.samples") end
  return tensor.wrap(t)
end

-- torchaudio.functional.resample of an f32 [channels, n] tensor
function audio.resample(x, from, to)
  local t = call(C.locus_audio_resample, x, from, to)
  if t == nil then core.fail("audio.resample") end
  return tensor.wrap(t)
end

-- Kaldi filter banks of an f32 [n] waveform at 16 kHz: f32 [frames, mel_bins]
function audio.fbank(wave, mel_bins)
  mel_bins = mel_bins or audio.MEL_BINS
  local n = wave:size(1)
  local frames = n < 400 and 0 or 1 + math.floor((n - 400) / 160)
  local out = tensor.empty { frames, mel_bins }
  local w = wave:contiguous() -- kept in a local so that its handle outlives the call
  core.check(call(C.locus_audio_fbank, out, w, audio.RATE, mel_bins), "audio.fbank")
  return out
end

-- The clips' sample ranges {start, stop} (0-based, stop exclusive and not past `samples`) over
-- `samples` samples at 16 kHz: pytorchvideo's ConstantClipsPerVideoSampler as ImageBind uses it.
function audio.clip_spans(samples, opts)
  opts = opts or {}
  local clips, seconds = opts.clips or audio.CLIPS, opts.clip_seconds or audio.CLIP_SECONDS
  local a, b = ffi.new("int64_t[1]"), ffi.new("int64_t[1]")
  local spans = {}
  for k = 0, clips - 1 do
    core.check(C.locus_audio_clip_span(samples, opts.rate or audio.RATE, seconds, k, clips, a, b), "audio.clip_spans")
    spans[k + 1] = { tonumber(a[0]), math.min(tonumber(b[0]), samples) }
  end
  return spans
end

-- ImageBind's waveform2melspec of one clip f32 [channels, n]: the clip less its mean, filter banks
-- of channel 0, as [1, mel_bins, 204] with frames cut or zero-padded (not yet normalized).
-- Returns the mean too.
function audio.melspec(clip, opts)
  opts = opts or {}
  local target = opts.frames or audio.TARGET_FRAMES
  local mean = clip:numel() > 0 and clip:mean():item() or 0
  local fb = audio.fbank(clip:affine(1, -mean):select(1, 1), opts.mel_bins)
  local out = tensor.zeros { 1, fb:size(2), target }
  local keep = math.min(fb:size(1), target)
  if keep > 0 then out:select(1, 1):narrow(2, 1, keep):copy(fb:narrow(1, 1, keep):transpose(1, 2)) end
  return out, mean
end

-- ImageBind subtracts each clip's mean in place, on a view of the whole waveform, so where clips
-- overlap (sounds under 6 s) a later clip sees the earlier clips' means already subtracted.
local function shift_by_earlier_clips(clip, k, spans, means)
  for j = 1, k - 1 do
    local a, b = math.max(spans[j][1], spans[k][1]), math.min(spans[j][2], spans[k][2])
    if a < b then
      local part = clip:narrow(2, a - spans[k][1] + 1, b - a)
      part:copy(part:affine(1, -means[j]))
    end
  end
end

-- The audio branch's input: f32 [clips, 1, mel_bins, 204], each clip's filter banks normalized as
-- (x - MEAN) / STD. Also returns the clips' 16 kHz sample ranges and the file's info.
function audio.read(path, opts)
  opts = opts or {}
  local info = audio.info(path)
  local samples = tonumber(C.locus_audio_resampled_length(info.frames, info.sample_rate, audio.RATE))
  local spans = audio.clip_spans(samples, opts)
  local starts, stops = ffi.new("int64_t[?]", #spans), ffi.new("int64_t[?]", #spans)
  for k, span in ipairs(spans) do starts[k - 1], stops[k - 1] = span[1], span[2] end
  local out = ffi.new("locus_tensor *[?]", #spans)
  core.check(C.locus_audio_read_spans(path, info.probed, audio.RATE, #spans, starts, stops, out), "audio.read")
  local mels, means = {}, {}
  for k = 1, #spans do
    local clip = tensor.wrap(out[k - 1])
    shift_by_earlier_clips(clip, k, spans, means)
    local mel
    mel, means[k] = audio.melspec(clip, opts)
    mels[k] = (mel - (opts.mean or audio.MEAN)) / (opts.std or audio.STD)
  end
  return tensor.cat(mels, 1):view(#spans, 1, mels[1]:size(2), mels[1]:size(3)), spans, info
end

return audio
