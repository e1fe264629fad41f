-- GroundingGPT's stage 1 (the adapter learns, everything else frozen) at GroundingGPT-7B's shapes:
-- seconds per step and peak resident memory, one sample per step. Random weights in the real layout
-- (bf16 LLaMA-7B with the adapter, f32 CLIP ViT-L/14-336; benchmarks/random_checkpoint.lua writes
-- them once to build/), samples from `locus scenes` in GroundingGPT's training template.
--   bin/locus run benchmarks/train_step.lua [STEPS]        -- default 3
-- A step: CLIP's tower (frozen: once per photo), the adapter, the decoder's forward keeping its
-- activations, its backward down to the image rows (no weight gradient for the frozen decoder), the
-- adapter's gradients and AdamW.
local root = locus.core.checkout_root
local rc = dofile(root .. "/benchmarks/random_checkpoint.lua")
local model_dir = rc.image_model(root)
local steps = tonumber(arg[1] or 3)
local work = root .. "/build/bench-train"

local status = rc.proc_status

os.execute(("rm -rf '%s' && mkdir -p '%s'"):format(work, work))
require("locus.scenes").write(work .. "/scenes", { count = steps, seed = 1 })
-- the weights are mapped: read them once so that the disk is not what is measured
os.execute(("cat %s/*.safetensors %s/../bench-clip-l336/*.safetensors > /dev/null"):format(model_dir, model_dir))

local clock = locus.clock
local t0 = clock()
local tr = require("locus.train").new { model = model_dir, data = work .. "/scenes/train.json", images = work .. "/scenes",
  out = work .. "/out", trainable = { "model.mm_vision_projector.*" }, steps = steps, lr = 1e-3, batch = 1 }
local t_load = clock() - t0
local lines, tokens, last = {}, 0, clock()
tr.opts.progress = function(r)
  local now = clock()
  lines[#lines + 1] = ("step %d: %d tokens, %.1f s, loss %.3f"):format(r.step, r.tokens, now - last, r.loss)
  tokens, last = r.tokens, now
end
tr:run()
local cpu = io.open("/proc/cpuinfo"):read("*a"):match("model name%s*:%s*([^\n]+)") or "unknown CPU"
print(("stage 1 at GroundingGPT-7B's shapes, %s, %d threads"):format(cpu, locus.num_threads()))
print(("load %.1f s"):format(t_load))
for _, l in ipairs(lines) do print(l) end
print(("peak resident memory %.1f GiB (VmHWM); weights mapped %.1f GiB"):format(status("VmHWM") / 2 ^ 30,
  (status("RssFile") or 0) / 2 ^ 30))
os.execute(("rm -rf '%s/out'"):format(work))
