-- locus.train.patches: a model's CLIP tower trained to label its own patches, the dense objective
-- that stands in for a pretrained vision encoder when a GroundingGPT is grown from nothing.
--
--   require("locus.train.patches").run{model = "scratch", scenes = list, images = "scenes",
--                                      steps = 1500, batch = 8, lr = 2e-3}
--
-- GroundingGPT starts from CLIP, which already tells what is where; a tower of random weights
-- tells nothing, and learning it only through the LLM's answers is slow: the LLM has to find the
-- named shape's patches and read their place at once, and neither helps before the other works
-- (doc/training.md, "From scratch"). Here each patch of a scene's photo, padded and resized as
-- GroundingGPT does, is labelled with what covers its centre: the colour of the shape whose box
-- holds it (or none), and that box's x0, y0, x1, y1 as fractions of the padded square, each to two
-- decimals (a class per digit). A linear head over the tower's features (the hidden state the
-- adapter reads, mm_vision_select_layer) predicts them with a cross-entropy per label; the tower
-- and the head learn with AdamW, and the tower is written back in place (the head is dropped).
--
-- scenes: locus.scenes.write's list ({file, width, height, shapes = {{colour, box}}}); images: the
-- directory the files are under.
local tensor = require "locus.tensor"
local grad = require "locus.grad"
local weights = require "locus.weights"
local optim = require "locus.train.optim"
local vit = require "locus.train.vit"
local scenes = require "locus.scenes"

local patches = {}

local COLOURS = #scenes.COLOUR_NAMES + 1 -- and "no shape"
local HEADS = { { "colour", COLOURS } }
for _, c in ipairs { "x0", "y0", "x1", "y1" } do
  HEADS[#HEADS + 1] = { c .. " tenths", 10 }
  HEADS[#HEADS + 1] = { c .. " hundredths", 10 }
end
patches.HEADS = HEADS

local colour_class = {}
for i, name in ipairs(scenes.COLOUR_NAMES) do colour_class[name] = i end

-- The labels of a scene's patches on a grid x grid tower: one list per head, -100 where none
function patches.labels(s, grid)
  local side = math.max(s.width, s.height)
  local dx, dy = math.floor((side - s.width) / 2), math.floor((side - s.height) / 2)
  local out = {}
  for h = 1, #HEADS do out[h] = {} end
  for r = 0, grid - 1 do
    for c = 0, grid - 1 do
      local x, y = (c + 0.5) / grid * side - dx, (r + 0.5) / grid * side - dy
      local hit
      for _, sh in ipairs(s.shapes) do
        local b = sh.box
        if x >= b[1] and x < b[3] and y >= b[2] and y < b[4] then hit = sh end
      end
      local i = r * grid + c + 1
      out[1][i] = hit and colour_class[hit.colour] or 0
      for k = 1, 4 do
        local v = hit and (hit.box[k] + (k % 2 == 1 and dx or dy)) / side
        local hundredths = v and math.min(99, math.floor(v * 100 + 0.5)) -- as %.2f rounds
        out[2 * k][i] = v and math.floor(hundredths / 10) or grad.IGNORE_INDEX
        out[2 * k + 1][i] = v and hundredths % 10 or grad.IGNORE_INDEX
      end
    end
  end
  return out
end

-- opts: model (a GroundingGPT directory with a CLIP tower directory), scenes, images, steps,
-- batch (photos per step, 8), lr (2e-3), seed (1), progress(step, steps, loss)
function patches.run(opts)
  local locus = require "locus"
  local m = locus.load(opts.model)
  local dir = m.tower_path
  if not dir or dir:match(" %(vision_tower%)$") then error(("patches: %s has no CLIP tower directory to train"):format(opts.model), 0) end
  local cfg = require("locus.config").read_json(dir .. "/config.json")
  local w = weights.open(dir)
  local params, grads, names = {}, {}, {}
  for _, name in ipairs(w:names()) do
    params[name], names[#names + 1] = w:get(name):float():clone(), name
    grads[name] = tensor.zeros(params[name]:shape())
  end
  local width = 0
  for _, h in ipairs(HEADS) do width = width + h[2] end
  local ch = cfg.hidden_size
  params["head.weight"] = tensor.randn({ width, ch }, { seed = opts.seed or 1, std = 1 / math.sqrt(ch) })
  params["head.bias"] = tensor.zeros { width }
  grads["head.weight"], grads["head.bias"] = tensor.zeros { width, ch }, tensor.zeros { width }
  local net = vit.new(cfg, function(name) return params[name] end, "vision_model.")
  local grid = cfg.image_size / cfg.patch_size
  local batch, steps = opts.batch or 8, opts.steps
  local opt = optim.adamw { lr = opts.lr or 2e-3, weight_decay = 0, clip = 1.0, warmup = math.floor(0.03 * steps + 0.5), steps = steps }
  local cursor = 0
  for step = 1, steps do
    local total = 0
    for _ = 1, batch do
      cursor = cursor % #opts.scenes + 1
      local s = opts.scenes[cursor]
      local feats, saved = net:forward((m:preprocess_image(opts.images .. "/" .. s.file)), m.select_layer)
      local logits = feats:linear(params["head.weight"], params["head.bias"])
      local dlogits = tensor.zeros(logits:shape())
      local labels, at = patches.labels(s, grid), 1
      for h, head in ipairs(HEADS) do
        local loss, d = grad.cross_entropy(logits:narrow(2, at, head[2]):contiguous(), tensor.from(labels[h], "i64"))
        if loss == loss then -- NaN when no patch has this label
          total = total + loss
          dlogits:narrow(2, at, head[2]):copy(d:scale(1 / batch))
        end
        at = at + head[2]
      end
      local dfeats = grad.linear(dlogits, feats, params["head.weight"], { dw = grads["head.weight"], db = grads["head.bias"] })
      net:backward(saved, dfeats, grads)
    end
    opt:step(params, grads)
    if opts.progress then opts.progress(step, steps, total / batch) end
  end
  local out = {}
  for _, name in ipairs(names) do out[#out + 1] = { name, params[name] } end
  weights.save(dir .. "/model.safetensors", out, { format = "pt" })
end

return patches
