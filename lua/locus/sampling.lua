-- locus.sampling: choosing the next token from logits, in the order Hugging Face's generate applies
-- its processors: repetition penalty (every token of the prompt and the answer so far), then
-- temperature, top-k, top-p, and a draw from a seeded generator. temperature 0 (or nil) is greedy.
local ffi = require "ffi"
local bit = require "bit"
local core = require "locus.core"
local call = core.call -- C calls that keep their tensor arguments alive (locus.core)
local tensor = require "locus.tensor"
local C = core.C

local sampling = {}
local Sampler = {}
Sampler.__index = Sampler

-- xorshift64*, seeded through splitmix64: the same seed gives the same draws everywhere
local function rng(seed)
  local x = ffi.new("uint64_t[1]", seed or 0)
  x[0] = x[0] + 0x9E3779B97F4A7C15ULL
  local z = x[0]
  z = bit.bxor(z, bit.rshift(z, 30)) * 0xBF58476D1CE4E5B9ULL
  z = bit.bxor(z, bit.rshift(z, 27)) * 0x94D049BB133111EBULL
  z = bit.bxor(z, bit.rshift(z, 31))
  if z == 0ULL then z = 1ULL end
  local state = ffi.new("uint64_t[1]", z)
  return function() -- uniform in [0, 1)
    local s = state[0]
    s = bit.bxor(s, bit.rshift(s, 12))
    s = bit.bxor(s, bit.lshift(s, 25))
    s = bit.bxor(s, bit.rshift(s, 27))
    state[0] = s
    return tonumber(bit.rshift(s * 0x2545F4914F6CDD1DULL, 11)) * 2 ^ -53
  end
end

function sampling.new(opts, vocab, prompt_ids)
  local function number(key, ok, want) -- a finite number for which ok(v) holds (NaN never does)
    local v = opts[key]
    if v ~= nil and not (type(v) == "number" and v == v and v > -math.huge and v < math.huge and ok(v)) then
      error(("%s must be %s, not %s"):format(key, want, tostring(v)), 4)
    end
  end
  number("temperature", function(v) return v >= 0 end, "a number >= 0")
  number("top_p", function(v) return v > 0 and v <= 1 end, "in (0, 1]")
  number("top_k", function(v) return v >= 1 and v == math.floor(v) end, "a whole number >= 1")
  number("repetition_penalty", function(v) return v > 0 end, "a number > 0")
  number("seed", function(v) return v == math.floor(v) end, "a whole number")
  local t = opts.temperature or 0
  local s = setmetatable({
    temperature = t, top_k = opts.top_k and math.min(math.floor(opts.top_k), vocab), top_p = opts.top_p,
    penalty = opts.repetition_penalty, vocab = vocab, seen = {}, random = rng(opts.seed),
    argmax = tensor.empty({ 1 }, "i64"),
  }, Sampler)
  for _, id in ipairs(prompt_ids or {}) do s.seen[id] = true end
  if t > 0 then -- candidates sorted by C's top-k; sized once
    local k = s.top_k or vocab
    s.values, s.indices = tensor.empty { 1, k }, tensor.empty({ 1, k }, "i64")
    s.probs = ffi.new("double[?]", k)
  end
  return s
end

-- The next id from logits [1, vocab] (changed in place), remembered for the repetition penalty.
function Sampler:next(logits)
  local p = ffi.cast("float *", logits:data())
  if self.penalty and self.penalty ~= 1 then
    local r = self.penalty
    for id in pairs(self.seen) do
      local v = p[id]
      p[id] = v < 0 and v * r or v / r
    end
  end
  local id
  if self.temperature == 0 then
    core.check(call(C.locus_argmax, self.argmax, logits, 1), "sample")
    id = tonumber(ffi.cast("int64_t *", self.argmax:data())[0])
  else
    local k = self.values:size(2)
    core.check(call(C.locus_topk, self.values, self.indices, logits, k), "sample")
    local vals, idx = ffi.cast("float *", self.values:data()), ffi.cast("int64_t *", self.indices:data())
    local inv_t, probs, sum = 1 / self.temperature, self.probs, 0
    for i = 0, k - 1 do -- descending, so vals[0] is the max
      probs[i] = math.exp((vals[i] - vals[0]) * inv_t)
      sum = sum + probs[i]
    end
    local keep = k
    if self.top_p and self.top_p < 1 then -- the smallest head whose mass reaches top_p
      local cum = 0
      for i = 0, k - 1 do
        cum = cum + probs[i] / sum
        if cum >= self.top_p then
          keep = i + 1
          break
        end
      end
    end
    local total = 0
    for i = 0, keep - 1 do total = total + probs[i] end
    local u, acc = self.random() * total, 0
    id = tonumber(idx[keep - 1])
    for i = 0, keep - 1 do
      acc = acc + probs[i]
      if u < acc then
        id = tonumber(idx[i])
        break
      end
    end
  end
  self.seen[id] = true
  return id
end

return sampling
