-- Greedy token ids from locus for given prompt ids, and how many of them are certain enough to
-- hold in another engine: llama.cpp multiplies K-quant weights with activations rounded to 8 bits,
-- which moves logits by about 1% of their spread, so only the steps up to the first whose top two
-- logits are closer than 10% of the spread (standard deviation) must give the same id there.
-- Prints "ids: A B C ..." and "certain: K".
--   locus run tests/llama_cpp/greedy_ids.lua MODEL.gguf N ID,ID,...
local model, count = locus.llm.load(arg[1]), tonumber(arg[2])
local ids = {}
for id in arg[3]:gmatch("%d+") do ids[#ids + 1] = tonumber(id) end
local out, certain, doubt = {}, 0, false
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
print("ids: " .. table.concat(out, " "))
print("certain: " .. certain)
