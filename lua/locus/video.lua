-- locus.video: frames in, as GroundingGPT's video branch takes them.
--   local info = locus.video.info("clip.mp4")          -- {frames, duration, fps, width, height, rotation, counted}
--   local frames, idx = locus.video.read("clip.mp4")   -- u8 [T, 224, 224, 3], T = min(64, frames),
--                                                     -- frame floor(i * frames / T) for i = 0 .. T-1
--   local px = locus.video.preprocess(frames)          -- f32 [T, 3, 224, 224]: /255, CLIP mean/std
local ffi = require "ffi"
local core = require "locus.core"
local call = core.call -- C calls that keep their tensor arguments alive (locus.core)
local tensor = require "locus.tensor"
local image = require "locus.image"
local C = core.C

local video = {}

-- opts.count = true counts the frames even when the container states how many there are
function video.info(path, opts)
  if type(path) ~= "string" then error("video.info: path must be a string", 2) end
  local i = ffi.new("locus_video_info")
  core.check(C.locus_video_probe(path, i, (opts and opts.count) and 1 or 0), "video.info")
  return { frames = tonumber(i.frames), duration = i.duration, fps = i.fps, width = i.width, height = i.height,
    rotation = i.rotation, counted = i.counted == 1 }
end

-- GroundingGPT's choice: n = min(max, count) frames, indices floor(i * count / n), 0-based.
function video.sample_indices(count, max)
  local n = math.min(max or 64, count)
  local idx = {}
  for i = 0, n - 1 do idx[i + 1] = math.floor(i * count / n) end
  return idx
end

local held = ffi.new("int64_t[1]")

-- u8 [#indices, h, w, 3] (default 224 x 224, squashed) of 0-based frame numbers. On failure, a
-- second result: the frames the stream holds when an index lay past its end, else nil.
local function frames(path, indices, opts)
  local size = opts and opts.size or 224
  local arr = ffi.new("int64_t[?]", math.max(#indices, 1))
  for i, v in ipairs(indices) do arr[i - 1] = v end
  local t = C.locus_video_frames(path, arr, #indices, opts and opts.width or size, opts and opts.height or size, held)
  if t == nil then return nil, held[0] >= 0 and tonumber(held[0]) or nil end
  return tensor.wrap(t)
end

function video.frames(path, indices, opts)
  local t = frames(path, indices, opts)
  if not t then core.fail("video.frames") end
  return t
end

-- The sampled frames, their indices and the video's info; opts.frames (64), opts.size (224).
-- A container that claims more frames than it holds is caught: the frames are counted and sampled again.
function video.read(path, opts)
  opts = opts or {}
  local info = video.info(path)
  local idx = video.sample_indices(info.frames, opts.frames or 64)
  local t, held_count = frames(path, idx, opts)
  if not t and held_count and not info.counted then
    info = video.info(path, { count = true })
    idx = video.sample_indices(info.frames, opts.frames or 64)
    t = video.frames(path, idx, opts)
  elseif not t then
    core.fail("video.read")
  end
  return t, idx, info
end

-- f32 [T, 3, H, W]: each frame /255 and normalized by CLIP's mean and std
function video.preprocess(frames, opts)
  opts = opts or {}
  local t, h, w = frames:size(1), frames:size(2), frames:size(3)
  local out = tensor.empty { t, 3, h, w }
  local mean = ffi.new("float[3]", opts.mean or image.CLIP_MEAN)
  local std = ffi.new("float[3]", opts.std or image.CLIP_STD)
  for i = 1, t do
    core.check(call(C.locus_image_normalize, out:select(1, i), frames:select(1, i), mean, std), "video.preprocess")
  end
  return out
end

return video
