-- locus.scenes: the synthetic grounding scenes, their pairs, and an evaluation that an oracle passes.
local helper = require "helper"
local scenes = require "locus.scenes"
local grounding = require "locus.grounding"
local score = require "locus.eval.score"
local json = require "locus.json"
local ffi = require "ffi"

local function pixel(img, x, y)
  local p = ffi.cast("const uint8_t *", img:data())
  local i = 3 * (y * img:size(2) + x)
  return { p[i], p[i + 1], p[i + 2] }
end

describe("locus.scenes", function()
  it("makes the same scene of a seed every time", function()
    local a, b = scenes.scene(7), scenes.scene(7)
    assert.are.same(a.shapes, b.shapes)
    helper.assert_equal(a.image, b.image, "scene 7")
    assert.are_not.same(a.shapes, scenes.scene(8).shapes)
  end)

  it("keeps its promises over 300 scenes: shapes, colours, boxes, backgrounds, aspect ratios", function()
    local backgrounds, wide, tall, counts = {}, 0, 0, {}
    for seed = 1, 300 do
      local s = scenes.scene(seed)
      assert.is_true(s.width >= scenes.MIN_SIDE and s.width <= scenes.MAX_SIDE and s.height >= scenes.MIN_SIDE
        and s.height <= scenes.MAX_SIDE)
      assert.is_true(#s.shapes >= 1 and #s.shapes <= 4, "seed " .. seed)
      counts[#s.shapes] = true
      backgrounds[s.background] = true
      if s.width > s.height then wide = wide + 1 elseif s.height > s.width then tall = tall + 1 end
      local seen = {}
      for i, sh in ipairs(s.shapes) do
        local key = sh.colour .. " " .. sh.shape
        assert.is_nil(seen[sh.colour], "two " .. sh.colour .. " shapes in scene " .. seed)
        seen[sh.colour] = true
        local side = math.min(s.width, s.height)
        assert.is_true(sh.box[3] - sh.box[1] >= math.floor(side * 0.25) and sh.box[3] - sh.box[1] <= math.floor(side * 0.5))
        local b = sh.box
        assert.is_true(b[1] >= 0 and b[2] >= 0 and b[3] <= s.width and b[4] <= s.height and b[3] > b[1] and b[4] > b[2])
        for j = i + 1, #s.shapes do
          local c = s.shapes[j].box
          assert.is_true(b[3] <= c[1] or c[3] <= b[1] or b[4] <= c[2] or c[4] <= b[2], "shapes overlap in scene " .. seed)
        end
        -- the shape is painted in its colour: the middle of its bottom row is inside every shape
        local x, y = math.floor((b[1] + b[3]) / 2), b[4] - 1
        assert.are.same(scenes.COLOURS[sh.colour], pixel(s.image, x, y), ("%s in scene %d"):format(key, seed))
      end
    end
    assert.are.same({ noisy = true, plain = true }, backgrounds)
    assert.are.same({ true, true, true, true }, counts)
    assert.is_true(wide > 50 and tall > 50, ("%d wide, %d tall"):format(wide, tall))
  end)

  it("answers in fractions of the padded square that map back onto the shape", function()
    for seed = 1, 200 do
      local s = scenes.scene(seed)
      for _, sh in ipairs(s.shapes) do
        local parsed = grounding.parse(scenes.answer(sh, s.width, s.height), { width = s.width, height = s.height })
        local b = parsed.boxes[1]
        assert.is_true(score.box_iou({ b.x0, b.y0, b.x1, b.y1 }, sh.box) > 0.9, "seed " .. seed)
        assert.are.equal(("the %s %s is at"):format(sh.colour, sh.shape), b.phrase:lower())
      end
      assert.are.equal(#s.shapes, #grounding.parse(scenes.description(s), { width = s.width, height = s.height }).boxes)
    end
    -- by hand: a 200 x 100 photo pads to 200 x 200, 50 rows above it
    assert.are.equal("[0.100, 0.300, 0.500, 0.600]", scenes.square_box({ 20, 10, 100, 70 }, 200, 100))
    assert.are.equal("[0.300, 0.100, 0.700, 0.500]", scenes.square_box({ 10, 20, 90, 100 }, 100, 200))
  end)

  it("writes photos, GroundingGPT's training pairs and an eval set an oracle scores 100% on", function()
    local tmp = helper.tmpdir()
    local rc, out = helper.sh(("%s scenes %s --count 12 --seed 5"):format(helper.locus_cmd, tmp))
    assert.are.equal(0, rc, out)
    local train = json.decode(io.open(tmp .. "/train.json"):read("*a"))
    local questions = 0
    for _, t in ipairs(train) do
      assert.truthy(t.id and t.image:match("^images/scene_%d+%.png$"), t.id)
      assert.are.equal("human", t.conversations[1].from)
      assert.truthy(t.conversations[1].value:match("^<image>\n"))
      assert.are.equal("gpt", t.conversations[2].from)
      if not t.id:match("describe") then questions = questions + 1 end
    end
    local eval = require "locus.eval"
    local samples = eval.task("jsonl").samples { data = tmp .. "/eval.jsonl" }
    assert.are.equal(questions, #samples)
    local oracle = { ground = function(_, req) -- answers each question with the training answer
      local img = require("locus.image").read(req.image)
      local seed = tonumber(req.image:match("scene_(%d+)%.png$"))
      local s = scenes.scene(seed)
      for _, sh in ipairs(s.shapes) do
        if scenes.question(sh) == req.question then
          local r = grounding.parse(scenes.answer(sh, img:size(2), img:size(1)), { width = img:size(2), height = img:size(1) })
          r.text = scenes.answer(sh, img:size(2), img:size(1))
          return r
        end
      end
      error("no such shape: " .. req.question)
    end }
    local stats = eval.run(oracle, eval.task("jsonl"), { data = tmp .. "/eval.jsonl", out = tmp .. "/run.jsonl" })
    assert.are.same({ total = questions, done = questions, correct = questions, skipped = 0 }, stats)
    os.execute("rm -rf " .. tmp)
  end)

  it("puts a scene's questions in one conversation with --multi-turn, the photo in its first turn only", function()
    local tmp = helper.tmpdir()
    local rc, out = helper.sh(("%s scenes %s --count 20 --seed 40 --multi-turn"):format(helper.locus_cmd, tmp))
    assert.are.equal(0, rc, out)
    local train = json.decode(io.open(tmp .. "/train.json"):read("*a"))
    assert.are.equal(40, #train) -- one conversation of questions and one description per scene
    local reordered = 0
    for k = 1, 20 do
      local s, where, describe = scenes.scene(39 + k), train[2 * k - 1], train[2 * k]
      assert.are.equal(("%d-where"):format(s.seed), where.id)
      assert.are.equal(("%d-describe"):format(s.seed), describe.id)
      assert.are.equal(2 * #s.shapes, #where.conversations)
      local asked = {}
      for j = 1, #where.conversations, 2 do
        local q, a = where.conversations[j], where.conversations[j + 1]
        assert.are.equal("human", q.from)
        assert.are.equal("gpt", a.from)
        assert.are.equal(j == 1, q.value:find("<image>", 1, true) ~= nil, q.value)
        asked[#asked + 1] = q.value:gsub("^<image>\n", "")
      end
      local want = {}
      for _, sh in ipairs(s.shapes) do want[#want + 1] = scenes.question(sh) end
      if table.concat(asked) ~= table.concat(want) then reordered = reordered + 1 end
      table.sort(asked)
      table.sort(want)
      assert.are.same(want, asked)
    end
    assert.is_true(reordered > 0, "the questions always come in drawing order")
    os.execute("rm -rf " .. tmp)
  end)

  it("is the eval harness's demo task: held-out scenes drawn into --data when missing, split by shape count", function()
    local tmp = helper.tmpdir()
    local task = require("locus.eval").task("scenes")
    local samples = task.samples { data = tmp .. "/heldout" }
    local questions, counts = 0, {}
    for seed = task.held_out.seed, task.held_out.seed + task.held_out.count - 1 do
      local n = #scenes.scene(seed).shapes
      questions = questions + n
      counts[n] = (counts[n] or 0) + n
    end
    assert.are.equal(questions, #samples)
    local splits = {}
    for _, s in ipairs(samples) do splits[s.split] = (splits[s.split] or 0) + 1 end
    assert.are.same({ ["1 shape"] = counts[1], ["2 shapes"] = counts[2], ["3 shapes"] = counts[3], ["4 shapes"] = counts[4] }, splits)
    -- a second run reads what the first drew
    local f = io.open(tmp .. "/heldout/eval.jsonl", "a")
    f:write('{"id": "extra", "image": "images/scene_000001.png", "question": "Where?", "box": [1, 2, 3, 4]}\n')
    f:close()
    assert.are.equal(questions + 1, #task.samples { data = tmp .. "/heldout" })
    os.execute("rm -rf " .. tmp)
  end)

  it("narrows the scenes for a curriculum: shape count, size, background, colours; bad ranges refused", function()
    local tmp = helper.tmpdir()
    local rc, out = helper.sh(("%s scenes %s --count 30 --seed 9 --shapes 1-1 --size 0.4-0.5 --background plain"):format(
      helper.locus_cmd, tmp))
    assert.are.equal(0, rc, out)
    local opts = { shapes = { 1, 1 }, size = { 0.4, 0.5 }, background = "plain" }
    for seed = 9, 38 do
      local s = scenes.scene(seed, opts)
      assert.are.equal(1, #s.shapes)
      assert.are.equal("plain", s.background)
      local b = s.shapes[1].box
      local side = math.min(s.width, s.height)
      assert.is_true(b[3] - b[1] >= math.floor(side * 0.4) and b[3] - b[1] <= math.floor(side * 0.5), tostring(seed))
    end
    local lines = 0
    for _ in io.lines(tmp .. "/eval.jsonl") do lines = lines + 1 end
    assert.are.equal(30, lines)
    -- --colours any: a colour may repeat, a colour and a shape may not
    local repeated = 0
    for seed = 1, 100 do
      local colours, kinds = {}, {}
      for _, sh in ipairs(scenes.scene(seed, { colours = "any" }).shapes) do
        assert.is_nil(kinds[sh.colour .. " " .. sh.shape], "seed " .. seed)
        kinds[sh.colour .. " " .. sh.shape] = true
        if colours[sh.colour] then repeated = repeated + 1 end
        colours[sh.colour] = true
      end
    end
    assert.is_true(repeated > 5, "colours repeated in " .. repeated .. " of 100 scenes")
    for _, bad in ipairs { "--shapes 0-2", "--shapes 3-2", "--size 0.5-0.95", "--shapes 1.5-2", "--background dark", "--colours some" } do
      rc, out = helper.sh(("%s scenes %s/x %s"):format(helper.locus_cmd, tmp, bad))
      assert.are_not.equal(0, rc, bad)
      assert.truthy(out:find("scenes: ", 1, true), out)
    end
    os.execute("rm -rf " .. tmp)
  end)
end)
