-- Training a small GroundingGPT from scratch on synthetic scenes, and scoring it: the whole loop
-- in Lua, and the recipe meant for the demo model (doc/training.md, "From scratch", says how far
-- it gets: a shape alone in its photo is found, the named one among several not yet).
--
--   bin/locus run examples/train_scenes.lua [WORK [STEPS [OUT]]]   -- defaults: build/scenes-run, 300
--   bin/locus run examples/train_scenes.lua build/demo-run 12000 build/demo   -- ~50 min here
--
-- 1. scenes of coloured shapes (locus.scenes), a photo's "Where is" questions as the turns of one
--    conversation;
-- 2. a GroundingGPT in the real layout with fresh weights: LLaMA's tokenizer and the nine added
--    tokens, a 4-layer LLaMA 96 wide, the adapter, and a CLIP tower of 112 px in 14 px patches
--    (64 image tokens; config.json's image_token_len says so);
-- 3. the tower first, alone, taught to label its patches (locus.train.patches): what a pretrained
--    CLIP gives GroundingGPT, and what makes the rest learn in minutes instead of hours;
-- 4. the adapter and the LLM trained on the conversations (AdamW, cosine schedule), the tower
--    frozen, in the template `ground` asks in;
-- 5. Acc@0.5 on 100 held-out scenes; with OUT, the model packed there in f16, nothing linked.
-- Everything is resumable: run it again after a stop and it goes on.
local locus = require "locus"
local json = require "locus.json"

local work, steps, out = arg[1] or (locus.core.checkout_root .. "/build/scenes-run"), tonumber(arg[2] or 300), arg[3]
local function exists(p) local f = io.open(p); if f then f:close() end; return f ~= nil end
-- LLaMA's tokenizer (../shared/assets), else the test suite's small one
local tokenizer = locus.core.checkout_root .. "/../shared/assets/tokenizer/tokenizer.model"
if not exists(tokenizer) then tokenizer = locus.core.checkout_root .. "/tests/fixtures/groundinggpt/model/tokenizer.model" end
os.execute(("mkdir -p '%s'"):format(work))

if not exists(work .. "/scenes/where.json") then
  -- two conversations per step at most (8000 scenes), seeds from 1000 on (1..200 are held out)
  require("locus.scenes").write(work .. "/scenes", { count = math.max(100, math.min(8000, 2 * steps)), seed = 1000, multi_turn = true })
  local where = json.array {}
  for _, s in ipairs(json.decode(io.open(work .. "/scenes/train.json"):read("*a"))) do
    if s.id:match("%-where$") then where[#where + 1] = s end
  end
  locus.write_text(work .. "/scenes/where.json", json.encode(where) .. "\n")
end

if not exists(work .. "/scratch/config.json") then
  local scratch = work .. "/scratch.partial" -- the tower's stage is part of making the model
  os.execute(("rm -rf '%s'"):format(scratch))
  require("locus.train.fresh").groundinggpt { out = scratch, tokenizer = tokenizer, seed = 1,
    llm = { hidden = 96, intermediate = 256, layers = 4, heads = 3 },
    tower = { hidden = 96, intermediate = 384, layers = 4, heads = 3, image_size = 112 } }
  local list = {}
  for _, s in ipairs(json.decode(io.open(work .. "/scenes/where.json"):read("*a"))) do
    local scene = require("locus.scenes").scene(tonumber(s.id:match("^(%d+)")))
    scene.image, scene.file = nil, s.image
    list[#list + 1] = scene
  end
  local tower_steps = math.min(3000, math.max(2, math.floor(steps / 4)))
  require("locus.train.patches").run { model = scratch, scenes = list, images = work .. "/scenes", steps = tower_steps, batch = 8,
    progress = function(step, n, loss) io.stderr:write(("\rtower step %d/%d  loss %.4f\27[K"):format(step, n, loss)) end }
  io.stderr:write("\n")
  os.rename(scratch, work .. "/scratch")
end

require("locus.train").new { model = work .. "/scratch", data = work .. "/scenes/where.json", images = work .. "/scenes",
  out = work .. "/run", trainable = { "model.*", "lm_head.weight" }, steps = steps, batch = 4, lr = 2e-3, save_every = 200,
  template = "inference", resume = exists(work .. "/run/train_state.json"),
  progress = function(r) io.stderr:write(("\rstep %d/%d  loss %.4f  ETA %ds\27[K"):format(r.step, r.steps, r.loss, r.eta)) end }
  :run()
io.stderr:write("\n")

local eval = require "locus.eval"
local task, scored = eval.task("scenes"), work .. "/heldout.jsonl"
os.remove(scored)
local opts = { data = work .. "/heldout", out = scored, limit = 100 }
opts.samples = eval.samples(task, opts)
local stats = eval.run(locus.load(work .. "/run"), task, opts)
print(("%d steps: Acc@0.5 %.3f on %d held-out questions"):format(steps, stats.correct / stats.done, stats.done))
if out then
  require("locus.train.pack")(work .. "/run", out, { dtype = "f16" })
  print("packed into " .. out)
end
