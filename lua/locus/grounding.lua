-- locus.grounding: boxes and time spans out of an answer's text.
--   locus.grounding.parse("the dog [0.12, 0.30, 0.55, 0.91]", {width = 640, height = 480})
--   -> {boxes = {{phrase = "the dog", x0 =, y0 =, x1 =, y1 = (pixels of the original image),
--                 fx0 =, fy0 =, fx1 =, fy1 = (fractions of it)}}, spans = {...}, problems = {...}}
-- Boxes in GroundingGPT's answers are fractions of the *padded square* the model saw; they are
-- mapped back as its postprocess_output does: to square pixels with Python's round (half to even),
-- minus the padding offset, then fractions of the original rounded to 3 decimals and clipped to
-- [0, 1]. Pixels are those fractions' unrounded values clamped to the image. Spans {t0, t1} are
-- fractions of the video's duration: seconds need opts.duration.
local grounding = {}

local function round_half_even(x)
  local f = math.floor(x)
  local d = x - f
  if d > 0.5 or (d == 0.5 and f % 2 == 1) then return f + 1 end
  return f
end

local function round3(x) return round_half_even(x * 1000 + 0) / 1000 end

local function clamp(x, lo, hi) return x < lo and lo or (x > hi and hi or x) end

-- The phrase a box belongs to: the text since the previous box or sentence end, trimmed.
local function phrase_before(text, pos, floor)
  local seg = text:sub(floor, pos - 1)
  seg = seg:gsub("^.*[%.;!?\n]%s", "")
  seg = seg:gsub("^%s*[,:]?%s*", ""):gsub("%s+$", ""):gsub("^and%s+", "")
  return seg
end

local number = "%s*([%+%-]?[%d%.]+)%s*"

-- Problems for each `open` that no `close` follows before the next `open` or the end: a box or a
-- span the answer was cut off in (max_new_tokens ran out), or left open.
local function unclosed(text, open, close, problems, what)
  local i = 1
  while true do
    local s = text:find(open, i, true)
    if not s then return end
    local nxt = text:find("[%" .. open .. "%" .. close .. "]", s + 1)
    if not nxt or text:sub(nxt, nxt) == open then
      problems[#problems + 1] = { text = text:sub(s, (nxt or #text + 1) - 1), reason = what }
    end
    if not nxt then return end
    i = text:sub(nxt, nxt) == open and nxt or nxt + 1
  end
end

function grounding.parse(text, opts)
  opts = opts or {}
  local out = { boxes = {}, spans = {}, problems = {} }
  local w, h = opts.width, opts.height
  local side = (w and h) and math.max(w, h) or nil
  local last_end, last_phrase = 1, ""
  -- boxes: [a, b, c, d] with any spacing
  for s, body, e in text:gmatch("()%[([^%[%]]*)%]()") do
    local nums = {}
    for n in body:gmatch("[^,]+") do nums[#nums + 1] = tonumber((n:gsub("^%s+", ""):gsub("%s+$", ""))) or false end
    local gap = text:sub(last_end, s - 1)
    local phrase = gap:match("^%s*$") and last_phrase or phrase_before(text, s, last_end)
    local ok = #nums == 4 and nums[1] and nums[2] and nums[3] and nums[4]
    if not ok then
      out.problems[#out.problems + 1] = { text = text:sub(s, e - 1), reason = "not four numbers" }
    elseif nums[1] < 0 or nums[2] < 0 or nums[3] > 1 or nums[4] > 1 or nums[1] > 1 or nums[2] > 1 then
      out.problems[#out.problems + 1] = { text = text:sub(s, e - 1), reason = "coordinates outside [0, 1]" }
    elseif nums[3] < nums[1] or nums[4] < nums[2] then
      out.problems[#out.problems + 1] = { text = text:sub(s, e - 1), reason = "x1 < x0 or y1 < y0" }
    else
      local box = { phrase = phrase, text = text:sub(s, e - 1) }
      if side then
        local b = { round_half_even(nums[1] * side), round_half_even(nums[2] * side), round_half_even(nums[3] * side),
          round_half_even(nums[4] * side) }
        if w > h then
          local off = math.floor((w - h) / 2)
          b[2], b[4] = b[2] - off, b[4] - off
        elseif h > w then
          local off = math.floor((h - w) / 2)
          b[1], b[3] = b[1] - off, b[3] - off
        end
        box.x0, box.y0 = clamp(b[1], 0, w), clamp(b[2], 0, h)
        box.x1, box.y1 = clamp(b[3], 0, w), clamp(b[4], 0, h)
        box.fx0, box.fy0 = clamp(round3(b[1] / w), 0, 1), clamp(round3(b[2] / h), 0, 1)
        box.fx1, box.fy1 = clamp(round3(b[3] / w), 0, 1), clamp(round3(b[4] / h), 0, 1)
      else -- no image size: the fractions of the square as given
        box.fx0, box.fy0, box.fx1, box.fy1 = nums[1], nums[2], nums[3], nums[4]
      end
      out.boxes[#out.boxes + 1] = box
    end
    last_end, last_phrase = e, phrase
  end
  -- spans: {t0, t1}
  last_end, last_phrase = 1, ""
  for s, a, b, e in text:gmatch("(){" .. number .. "," .. number .. "}()") do
    local t0, t1 = tonumber(a), tonumber(b)
    local gap = text:sub(last_end, s - 1)
    local phrase = gap:match("^%s*$") and last_phrase or phrase_before(text, s, last_end)
    if not (t0 and t1) or t0 < 0 or t1 > 1 or t1 < t0 then
      out.problems[#out.problems + 1] = { text = text:sub(s, e - 1), reason = "not a span of fractions 0 <= t0 <= t1 <= 1" }
    else
      local span = { phrase = phrase, f0 = t0, f1 = t1, text = text:sub(s, e - 1) }
      if opts.duration then span.t0, span.t1 = t0 * opts.duration, t1 * opts.duration end
      out.spans[#out.spans + 1] = span
    end
    last_end, last_phrase = e, phrase
  end
  for s, body, e in text:gmatch("(){([^{}]*)}()") do -- braces that are not two numbers
    if not body:match("^" .. number .. "," .. number .. "$") then
      out.problems[#out.problems + 1] = { text = text:sub(s, e - 1), reason = "not a span {t0, t1}" }
    end
  end
  unclosed(text, "[", "]", out.problems, "a box without its closing ] (the answer was cut off?)")
  unclosed(text, "{", "}", out.problems, "a span without its closing } (the answer was cut off?)")
  return out
end

-- GroundingGPT's postprocess_output: the answer text with every box rewritten as fractions of
-- the original image (3 decimals).
function grounding.rewrite(text, width, height)
  local parsed = grounding.parse(text, { width = width, height = height })
  local i = 0
  return (text:gsub("%[[^%[%]]*%]", function(raw)
    local b = parsed.boxes[i + 1]
    if b and b.text == raw then
      i = i + 1
      local function f(v) return (("%.3f"):format(v):gsub("0+$", ""):gsub("%.$", ".0")) end
      return ("[%s, %s, %s, %s]"):format(f(b.fx0), f(b.fy0), f(b.fx1), f(b.fy1))
    end
    return raw
  end))
end

return grounding
