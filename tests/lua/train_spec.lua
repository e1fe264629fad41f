-- locus.train.data: GroundingGPT's training samples tokenized and masked as its train.py does
-- (tests/fixtures/make_train_data.py transcribes it), and refused with the sample's id when bad.
local helper = require "helper"
local data = require "locus.train.data"
local npy = require "locus.npy"

local dir = helper.fixtures .. "/train"

local function list(t) -- an i64 tensor as a Lua list
  local out, c = {}, t:contiguous()
  local p = require("ffi").cast("const int64_t *", c:data())
  for i = 0, c:numel() - 1 do out[i + 1] = tonumber(p[i]) end
  return out
end

describe("locus.train.data", function()
  it("tokenizes and masks as GroundingGPT's preprocess: images moved to the front, the mask's drift kept", function()
    local tok = require("locus.tokenizer").load(helper.fixtures .. "/groundinggpt/model")
    local samples = data.load(dir .. "/samples.json")
    assert.are.equal(3, #samples)
    for _, s in ipairs(samples) do
      local got = data.tokenize(s, tok)
      assert.are.same(list(npy.load(("%s/%s_ids.npy"):format(dir, s.id))), got.ids, s.id .. " ids")
      assert.are.same(list(npy.load(("%s/%s_labels.npy"):format(dir, s.id))), got.labels, s.id .. " labels")
      assert.are.equal(s.image, got.image)
    end
  end)

  it("refuses samples it cannot learn from, naming the file and the sample", function()
    local tmp = helper.tmpdir()
    local cases = {
      { '[{"id": "a", "conversations": [{"from": "human", "value": "hi"}]}]', "sample 1 (id a): no assistant (gpt) turn" },
      { '[{"id": "b", "conversations": [{"from": "bot", "value": "hi"}]}]', "sample 1 (id b): turn 1 is not" },
      { '[{"id": "c"}]', "sample 1 (id c): no \"conversations\" list" },
      { '[{"id": "d", "image": 5, "conversations": []}]', "sample 1 (id d): \"image\" is not a string" },
      { '{"id": "e"}', "not a list of samples" },
      { '[{"id": ', "not JSON" },
    }
    for _, c in ipairs(cases) do
      local f = io.open(tmp .. "/t.json", "w")
      f:write(c[1])
      f:close()
      local ok, err = pcall(data.load, tmp .. "/t.json")
      assert.is_false(ok, c[1])
      assert.truthy(err:find(tmp .. "/t.json: ", 1, true) and err:find(c[2], 1, true), err)
    end
    os.execute("rm -rf " .. tmp)
  end)
end)
