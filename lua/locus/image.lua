-- locus.image: pictures in, as GroundingGPT prepares them.
--   local img = locus.image.read("dog.jpg")          -- u8 [H, W, 3]; {exif = false} ignores EXIF orientation
--   local px = locus.image.preprocess(img)            -- f32 [3, 336, 336]: pad to a square with
--                                                    -- (122, 116, 104), Pillow's bicubic to 336, CLIP mean/std
--   locus.image.resize(img, w, h), locus.image.pad_square(img, {r, g, b}), locus.image.normalize(img, mean, std)
local ffi = require "ffi"
local core = require "locus.core"
local call = core.call -- C calls that keep their tensor arguments alive (locus.core)
local tensor = require "locus.tensor"
local C = core.C

local image = {}

image.CLIP_MEAN = { 0.48145466, 0.4578275, 0.40821073 }
image.CLIP_STD = { 0.26862954, 0.26130258, 0.27577711 }
-- expand2square's fill: int(x * 255) of CLIP's mean
image.PAD = { 122, 116, 104 }

function image.read(path, opts)
  if type(path) ~= "string" then error("image.read: path must be a string", 2) end
  local t = C.locus_image_load(path, (opts and opts.exif == false) and 0 or 1)
  if t == nil then core.fail("image.read") end
  return tensor.wrap(t)
end

function image.resize(img, w, h)
  local out = tensor.empty({ h, w, 3 }, "u8")
  core.check(call(C.locus_image_resize, out, img), "image.resize")
  return out
end

function image.pad_square(img, rgb)
  rgb = rgb or image.PAD
  local side = math.max(img:size(1), img:size(2))
  local limit = tonumber(C.locus_image_max_pixels())
  if side * side > limit then
    error(("image.pad_square: a %d x %d image pads to a %d x %d square, beyond locus's limit of %d pixels "
      .. "(LOCUS_MAX_IMAGE_PIXELS)"):format(img:size(2), img:size(1), side, side, limit), 2)
  end
  local out = tensor.empty({ side, side, 3 }, "u8")
  core.check(call(C.locus_image_pad_square, out, img, ffi.new("uint8_t[3]", rgb)), "image.pad_square")
  return out
end

function image.normalize(img, mean, std)
  local out = tensor.empty { 3, img:size(1), img:size(2) }
  core.check(call(C.locus_image_normalize, out, img, ffi.new("float[3]", mean or image.CLIP_MEAN),
    ffi.new("float[3]", std or image.CLIP_STD)), "image.normalize")
  return out
end

-- Writes u8 [H, W, 3] as .png or .jpg.
function image.save(path, img)
  core.check(call(C.locus_image_save, path, img), "image.save")
end

image.PALETTE = { { 230, 25, 75 }, { 60, 180, 75 }, { 0, 130, 200 }, { 245, 130, 48 }, { 145, 30, 180 },
  { 70, 240, 240 }, { 240, 50, 230 }, { 128, 128, 0 } }

-- A copy of img with boxes ({x0, y0, x1, y1} in pixels, e.g. locus.grounding's) drawn and numbered
-- 1, 2, ... in the palette's colours.
function image.draw_boxes(img, boxes)
  local out = img:contiguous():clone()
  for i, b in ipairs(boxes) do
    local rgb = ffi.new("uint8_t[3]", image.PALETTE[(i - 1) % #image.PALETTE + 1])
    core.check(call(C.locus_image_draw_box, out, b.x0, b.y0, b.x1, b.y1, rgb, i), "draw_boxes")
  end
  return out
end

-- Pixels inside a box, as a new u8 [h, w, 3] image (the box is clamped to the picture).
function image.crop(img, box)
  local h, w = img:size(1), img:size(2)
  local x0, y0 = math.max(0, math.floor(box.x0)), math.max(0, math.floor(box.y0))
  local x1, y1 = math.min(w, math.ceil(box.x1)), math.min(h, math.ceil(box.y1))
  if x1 <= x0 or y1 <= y0 then error("image.crop: the box is empty", 2) end
  return img:narrow(1, y0 + 1, y1 - y0):narrow(2, x0 + 1, x1 - x0):contiguous()
end

-- GroundingGPT's preprocessing: opts.size (336), opts.pad (a color, or false for none), mean, std.
function image.preprocess(img, opts)
  opts = opts or {}
  if type(img) == "string" then img = image.read(img, opts) end
  local size = opts.size or 336
  if opts.pad ~= false then img = image.pad_square(img, opts.pad) end
  if img:size(1) ~= size or img:size(2) ~= size then img = image.resize(img, size, size) end
  return image.normalize(img, opts.mean, opts.std)
end

return image
