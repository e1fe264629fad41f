-- locus.qformer: BLIP-2's Q-Former (a BERT whose inputs are learned query tokens), as GroundingGPT's
-- video and audio branches use it, composed from locus's ops. Per layer, on the queries x [Q, H]:
--   x = LN(x + SelfAttn(x))                                    (post-LN, as BERT)
--   x = LN(x + CrossAttn(x, encoder states)) on every cross_attention_freq-th layer (0, f, 2f, ...)
--   x = LN(x + W2 GELU(W1 x))                                  (the query feed-forward)
-- after LN(query tokens) (BertEmbeddings' LayerNorm). Text inputs, the text feed-forward and the
-- word embeddings are not part of it.
--   local q = locus.qformer.load(weights, {prefix = "model.Qformer.bert.", queries = "model.query_tokens",
--                                        heads = 12, eps = 1e-12})
--   local out = q:forward(states)          -- states [B, S, E] -> [B, Q, H]
local tensor = require "locus.tensor"
local nn = require "locus.nn"

local qformer = {}
local QFormer = {}
QFormer.__index = QFormer


function qformer.load(w, opts)
  opts = opts or {}
  local p = opts.prefix or "model.Qformer.bert."
  local bw = w:sub(p)
  local eps = opts.eps or 1e-12
  local function linear(l, name) return nn.Linear.load(l, name .. ".", { bias = true }) end
  local function ln(l, name) return nn.LayerNorm.load(l, name .. ".", { eps = eps }) end
  local self = setmetatable({
    queries = w:get(opts.queries or "model.query_tokens"), heads = opts.heads or 12, eps = eps,
    embed_ln = ln(bw, "embeddings.LayerNorm"), layers = {},
  }, QFormer)
  local i = 0
  while bw:has("encoder.layer." .. i .. ".attention.self.query.weight") do
    local l = bw:sub("encoder.layer." .. i .. ".")
    local layer = {
      q = linear(l, "attention.self.query"), k = linear(l, "attention.self.key"), v = linear(l, "attention.self.value"),
      o = linear(l, "attention.output.dense"), ln = ln(l, "attention.output.LayerNorm"),
      fc1 = linear(l, "intermediate_query.dense"), fc2 = linear(l, "output_query.dense"),
      ln_ffn = ln(l, "output_query.LayerNorm"),
    }
    if l:has("crossattention.self.query.weight") then
      layer.cross = {
        q = linear(l, "crossattention.self.query"), k = linear(l, "crossattention.self.key"),
        v = linear(l, "crossattention.self.value"), o = linear(l, "crossattention.output.dense"),
        ln = ln(l, "crossattention.output.LayerNorm"),
      }
    end
    self.layers[i + 1] = layer
    i = i + 1
  end
  if i == 0 then error("Q-Former: no encoder.layer.0 under " .. p, 2) end
  self.width = self.queries:size(3)
  if self.width % self.heads ~= 0 then
    error(("Q-Former: width %d is not divisible by %d heads"):format(self.width, self.heads), 2)
  end
  return self
end

-- Attention of x [B*Q, H] (queries) over kv_x [B*S, E] per batch item; returns [B*Q, H].
local function attend(self, a, x, kv_x, b, nq, ns)
  local h, heads = self.width, self.heads
  local q = a.q:forward(x)
  local k, v = a.k:forward(kv_x), a.v:forward(kv_x)
  local parts = {}
  for i = 0, b - 1 do
    local qi = q:narrow(1, i * nq + 1, nq):view(nq, heads, h / heads)
    local ki = k:narrow(1, i * ns + 1, ns):view(ns, heads, h / heads)
    local vi = v:narrow(1, i * ns + 1, ns):view(ns, heads, h / heads)
    parts[i + 1] = qi:attention(ki, vi):view(nq, h)
  end
  local att = b == 1 and parts[1] or tensor.cat(parts, 1)
  return a.ln:forward(a.o:forward(att) + x)
end

-- states [B, S, E] (or [S, E]) -> the queries' last hidden state [B, Q, H]
function QFormer:forward(states)
  if states:dim() == 2 then states = states:view(1, states:size(1), states:size(2)) end
  local b, s, e = states:size(1), states:size(2), states:size(3)
  local nq = self.queries:size(2)
  local kv = states:contiguous():view(b * s, e)
  local x = self.embed_ln:forward(self.queries:float():view(nq, self.width))
  x = x:view(1, nq, self.width):expand(b, nq, self.width):contiguous():view(b * nq, self.width)
  for _, l in ipairs(self.layers) do
    x = attend(self, l, x, x, b, nq, nq)
    if l.cross then x = attend(self, l.cross, x, kv, b, nq, s) end
    x = l.ln_ffn:forward(l.fc2:forward(l.fc1:forward(x):gelu()) + x)
  end
  return x:view(b, nq, self.width)
end

return qformer
