-- Writes a tiny random LLaMA as GGUF with locus's writer: the metadata, tensor names and shapes
-- llama.cpp expects, a byte-level vocabulary, weights in f32 and, with arg[2] = "q8_0" (any dtype
-- but f32), the 2-D weights quantized; arg[3], arg[4]: the width and FFN width (64 and 96 by default;
-- multiples of 256 for the K-quants).
--   locus run tests/llama_cpp/make_tiny_llama.lua OUT.gguf [f32|q8_0|...] [DIM HIDDEN]
local T = locus.tensor
local out, qtype = arg[1], arg[2] ~= "f32" and arg[2] or nil
local dim, hidden, layers, heads, kv_heads = tonumber(arg[3]) or 64, tonumber(arg[4]) or 96, 2, 4, 2
local peaked = tonumber(arg[5])
local tokens, scores, types = { "<unk>", "<s>", "</s>" }, { 0, 0, 0 }, { 2, 3, 3 }
for b = 0, 255 do
  tokens[#tokens + 1] = ("<0x%02X>"):format(b)
  scores[#scores + 1] = 0
  types[#types + 1] = 6 -- byte token
end
local vocab = #tokens
local seed = 0
local function weight(rows, cols)
  seed = seed + 1
  local t = T.randn { rows, cols, seed = seed, std = 0.5 / math.sqrt(cols) }
  return qtype and t:to(qtype) or t
end
local function f32_weight(rows, cols)
  seed = seed + 1
  return T.randn { rows, cols, seed = seed, std = 0.5 / math.sqrt(cols) }
end
local embd, output = f32_weight(vocab, dim), f32_weight(vocab, dim)
if peaked then
  -- embeddings large enough to stay visible in the residual stream, and output row i leaning
  -- towards embedding row i - 1, so that a token's successor stands out among the logits
  embd = embd * 16
  output = output + T.cat({ embd:narrow(1, vocab, 1), embd:narrow(1, 1, vocab - 1) }, 1) * peaked
end
local list = {
  { "token_embd.weight", qtype and embd:to(qtype) or embd },
  { "output_norm.weight", T.ones(dim) },
  { "output.weight", qtype and output:to(qtype) or output },
}
local kv_dim = dim / heads * kv_heads
for l = 0, layers - 1 do
  local b = "blk." .. l .. "."
  for _, t in ipairs {
    { "attn_norm.weight", T.ones(dim) }, { "attn_q.weight", weight(dim, dim) }, { "attn_k.weight", weight(kv_dim, dim) },
    { "attn_v.weight", weight(kv_dim, dim) }, { "attn_output.weight", weight(dim, dim) },
    { "ffn_norm.weight", T.ones(dim) }, { "ffn_gate.weight", weight(hidden, dim) }, { "ffn_up.weight", weight(hidden, dim) },
    { "ffn_down.weight", weight(dim, hidden) },
  } do
    list[#list + 1] = { b .. t[1], t[2] }
  end
end
locus.gguf.save(out, list, {
  metadata = {
    ["general.architecture"] = "llama", ["general.name"] = "locus tiny llama",
    ["llama.context_length"] = 256, ["llama.embedding_length"] = dim, ["llama.block_count"] = layers,
    ["llama.feed_forward_length"] = hidden, ["llama.rope.dimension_count"] = dim / heads,
    ["llama.attention.head_count"] = heads, ["llama.attention.head_count_kv"] = kv_heads,
    ["llama.attention.layer_norm_rms_epsilon"] = 1e-5,
    ["tokenizer.ggml.model"] = "llama", ["tokenizer.ggml.tokens"] = tokens, ["tokenizer.ggml.scores"] = scores,
    ["tokenizer.ggml.token_type"] = types, ["tokenizer.ggml.bos_token_id"] = 1, ["tokenizer.ggml.eos_token_id"] = 2,
    ["tokenizer.ggml.unknown_token_id"] = 0,
  },
  types = {
    ["llama.context_length"] = "u32", ["llama.embedding_length"] = "u32", ["llama.block_count"] = "u32",
    ["llama.feed_forward_length"] = "u32", ["llama.rope.dimension_count"] = "u32",
    ["llama.attention.head_count"] = "u32", ["llama.attention.head_count_kv"] = "u32",
    ["tokenizer.ggml.scores"] = "array:f32", ["tokenizer.ggml.token_type"] = "array:i32",
    ["tokenizer.ggml.bos_token_id"] = "u32", ["tokenizer.ggml.eos_token_id"] = "u32",
    ["tokenizer.ggml.unknown_token_id"] = "u32",
  },
})
