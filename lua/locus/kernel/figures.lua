-- locus.kernel.figures: the pictures a notebook shows, drawn with locus's own tensors (no plotting
-- library): a photo with its numbered boxes, a strip of a video's frames over a timeline with the
-- answer's spans, a sound's waveform with ImageBind's three clips shaded. Each returns u8 [H, W, 3];
-- figures.png turns one into PNG bytes.
local ffi = require "ffi"
local tensor = require "locus.tensor"
local image = require "locus.image"

local figures = {}

local WHITE, GREY, DARK = { 255, 255, 255 }, { 225, 225, 225 }, { 60, 60, 60 }

-- A canvas of h x w filled with rgb, and its bytes (row-major, 3 per pixel).
local function canvas(h, w, rgb)
  local t = tensor.empty({ h, w, 3 }, "u8")
  local p = ffi.cast("uint8_t *", t:data())
  for i = 0, h * w - 1 do p[3 * i], p[3 * i + 1], p[3 * i + 2] = rgb[1], rgb[2], rgb[3] end
  return t, p
end

local function fill(p, w, x0, y0, x1, y1, rgb) -- [x0, x1) x [y0, y1), already inside the canvas
  for y = y0, y1 - 1 do
    for x = x0, x1 - 1 do
      local i = 3 * (y * w + x)
      p[i], p[i + 1], p[i + 2] = rgb[1], rgb[2], rgb[3]
    end
  end
end

-- PNG bytes of u8 [H, W, 3]
function figures.png(img)
  local path = os.tmpname() .. ".png"
  image.save(path, img:contiguous())
  local f = assert(io.open(path, "rb"))
  local bytes = f:read("*a")
  f:close()
  os.remove(path)
  os.remove((path:gsub("%.png$", "")))
  return bytes
end

-- The photo (a path or u8 [H, W, 3]) with the boxes of a ground() result, numbered as listed.
function figures.grounding(photo, result)
  local img = type(photo) == "string" and image.read(photo) or photo
  return image.draw_boxes(img, result.boxes or {})
end

-- n frames of the video side by side, `height` pixels high, over a timeline of its duration on
-- which each span {t0, t1} (seconds) is a coloured bar.
function figures.video(path, spans, opts)
  opts = opts or {}
  local video = require "locus.video"
  local info = video.info(path)
  local n, height = math.min(opts.frames or 8, math.max(info.frames, 1)), opts.height or 96
  local width = math.max(8, math.floor(height * info.width / math.max(info.height, 1) + 0.5))
  local idx = {}
  for i = 0, n - 1 do idx[i + 1] = math.floor((i + 0.5) * info.frames / n) end
  local frames = video.frames(path, idx, { width = width, height = height })
  local bar, gap = 14, 4
  local out, p = canvas(height + gap + bar * math.max(#spans, 1), n * width, WHITE)
  for i = 1, n do out:narrow(1, 1, height):narrow(2, (i - 1) * width + 1, width):copy(frames:select(1, i)) end
  local W = n * width
  for k = 1, math.max(#spans, 1) do
    local y0 = height + gap + (k - 1) * bar
    fill(p, W, 0, y0, W, y0 + bar - 2, GREY)
    local s = spans[k]
    if s and info.duration > 0 then
      local x0 = math.max(0, math.min(W - 1, math.floor(s[1] / info.duration * W)))
      local x1 = math.max(x0 + 1, math.min(W, math.ceil(s[2] / info.duration * W)))
      fill(p, W, x0, y0, x1, y0 + bar - 2, image.PALETTE[(k - 1) % #image.PALETTE + 1])
    end
  end
  return out
end

-- The waveform of a sound file (its first channel at 16 kHz) as min/max per pixel column, with
-- the clips ({start, stop} in samples, e.g. locus.audio.clip_spans) shaded behind it.
function figures.waveform(path, clips, opts)
  opts = opts or {}
  local audio = require "locus.audio"
  local x = audio.samples(path):select(1, 1):contiguous()
  local n = x:size(1)
  local W, H = opts.width or 800, opts.height or 120
  local out, p = canvas(H, W, WHITE)
  for k, c in ipairs(clips or {}) do
    local rgb = image.PALETTE[(k - 1) % #image.PALETTE + 1]
    local light = { 255 - (255 - rgb[1]) * 0.3, 255 - (255 - rgb[2]) * 0.3, 255 - (255 - rgb[3]) * 0.3 }
    local x0 = math.floor(c[1] / math.max(n, 1) * W)
    fill(p, W, x0, 0, math.max(x0 + 1, math.min(W, math.ceil(c[2] / math.max(n, 1) * W))), H, light)
  end
  local s = ffi.cast("const float *", x:data())
  local peak = 1e-9
  for i = 0, n - 1 do peak = math.max(peak, math.abs(s[i])) end
  for col = 0, W - 1 do
    local a, b = math.floor(col * n / W), math.max(math.floor((col + 1) * n / W), math.floor(col * n / W) + 1)
    local lo, hi = 0, 0
    for i = a, math.min(b, n) - 1 do lo, hi = math.min(lo, s[i]), math.max(hi, s[i]) end
    local y0 = math.floor(H / 2 - hi / peak * (H / 2 - 2))
    local y1 = math.max(y0 + 1, math.ceil(H / 2 - lo / peak * (H / 2 - 2)))
    if n > 0 then fill(p, W, col, math.max(0, y0), col + 1, math.min(H, y1), DARK) end
  end
  return out
end

return figures
