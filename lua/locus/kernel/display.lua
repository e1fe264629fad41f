-- locus.kernel.display: what a notebook shows for a value, as a MIME bundle {["text/plain"] = ...,
-- ["text/html"] = ..., ["image/png"] = base64}.
--   tensor            text/plain (locus's printing) and an HTML table (shape, dtype; the values of a
--                     small 1-D or 2-D tensor, a summary of a large one)
--   image tensor      u8 [H, W, 3]: image/png
--   ground() result   the photo with its numbered boxes, or the video's frames over a timeline
--                     with the spans, or the sound's waveform with ImageBind's clips; and the answer
--   anything else     text/plain as the console prints it
-- A new type gets its display with display.register(test, bundle): test(value) -> true for the
-- values it handles, bundle(value) -> a MIME bundle. Later registrations are asked first.
local ffi = require "ffi"
local show = require "locus.show"
local tensor = require "locus.tensor"
local crypto = require "locus.kernel.crypto"
local figures = require "locus.kernel.figures"

local display = {}

local handlers = {}

function display.register(test, bundle) table.insert(handlers, 1, { test = test, bundle = bundle }) end

local function escape(s)
  return (tostring(s):gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end
display.escape = escape

function display.png(img) return crypto.base64(figures.png(img)) end

local function shape_text(t)
  local s = t:shape()
  return "[" .. table.concat(s, ", ") .. "]"
end

local function tensor_html(t)
  local head = ("<div><b>tensor %s %s</b>"):format(escape(t:dtype()), escape(shape_text(t)))
  local s = t:shape()
  local numel = 1
  for _, n in ipairs(s) do numel = numel * n end
  if #s >= 1 and #s <= 2 and numel <= 400 and not t:dtype():match("^q") then
    local rows, cols = #s == 1 and 1 or s[1], #s == 1 and s[1] or s[2]
    local v = t:float():contiguous()
    local p = ffi.cast("const float *", v:data())
    local out = { head, "<table>" }
    for r = 1, rows do
      out[#out + 1] = "<tr>"
      for c = 1, cols do out[#out + 1] = ("<td>%.4g</td>"):format(p[(r - 1) * cols + c - 1]) end
      out[#out + 1] = "</tr>"
    end
    out[#out + 1] = "</table></div>"
    return table.concat(out)
  end
  return head .. "<pre>" .. escape(show.value(t)) .. "</pre></div>"
end

local function is_image(t)
  local s = t:shape()
  return t:dtype() == "u8" and #s == 3 and s[3] == 3 and s[1] > 0 and s[2] > 0
end

local function answer_text(r)
  local lines = { r.text }
  for i, b in ipairs(r.boxes or {}) do
    if b.x0 then
      lines[#lines + 1] = ("  %d. %s: [%d, %d, %d, %d] px"):format(i, b.phrase ~= "" and b.phrase or "(box)", b.x0, b.y0, b.x1, b.y1)
    end
  end
  for _, sp in ipairs(r.spans or {}) do
    if sp.t0 then lines[#lines + 1] = ("  %s: %.2f s to %.2f s"):format(sp.phrase ~= "" and sp.phrase or "(span)", sp.t0, sp.t1) end
  end
  return table.concat(lines, "\n")
end

local function is_result(v) return type(v) == "table" and type(v.text) == "string" and type(v.boxes) == "table" and type(v.media) == "table" end

local function result_bundle(r)
  local data = { ["text/plain"] = answer_text(r) }
  local m = r.media
  local img
  if m.image then
    img = figures.grounding(m.image, r)
  elseif type(m.video) == "string" then
    local spans = {}
    for _, sp in ipairs(r.spans) do if sp.t0 then spans[#spans + 1] = { sp.t0, sp.t1 } end end
    img = figures.video(m.video, spans)
  elseif type(m.audio) == "string" then
    local audio = require "locus.audio"
    img = figures.waveform(m.audio, audio.clip_spans(audio.samples(m.audio):size(2)))
  end
  if img then data["image/png"] = display.png(img) end
  return data
end

-- The MIME bundle of a value.
function display.bundle(v)
  for _, h in ipairs(handlers) do
    if h.test(v) then return h.bundle(v) end
  end
  if tensor.is_tensor(v) then
    if is_image(v) then return { ["text/plain"] = show.value(v), ["image/png"] = display.png(v) } end
    return { ["text/plain"] = show.value(v), ["text/html"] = tensor_html(v) }
  end
  if is_result(v) then return result_bundle(v) end
  return { ["text/plain"] = show.value(v) }
end

return display
