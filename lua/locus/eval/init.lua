-- locus.eval: evaluating a grounding model on a task, resumably, in shards.
--
--   local eval = require "locus.eval"
--   local task = eval.task("refcoco")              -- refcoco, refcoco+, refcocog, charades-sta, jsonl,
--                                                   -- scenes, or a Lua file returning a task table
--   eval.run(model, task, {data = "refer/data/refcoco", media = "coco/train2014", out = "run.jsonl"})
--
-- A task is a table: name; samples(opts) -> {{id, split, text, image | video | audio (paths),
-- kind = "box" | "span", truth = {x0, y0, x1, y1} pixels | {t0, t1} seconds}, ...}; prompt, a
-- template whose "{text}" is the sample's text, or a function(sample) -> question; and optionally
-- score(sample, result) -> {box | span, iou, correct} (by default locus.eval.score on the first box
-- or span of the answer) and splits (the default --split list).
--
-- Each answered sample is one JSON line of opts.out, written and flushed before the next begins:
-- {id, task, split, prompt, answer, box | span (null when the answer has none), truth, iou,
-- correct, seconds}. A killed run loses at most the sample in flight; opts.resume skips the ids the
-- file holds (a torn last line is cut off) and never writes an id twice. opts.shard = {i, n}
-- answers the samples whose id hashes to i mod n (0 <= i < n), after opts.limit: every process of a
-- sharded run agrees on the split without talking to the others.
local dataset = require "locus.eval.dataset"
local score = require "locus.eval.score"
local json = require "locus.json"
local bit = require "bit"
local ffi = require "ffi"

pcall(ffi.cdef, "int truncate(const char *path, long length);") -- one declaration per pcall: a failed cdef must not leave half of one behind

local eval = {}

local BUILTIN = { refcoco = true, ["refcoco+"] = true, refcocog = true, ["charades-sta"] = true, jsonl = true, scenes = true }
eval.TASKS = { "refcoco", "refcoco+", "refcocog", "charades-sta", "jsonl", "scenes" }

-- A task by name, or from a Lua file that returns one (a custom task: no recompiling).
function eval.task(name)
  if name == "refcoco" or name == "refcoco+" or name == "refcocog" then return require("locus.eval.refcoco").task(name) end
  if name == "charades-sta" then return require("locus.eval.charades").task end
  if name == "jsonl" then return require("locus.eval.jsonl") end
  if name == "scenes" then return require("locus.eval.scenes") end
  if not BUILTIN[name] and name:match("%.lua$") then
    local chunk, err = loadfile(name)
    if not chunk then error(err, 0) end
    local task = chunk()
    if type(task) ~= "table" or type(task.samples) ~= "function" then
      error(("%s: a task file returns a table with a samples(opts) function"):format(name), 0)
    end
    task.name = task.name or name:match("([^/]+)%.lua$")
    return task
  end
  error(("eval: no task '%s' (%s, or a FILE.lua that returns a task)"):format(name, table.concat(eval.TASKS, ", ")), 0)
end

-- FNV-1a (32 bits) of the id: which shard a sample belongs to, the same on every machine. The
-- product by the prime 2^24 + 403 is taken in two parts, each exact in a double.
local function shard_of(id, n)
  local h = bit.tobit(2166136261)
  for i = 1, #id do
    h = bit.bxor(h, id:byte(i))
    h = bit.tobit(bit.lshift(h, 24) + h * 403)
  end
  return (h % 4294967296) % n
end

-- {i, n} from a launcher's environment: OpenMPI's mpirun, a Slurm job array, srun; nil otherwise.
function eval.shard_from_env(getenv)
  getenv = getenv or os.getenv
  local function pair(i, n, min, what)
    i, n, min = tonumber(getenv(i)), tonumber(getenv(n)), tonumber(min and getenv(min) or 0)
    if i and n and n > 1 then
      i = i - (min or 0)
      if i < 0 or i >= n or i ~= math.floor(i) then error(("eval: %s gives shard %s of %s"):format(what, i, n), 0) end
      return { i, n }
    end
  end
  return pair("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", nil, "mpirun")
    or pair("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN", "the Slurm array")
    or pair("SLURM_PROCID", "SLURM_NTASKS", nil, "srun")
end

-- "i/n" -> {i, n}
function eval.parse_shard(text)
  local i, n = tostring(text):match("^(%d+)/(%d+)$")
  i, n = tonumber(i), tonumber(n)
  if not (i and n and n >= 1 and i < n) then error(("eval: --shard wants I/N with 0 <= I < N, not '%s'"):format(text), 0) end
  return { i, n }
end

-- The file a shard writes: run.jsonl -> run.shard-1-of-4.jsonl
function eval.shard_path(out, shard)
  if not shard or shard[2] == 1 then return out end
  local suffix = (".shard-%d-of-%d"):format(shard[1], shard[2])
  local stem = out:match("^(.*)%.jsonl$")
  return stem and (stem .. suffix .. ".jsonl") or (out .. suffix)
end

