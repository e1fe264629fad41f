-- Greedy token ids from locus for given prompt ids, and how many of them are certain enough to
-- hold in another engine. Both engines multiply K-quant weights with activations rounded to 8
-- bits, but in differently sized blocks (locus: 32, llama.cpp: 256), which moves logits by about
-- 1% of their spread; so only the steps up to the first whose top two logits, in exact precision
-- (f32 activations: the model's own margins), are closer than 10% of the spread (standard
-- deviation) must give the same id there.
-- Prints "ids: A B C ..." (locus's default precision) and "certain: K".
--   locus run tests/llama_cpp/greedy_ids.lua MODEL.gguf N ID,ID,...
local model, count = locus.llm.load(arg[1]), tonumber(arg[2])
local prompt = {}
for id in arg[3]:gmatch("%d+") do prompt[#prompt + 1] = tonumber(id) end

-- the greedy ids in the current precision, and how many lead before the first close call
local function greedy()
  local ids, out, certain, doubt = { unpack(prompt) }, {}, 0, false
  for _ = 1, count do
    local row = model:logits(ids):select(1, #ids):totable()
    local best, second, sum, sum2 = 1, nil, 0, 0
    for i, v in ipairs(row) do
      sum, sum2 = sum + v, sum2 + v * v
      if v > row[best] then best, second = i, best elseif i ~= best and (not second or v > row[second]) then second = i end
    end
    local spread = math.sqrt(sum2 / #row - (sum / #row) ^ 2)
    doubt = doubt or row[best] - row[second] < 0.1 * spread
    if not doubt then certain = certain + 1 end
    out[#out + 1], ids[#ids + 1] = best - 1, best - 1
    if best - 1 == model.eos then break end
  end
  return out, certain
end

local precision = locus.precision()
local out = greedy()
locus.set_precision("exact")
model:forget() -- nothing computed in the other precision is reused
local _, certain = greedy()
locus.set_precision(precision)
print("ids: " .. table.concat(out, " "))
print("certain: " .. certain)
