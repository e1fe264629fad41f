-- A custom task for `locus eval`, written in Lua: no recompiling.
--   bin/locus eval examples/eval_pointing.lua --model M --data points.txt --media photos --out pointing.jsonl
-- points.txt has one question per line: a photo, the truth box in pixels, what to point at,
--   dog.jpg 48 30 210 180 the brown dog
-- An answer is correct when its first box's centre falls inside the truth (a pointing game), and its
-- IoU is recorded too. doc/eval.md says what a task table holds.
local score = require "locus.eval.score"

return {
  name = "pointing",
  prompt = "Where is {text}? Answer in [x0, y0, x1, y1] format.", -- or function(sample) ... end
  samples = function(opts) -- opts: data, media, splits, limit, ... from the command line
    local out = {}
    local n = 0
    for line in io.lines(opts.data) do
      n = n + 1
      local file, x0, y0, x1, y1, what = line:match("^(%S+)%s+(%S+)%s+(%S+)%s+(%S+)%s+(%S+)%s+(.-)%s*$")
      local truth = { tonumber(x0), tonumber(y0), tonumber(x1), tonumber(y1) }
      if not (file and truth[4]) then error(("%s:%d: expected \"PHOTO X0 Y0 X1 Y1 WHAT\""):format(opts.data, n), 0) end
      out[#out + 1] = { id = ("%s:%d"):format(file, n), split = "all", text = what, kind = "box",
        image = require("locus.eval.dataset").media_path(opts.media, file, opts.data), truth = truth }
    end
    return out
  end,
  score = function(sample, result) -- optional: by default the first box's IoU >= 0.5
    local b, t = result.boxes[1], sample.truth
    if not (b and b.x0) then return { box = nil, iou = 0, correct = false } end
    local box = { b.x0, b.y0, b.x1, b.y1 }
    local cx, cy = (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2
    return { box = box, iou = score.box_iou(box, t), correct = cx >= t[1] and cx <= t[3] and cy >= t[2] and cy <= t[4] }
  end,
}