-- The ids a results file holds; a torn last line (the run was killed while writing it) is cut off.
function eval.done_ids(path, task_name)
  local f = io.open(path, "rb")
  if not f then return {} end
  local text = f:read("*a")
  f:close()
  local done, n, pos = {}, 0, 1
  while pos <= #text do
    local nl = text:find("\n", pos, true)
    if not nl then -- no newline: the line the run was writing when it stopped
      if ffi.C.truncate(path, pos - 1) ~= 0 then error(("%s: cannot cut off its torn last line"):format(path), 0) end
      break
    end
    n = n + 1
    local line = text:sub(pos, nl - 1)
    local ok, r = pcall(json.decode, line)
    if not ok or type(r) ~= "table" or type(r.id) ~= "string" then
      error(("%s:%d: not a result line of locus eval"):format(path, n), 0)
    end
    if task_name and r.task ~= task_name then
      error(("%s:%d: a result of task '%s', not '%s'"):format(path, n, tostring(r.task), task_name), 0)
    end
    done[r.id] = true
    pos = nl + 1
  end
  return done
end

local function question_of(task, sample, template)
  template = template or task.prompt or "{text}"
  if type(template) == "function" then return template(sample) end
  return (template:gsub("{text}", function() return sample.text end))
end

local function record_of(task, sample, question, result, scored, seconds)
  local r = { id = sample.id, task = task.name, split = sample.split, prompt = question, answer = result.text,
    truth = json.array(sample.truth), iou = scored.iou, correct = scored.correct, seconds = seconds }
  local order = { "id", "task", "split", "prompt", "answer" }
  local key = sample.kind == "span" and "span" or "box"
  local value = scored[key]
  r[key] = value and json.array(value) or json.null
  order[#order + 1] = key
  for _, k in ipairs { "truth", "iou", "correct", "seconds" } do order[#order + 1] = k end
  return json.object(r, order)
end

-- The samples of a run: opts.limit first, then this shard's share; ids must be unique.
function eval.samples(task, opts)
  local all = task.samples(opts)
  local seen, out = {}, {}
  for i, s in ipairs(all) do
    if type(s.id) ~= "string" then error(("%s: sample %d has no string id"):format(task.name, i), 0) end
    if seen[s.id] then error(("%s: two samples have the id '%s'"):format(task.name, s.id), 0) end
    seen[s.id] = true
    if s.kind ~= "box" and s.kind ~= "span" then error(("%s: sample '%s' is neither a box nor a span"):format(task.name, s.id), 0) end
    if opts.limit and i > opts.limit then break end
    if not opts.shard or shard_of(s.id, opts.shard[2]) == opts.shard[1] then out[#out + 1] = s end
  end
  return out
end

-- Runs the samples not yet in opts.out through model:ground; returns {done, total, correct, skipped}.
-- opts: data, media, splits, split_by, box_format (what the task reads), out, resume, limit, shard,
-- prompt (a template), generation options (max_new_tokens 128 and greedy by default), progress
-- (a locus.eval.progress or nil), samples (eval.samples's result, if the caller has it already).
function eval.run(model, task, opts)
  local samples = opts.samples or eval.samples(task, opts)
  local out = opts.out or error("eval.run: opts.out (the results file) is needed", 2)
  if dataset.exists(out) and not opts.resume then
    error(("%s exists: --resume to go on with it, or another --out"):format(out), 0)
  end
  local done = opts.resume and eval.done_ids(out, task.name) or {}
  local todo, stats = {}, { total = #samples, done = 0, correct = 0, skipped = 0 }
  for _, s in ipairs(samples) do
    if done[s.id] then stats.skipped = stats.skipped + 1 else todo[#todo + 1] = s end
  end
  local f, err = io.open(out, "ab")
  if not f then error(("%s: cannot write: %s"):format(out, err:gsub("^[^:]*: ", "")), 0) end
  local progress, report = opts.progress, require("locus.progress").report
  if progress then progress:start(#todo, stats.skipped) end
  local label = ("eval %s"):format(task.name)
  for _, s in ipairs(todo) do
    local t0 = require("locus.core").clock()
    local question = question_of(task, s, opts.prompt)
    local result = model:ground { image = s.image, video = s.video, audio = s.audio, question = question,
      max_new_tokens = opts.max_new_tokens or 128, temperature = opts.temperature, top_p = opts.top_p, top_k = opts.top_k,
      repetition_penalty = opts.repetition_penalty, seed = opts.seed }
    local scored = (task.score or (s.kind == "span" and function(_, r) return score.span(r, s.truth) end
      or function(_, r) return score.box(r, s.truth) end))(s, result)
    local record = record_of(task, s, question, result, scored, require("locus.core").clock() - t0)
    f:write(json.encode(record), "\n")
    f:flush()
    stats.done = stats.done + 1
    if scored.correct then stats.correct = stats.correct + 1 end
    if progress then progress:step(record) end
    report(label, stats.done, #todo)
  end
  f:close()
  if progress then progress:finish() end
  return stats
end

return eval
