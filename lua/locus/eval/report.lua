-- locus.eval.report: the results files of one or many runs and shards as the papers' tables.
--   local rep = report.merge{"run.shard-0-of-2.jsonl", "run.shard-1-of-2.jsonl"}
--   print(report.markdown(rep)); report.json(rep)
-- Samples are grouped by task and split; an id met twice in a task (a shard run twice) counts
-- once, the first time, and is reported. Box tasks make one table with a column per task and
-- split (Acc@0.5, as GroundingGPT's Table 2); span tasks one row each (R@1 at IoU 0.3/0.5/0.7, mIoU).
local json = require "locus.json"
local score = require "locus.eval.score"

local report = {}

local TASK_ORDER = { refcoco = 1, ["refcoco+"] = 2, refcocog = 3, ["charades-sta"] = 4 }
local SPLIT_ORDER = { val = 1, testA = 2, testB = 3, test = 4 }
local TITLES = { refcoco = "RefCOCO", ["refcoco+"] = "RefCOCO+", refcocog = "RefCOCOg", ["charades-sta"] = "Charades-STA" }

local function before(a, b, order)
  local x, y = order[a] or math.huge, order[b] or math.huge
  if x ~= y then return x < y end
  return a < b
end

function report.merge(paths)
  local groups, by_key, seen = {}, {}, {}
  local rep = { files = paths, duplicates = 0, disagreements = 0, torn = 0 }
  for _, path in ipairs(paths) do
    local f, err = io.open(path, "rb")
    if not f then error(("%s: cannot open: %s"):format(path, err:gsub("^[^:]*: ", "")), 0) end
    local text = f:read("*a")
    f:close()
    local n = 0
    for line, nl in text:gmatch("([^\n]*)()") do
      if line ~= "" then
        n = n + 1
        if text:sub(nl, nl) ~= "\n" then
          rep.torn = rep.torn + 1 -- the line a killed run was writing
        else
          local ok, r = pcall(json.decode, line)
          if not ok or type(r) ~= "table" or type(r.id) ~= "string" or type(r.task) ~= "string" or type(r.iou) ~= "number" then
            error(("%s:%d: not a result line of locus eval"):format(path, n), 0)
          end
          local id = r.task .. "\0" .. r.id
          if seen[id] ~= nil then
            rep.duplicates = rep.duplicates + 1
            if seen[id] ~= (r.correct == true) then rep.disagreements = rep.disagreements + 1 end
          else
            seen[id] = r.correct == true
            local split = type(r.split) == "string" and r.split or "all"
            local kind = r.span ~= nil and "span" or "box"
            local key = r.task .. "\0" .. split .. "\0" .. kind
            local g = by_key[key]
            if not g then
              g = { task = r.task, split = split, kind = kind, records = {} }
              by_key[key] = g
              groups[#groups + 1] = g
            end
            g.records[#g.records + 1] = r
          end
        end
      end
    end
  end
  table.sort(groups, function(a, b)
    if a.task ~= b.task then return before(a.task, b.task, TASK_ORDER) end
    if a.split ~= b.split then return before(a.split, b.split, SPLIT_ORDER) end
    return a.kind < b.kind
  end)
  for _, g in ipairs(groups) do
    g.samples = #g.records
    g.metrics, g.order = score.summary(g.kind, g.records)
  end
  rep.groups = groups
  return rep
end

local function title(g) return ("%s %s"):format(TITLES[g.task] or g.task, g.split) end

function report.markdown(rep)
  local lines, boxes, spans = {}, {}, {}
  for _, g in ipairs(rep.groups) do
    if g.kind == "box" then boxes[#boxes + 1] = g else spans[#spans + 1] = g end
  end
  if #boxes > 0 then
    local head, rule, acc, own, n = { "" }, { "---" }, { "Acc@0.5" }, { "correct (the task's own verdict)" }, { "samples" }
    local any_own = false
    for _, g in ipairs(boxes) do
      head[#head + 1], rule[#rule + 1] = title(g), "---:"
      acc[#acc + 1], n[#n + 1] = ("%.2f"):format(g.metrics["Acc@0.5"]), tostring(g.samples)
      own[#own + 1] = g.metrics.correct and ("%.2f"):format(g.metrics.correct) or "-"
      any_own = any_own or g.metrics.correct ~= nil
    end
    for _, row in ipairs(any_own and { head, rule, acc, own, n } or { head, rule, acc, n }) do
      lines[#lines + 1] = "| " .. table.concat(row, " | ") .. " |"
    end
  end
  if #spans > 0 then
    if #lines > 0 then lines[#lines + 1] = "" end
    local order = spans[1].order
    local head, rule = { "" }, { "---" }
    for _, name in ipairs(order) do head[#head + 1], rule[#rule + 1] = name, "---:" end
    head[#head + 1], rule[#rule + 1] = "samples", "---:"
    lines[#lines + 1] = "| " .. table.concat(head, " | ") .. " |"
    lines[#lines + 1] = "| " .. table.concat(rule, " | ") .. " |"
    for _, g in ipairs(spans) do
      local row = { title(g) }
      for _, name in ipairs(order) do row[#row + 1] = ("%.2f"):format(g.metrics[name]) end
      row[#row + 1] = tostring(g.samples)
      lines[#lines + 1] = "| " .. table.concat(row, " | ") .. " |"
    end
  end
  return table.concat(lines, "\n")
end

-- The report as a JSON value (locus.json): {results = [{task, split, kind, samples, metrics}],
-- files, duplicates, disagreements, torn}
function report.json(rep)
  local results = json.array()
  for i, g in ipairs(rep.groups) do
    local metrics = {}
    for _, name in ipairs(g.order) do metrics[name] = g.metrics[name] end
    results[i] = json.object({ task = g.task, split = g.split, kind = g.kind, samples = g.samples,
      metrics = json.object(metrics, g.order) }, { "task", "split", "kind", "samples", "metrics" })
  end
  return json.object({ results = results, files = json.array(rep.files), duplicates = rep.duplicates,
    disagreements = rep.disagreements, torn = rep.torn }, { "results", "files", "duplicates", "disagreements", "torn" })
end

return report
