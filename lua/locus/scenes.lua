-- locus.scenes: synthetic photos of coloured shapes with the questions GroundingGPT is trained on,
-- for a demo model that really grounds, and for checking a grounding pipeline end to end.
--
--   local scenes = require "locus.scenes"
--   local s = scenes.scene(42)        -- {width, height, background, image = u8 [H, W, 3],
--                                     --  shapes = {{shape = "circle", colour = "red", box = {x0, y0, x1, y1}}, ...}}
--   scenes.write("demo", {count = 1000, seed = 1})   -- demo/images/*.png, demo/train.json, demo/eval.jsonl
--   scenes.write("demo", {count = 1000, seed = 1, multi_turn = true})  -- a scene's questions in one conversation
--
-- A scene has 1 to 4 shapes (circle, square, triangle) in six colours, no two of one colour (so
-- "the red circle" names one shape; opts.colours = "any" lets colours repeat, no two alike), of
-- random sizes and places that do not overlap, on a plain or a noisy background; photos are 128 to
-- 224 pixels a side in varied aspect ratios, so the padding to GroundingGPT's square matters. Boxes are
-- the shapes' pixel extents [x0, x1) x [y0, y1). Everything follows from the seed: the same seed
-- gives the same scene on every machine.
--
-- The pairs are GroundingGPT's (LLaVA's) JSON: "Where is the red circle?" answered with its box as
-- [x0, y0, x1, y1] fractions of the padded square (GroundingGPT's convention, 3 decimals), and
-- "Describe the image." answered with every shape and its box.
local ffi = require "ffi"
local bit = require "bit"
local tensor = require "locus.tensor"

local scenes = {}

scenes.SHAPES = { "circle", "square", "triangle" }
scenes.COLOURS = { red = { 220, 40, 40 }, green = { 40, 170, 60 }, blue = { 40, 80, 220 }, yellow = { 240, 210, 30 },
  purple = { 140, 50, 180 }, orange = { 245, 140, 30 } }
scenes.COLOUR_NAMES = { "red", "green", "blue", "yellow", "purple", "orange" }
scenes.MIN_SIDE, scenes.MAX_SIDE = 128, 224

-- xorshift32: a generator that is the same everywhere (math.random's is LuaJIT's own)
local function generator(seed)
  local s = bit.tobit(seed * 2654435761 % 4294967296 + 1)
  if s == 0 then s = 1 end
  local g = {}
  function g.uint()
    s = bit.bxor(s, bit.lshift(s, 13))
    s = bit.bxor(s, bit.rshift(s, 17))
    s = bit.bxor(s, bit.lshift(s, 5))
    return s % 4294967296
  end
  function g.int(lo, hi) return lo + g.uint() % (hi - lo + 1) end -- lo..hi inclusive
  function g.float() return g.uint() / 4294967296 end
  return g
end

local function overlaps(a, b, margin)
  return a[1] < b[3] + margin and b[1] < a[3] + margin and a[2] < b[4] + margin and b[2] < a[4] + margin
end

-- Is pixel (x, y) (its centre) inside the shape drawn in box b?
local function inside(shape, b, x, y)
  local cx, cy = x + 0.5, y + 0.5
  if shape == "square" then return true end
  local w, h = b[3] - b[1], b[4] - b[2]
  if shape == "circle" then
    local dx, dy = (cx - b[1]) / w - 0.5, (cy - b[2]) / h - 0.5
    return dx * dx + dy * dy <= 0.25
  end
  -- triangle: apex at the top centre, base along the bottom
  local t = (cy - b[2]) / h
  local half = t / 2
  local u = (cx - b[1]) / w
  return u >= 0.5 - half and u <= 0.5 + half
end

local function paint(p, width, shape, b, rgb)
  for y = b[2], b[4] - 1 do
    for x = b[1], b[3] - 1 do
      if inside(shape, b, x, y) then
        local i = 3 * (y * width + x)
        p[i], p[i + 1], p[i + 2] = rgb[1], rgb[2], rgb[3]
      end
    end
  end
end

-- The scene of a seed. opts (for a curriculum; the defaults are the scenes above): shapes = {min,
-- max} (1, 4), size = {min, max} (0.25, 0.5: a shape's width as a fraction of the photo's shorter
-- side), background ("plain", "noisy", or either by default), colours ("distinct" or "any"), sides
-- = {min, max} (the photo's width and height in pixels, 128 to 224).
function scenes.scene(seed, opts)
  opts = opts or {}
  local count_range, size = opts.shapes or { 1, 4 }, opts.size or { 0.25, 0.5 }
  local g = generator(seed)
  local sides = opts.sides or { scenes.MIN_SIDE, scenes.MAX_SIDE }
  local w, h = g.int(sides[1], sides[2]), g.int(sides[1], sides[2])
  local img = tensor.empty({ h, w, 3 }, "u8")
  local p = ffi.cast("uint8_t *", img:data())
  local noisy = g.uint() % 2 == 0
  if opts.background then noisy = opts.background == "noisy" end
  local base = { g.int(200, 255), g.int(200, 255), g.int(200, 255) }
  for i = 0, w * h - 1 do
    for c = 0, 2 do
      local v = base[c + 1] - (noisy and g.int(0, 60) or 0)
      p[3 * i + c] = v
    end
  end
  local count, shapes, used = g.int(count_range[1], count_range[2]), {}, {}
  local side = math.min(w, h)
  for _ = 1, count do
    for _ = 1, 50 do -- a place that overlaps no other shape
      local shape, colour = scenes.SHAPES[g.int(1, 3)], scenes.COLOUR_NAMES[g.int(1, 6)]
      local sw = g.int(math.floor(side * size[1]), math.floor(side * size[2]))
      local sh = shape == "triangle" and g.int(math.floor(sw * 0.8), sw) or (g.uint() % 3 == 0 and sw or g.int(math.floor(sw * 0.7), sw))
      local x0, y0 = g.int(0, w - sw), g.int(0, h - sh)
      local box = { x0, y0, x0 + sw, y0 + sh }
      local kind = opts.colours == "any" and (colour .. " " .. shape) or colour
      local free = not used[kind]
      for _, s in ipairs(shapes) do free = free and not overlaps(box, s.box, 2) end
      if free then
        used[kind] = true
        paint(p, w, shape, box, scenes.COLOURS[colour])
        shapes[#shapes + 1] = { shape = shape, colour = colour, box = box }
        break
      end
    end
  end
  return { seed = seed, width = w, height = h, background = noisy and "noisy" or "plain", image = img, shapes = shapes }
end

-- A pixel box as GroundingGPT writes it: fractions of the square the photo is padded to (centred),
-- 3 decimals.
function scenes.square_box(box, width, height)
  local side = math.max(width, height)
  local dx, dy = math.floor((side - width) / 2), math.floor((side - height) / 2)
  local f = function(v, d) return ("%.3f"):format((v + d) / side) end
  return ("[%s, %s, %s, %s]"):format(f(box[1], dx), f(box[2], dy), f(box[3], dx), f(box[4], dy))
end

function scenes.question(shape) return ("Where is the %s %s?"):format(shape.colour, shape.shape) end

function scenes.answer(shape, width, height)
  return ("The %s %s is at %s."):format(shape.colour, shape.shape, scenes.square_box(shape.box, width, height))
end

function scenes.description(s)
  local parts = {}
  for _, shape in ipairs(s.shapes) do
    parts[#parts + 1] = ("%s %s %s %s"):format(shape.colour == "orange" and "an" or "a", shape.colour, shape.shape,
      scenes.square_box(shape.box, s.width, s.height))
  end
  local n = #s.shapes
  local list = n == 1 and parts[1] or (table.concat(parts, ", ", 1, n - 1) .. " and " .. parts[n])
  return ("There %s %s."):format(n == 1 and "is" or "are", list)
end

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Writes count scenes from seed on: DIR/images/scene_SEED.png; DIR/train.json, GroundingGPT's
-- training pairs (one "Where is" question per shape and one description per scene, each a
-- conversation of its own; with opts.multi_turn, a scene's questions are the turns of one
-- conversation, as LLaVA's data has them, so a training step encodes the photo once for all); DIR/eval.jsonl, the "Where is" questions with pixel boxes, for
-- `locus eval jsonl`. Returns the scenes (without their images).
function scenes.write(dir, opts)
  opts = opts or {}
  local json = require "locus.json"
  local image = require "locus.image"
  local count, first = opts.count or 100, opts.seed or 1
  if os.execute("mkdir -p " .. quote(dir .. "/images")) ~= 0 then error(("scenes: cannot create %s/images"):format(dir), 2) end
  local train, eval, out = json.array(), {}, {}
  for k = 0, count - 1 do
    local s = scenes.scene(first + k, opts)
    local file = ("images/scene_%06d.png"):format(s.seed)
    image.save(dir .. "/" .. file, s.image)
    s.image = nil
    s.file = file
    out[#out + 1] = s
    local turns = {}
    for j, shape in ipairs(s.shapes) do
      local q = json.object({ from = "human", value = "<image>\n" .. scenes.question(shape) }, { "from", "value" })
      local a = json.object({ from = "gpt", value = scenes.answer(shape, s.width, s.height) }, { "from", "value" })
      if opts.multi_turn then
        turns[#turns + 1] = { q, a }
      else
        train[#train + 1] = json.object({ id = ("%d-%d"):format(s.seed, j), image = file, conversations = json.array { q, a } },
          { "id", "image", "conversations" })
      end
      eval[#eval + 1] = json.encode(json.object({ id = ("%d-%d"):format(s.seed, j), image = file,
        question = scenes.question(shape), box = json.array(shape.box),
        split = #s.shapes == 1 and "1 shape" or ("%d shapes"):format(#s.shapes) }, { "id", "image", "question", "box", "split" }))
    end
    if opts.multi_turn then -- the questions in an order of the seed's; <image> in the first turn only
      local g = generator(s.seed + 7777)
      for i = #turns, 2, -1 do
        local j = g.int(1, i)
        turns[i], turns[j] = turns[j], turns[i]
      end
      local conv = json.array {}
      for i, qa in ipairs(turns) do
        if i > 1 then qa[1].value = qa[1].value:gsub("^<image>\n", "") end
        conv[#conv + 1], conv[#conv + 2] = qa[1], qa[2]
      end
      train[#train + 1] = json.object({ id = ("%d-where"):format(s.seed), image = file, conversations = conv },
        { "id", "image", "conversations" })
    end
    train[#train + 1] = json.object({ id = ("%d-describe"):format(s.seed), image = file, conversations = json.array {
      json.object({ from = "human", value = "<image>\nDescribe the image." }, { "from", "value" }),
      json.object({ from = "gpt", value = scenes.description(s) }, { "from", "value" }) } }, { "id", "image", "conversations" })
  end
  local locus = require "locus"
  locus.write_text(dir .. "/train.json", json.encode(train) .. "\n")
  locus.write_text(dir .. "/eval.jsonl", table.concat(eval, "\n") .. "\n")
  return out
end

return scenes
