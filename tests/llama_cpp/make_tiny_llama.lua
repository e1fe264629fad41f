-- Writes a tiny random LLaMA as GGUF with locus's writer: the metadata, tensor names and shapes
-- llama.cpp expects, a byte-level vocabulary, weights in f32 and, with arg[2] = "q8_0", the 2-D
-- weights quantized.   locus run tests/llama_cpp/make_tiny_llama.lua OUT.gguf [q8_0]
local T = locus.tensor
local out, qtype = arg[1], arg[2]
local dim, hidden, layers, heads, kv_heads = 64, 96, 2, 4, 2
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
local list = {
  { "token_embd.weight", weight(vocab, dim) },
  { "output_norm.weight", T.ones(dim) },
  { "output.weight", weight(vocab, dim) },
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
