-- locus.eval.scenes: the demo task, "Where is the {colour} {shape}?" on synthetic scenes
-- (locus.scenes) that a model trained on other seeds has never seen.
--   locus eval scenes --model MODEL --data heldout
-- DIR (--data) is a directory written by `locus scenes`; when it holds no eval.jsonl yet, the
-- held-out set is drawn there first: 200 scenes from seed 1 (examples/train_scenes.lua trains on
-- seeds from 1000 on). The report splits the questions by how many shapes their photo has.
local jsonl = require "locus.eval.jsonl"
local dataset = require "locus.eval.dataset"

local HELD_OUT = { count = 200, seed = 1 }

local function samples(opts)
  local dir = opts.data or error("scenes: needs --data DIR (a `locus scenes` directory, drawn if empty)", 0)
  local file = dir .. "/eval.jsonl"
  if not dataset.exists(file) then
    io.stderr:write(("locus: drawing the held-out scenes (%d from seed %d) into %s\n"):format(HELD_OUT.count,
      HELD_OUT.seed, dir))
    require("locus.scenes").write(dir, HELD_OUT)
  end
  return jsonl.samples { data = file, media = opts.media or dir, splits = opts.splits }
end

return { name = "scenes", prompt = "{text}", samples = samples, held_out = HELD_OUT }
