-- locus.eval.score: how an answer is scored, as the papers' tables do.
--   score.box_iou({x0, y0, x1, y1}, {x0, y0, x1, y1})  -- boxes in pixels, continuous coordinates
--   score.span_iou({t0, t1}, {t0, t1})                 -- spans in seconds
--   score.summary("box" | "span", records)             -- the table's figures, in percent
-- Boxes: intersection over union of areas with no +1 pixel (COCO's and torchvision's convention,
-- which Ferret's and lmms-eval's REC code use); a degenerate box has no area and scores 0. A box
-- is correct at IoU >= 0.5 (Acc@0.5). Spans: intersection over union of intervals; R@1 at IoU m
-- counts first spans with IoU >= m (m = 0.3, 0.5, 0.7), mIoU averages the IoUs. Where a task's own
-- verdicts (`correct`) differ from IoU >= 0.5, their share is reported too. A sample whose
-- answer has no box or span scores IoU 0: it is wrong, not left out.
local score = {}

score.BOX_THRESHOLD = 0.5
score.SPAN_THRESHOLDS = { 0.3, 0.5, 0.7 }

local function overlap(a0, a1, b0, b1) return math.max(0, math.min(a1, b1) - math.max(a0, b0)) end

function score.box_iou(a, b)
  local inter = overlap(a[1], a[3], b[1], b[3]) * overlap(a[2], a[4], b[2], b[4])
  local area_a = math.max(0, a[3] - a[1]) * math.max(0, a[4] - a[2])
  local area_b = math.max(0, b[3] - b[1]) * math.max(0, b[4] - b[2])
  local union = area_a + area_b - inter
  return union > 0 and inter / union or 0
end

function score.span_iou(a, b)
  local inter = overlap(a[1], a[2], b[1], b[2])
  local union = math.max(0, a[2] - a[1]) + math.max(0, b[2] - b[1]) - inter
  return union > 0 and inter / union or 0
end

-- COCO's [x, y, w, h] as [x0, y0, x1, y1]
function score.xywh_to_xyxy(b) return { b[1], b[2], b[1] + b[3], b[2] + b[4] } end

-- The first box (or span) of a ground() result against the truth: {box | span, iou, correct}.
function score.box(result, truth)
  local b = result.boxes[1]
  if not (b and b.x0) then return { box = nil, iou = 0, correct = false } end
  local box = { b.x0, b.y0, b.x1, b.y1 }
  local iou = score.box_iou(box, truth)
  return { box = box, iou = iou, correct = iou >= score.BOX_THRESHOLD }
end

function score.span(result, truth)
  local s = result.spans[1]
  if not (s and s.t0) then return { span = nil, iou = 0, correct = false } end
  local span = { s.t0, s.t1 }
  local iou = score.span_iou(span, truth)
  return { span = span, iou = iou, correct = iou >= score.SPAN_THRESHOLDS[2] }
end

-- The figures of one task and split, in percent, and their order in a table.
function score.summary(kind, records)
  local n = #records
  local function pct(count) return n > 0 and 100 * count / n or 0 end
  if kind == "box" then
    local hits, correct, differs = 0, 0, false
    for _, r in ipairs(records) do
      if r.iou >= score.BOX_THRESHOLD then hits = hits + 1 end
      if r.correct == true then correct = correct + 1 end
      differs = differs or (r.correct == true) ~= (r.iou >= score.BOX_THRESHOLD)
    end
    -- a task that scores its own way (locus.eval's custom tasks) gets its own verdicts counted too
    if differs then return { ["Acc@0.5"] = pct(hits), correct = pct(correct) }, { "Acc@0.5", "correct" } end
    return { ["Acc@0.5"] = pct(hits) }, { "Acc@0.5" }
  end
  local out, order, total = {}, {}, 0
  for _, m in ipairs(score.SPAN_THRESHOLDS) do
    local hits = 0
    for _, r in ipairs(records) do
      if r.iou >= m then hits = hits + 1 end
    end
    local name = ("R@1 IoU=%.1f"):format(m)
    out[name], order[#order + 1] = pct(hits), name
  end
  for _, r in ipairs(records) do total = total + r.iou end
  out.mIoU, order[#order + 1] = n > 0 and 100 * total / n or 0, "mIoU"
  return out, order
end

return score
