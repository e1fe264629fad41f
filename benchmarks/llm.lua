-- Prefill and decode speed of LLaMA-shaped models, locus next to llama.cpp (node-llama-cpp 3.21.1)
-- on the same GGUF file, in one run.
--   bin/locus run benchmarks/llm.lua [MODEL[:TYPE] ...]   MODEL tinyllama | 7b, TYPE bf16 | q8_0 | q4_0 | q4_k_m
--   (default: tinyllama and 7b, each in bf16, q8_0, q4_0 and q4_k_m)
-- Each model has random bf16 weights with the real shapes (one random block, viewed per tensor)
-- and LLaMA's 32000-token vocabulary from ../shared/assets; it is written once to
-- build/bench-MODEL-bf16.gguf and quantized from it by `locus convert` (build/bench-MODEL-TYPE.gguf).
-- Each type runs as llama.cpp runs it: quantized weights in locus's default "fast" precision
-- (activations quantized to Q8_0 blocks, integer products), bf16 weights in "bf16" precision
-- (activations rounded to bf16, vdpbf16ps and oneDNN's bf16 matmul); both keep keys and values in
-- f16, llama.cpp's default cache type.
-- Prefill: 650 tokens (GroundingGPT's image prompt is ~650); decode: 32 greedy tokens after it.
local ffi = require "ffi"
local T = locus.tensor
local root = locus.core.checkout_root
local PROMPT, DECODE = 650, 32

local shapes = {
  tinyllama = { name = "TinyLlama-1.1B", dim = 2048, layers = 22, heads = 32, kv = 4, hidden = 5632 },
  ["7b"] = { name = "LLaMA-7B", dim = 4096, layers = 32, heads = 32, kv = 32, hidden = 11008 },
}

local clock = locus.clock

local function write_model(s, path)
  local vocab_src = locus.weights.open(root .. "/../shared/assets/tokenizer/ggml-vocab-llama-spm.gguf")
  local meta = vocab_src:metadata()
  local block = T.randn { 132 * 2 ^ 20, seed = 11, std = 0.02, dtype = "bf16" } -- holds the largest (32000 x 4096)
  local function weight(rows, cols) return block:narrow(1, 1, rows * cols):view(rows, cols) end
  local list = { { "token_embd.weight", weight(32000, s.dim) }, { "output_norm.weight", T.ones(s.dim) },
    { "output.weight", weight(32000, s.dim) } }
  local kv = s.dim / s.heads * s.kv
  for l = 0, s.layers - 1 do
    local b = "blk." .. l .. "."
    for _, t in ipairs { { "attn_norm.weight", T.ones(s.dim) }, { "attn_q.weight", weight(s.dim, s.dim) },
      { "attn_k.weight", weight(kv, s.dim) }, { "attn_v.weight", weight(kv, s.dim) },
      { "attn_output.weight", weight(s.dim, s.dim) }, { "ffn_norm.weight", T.ones(s.dim) },
      { "ffn_gate.weight", weight(s.hidden, s.dim) }, { "ffn_up.weight", weight(s.hidden, s.dim) },
      { "ffn_down.weight", weight(s.dim, s.hidden) } } do
      list[#list + 1] = { b .. t[1], t[2] }
    end
  end
  local md = {
    ["general.architecture"] = "llama", ["general.name"] = s.name .. " (random)",
    ["llama.context_length"] = 2048, ["llama.embedding_length"] = s.dim, ["llama.block_count"] = s.layers,
    ["llama.feed_forward_length"] = s.hidden, ["llama.rope.dimension_count"] = s.dim / s.heads,
    ["llama.attention.head_count"] = s.heads, ["llama.attention.head_count_kv"] = s.kv,
    ["llama.attention.layer_norm_rms_epsilon"] = 1e-5,
  }
  local types = {}
  for k in pairs(md) do if type(md[k]) == "number" and k ~= "llama.attention.layer_norm_rms_epsilon" then types[k] = "u32" end end
  for k, v in pairs(meta) do if k:match("^tokenizer%.") then md[k] = v end end
  local src_types = require("cjson").decode(vocab_src:metadata_types_json())
  for k, v in pairs(src_types) do if k:match("^tokenizer%.") then types[k] = v end end
  locus.gguf.save(path, list, { metadata = md, types = types })
end

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

local function run(key, wtype)
  local s = shapes[key]
  if not s then error("unknown model " .. key .. " (tinyllama, 7b)", 0) end
  local base = root .. "/build/bench-" .. key .. "-bf16.gguf"
  if not exists(base) then
    io.stderr:write("writing " .. base .. "\n")
    write_model(s, base)
  end
  local path = root .. "/build/bench-" .. key .. "-" .. wtype .. ".gguf"
  if wtype ~= "bf16" and not exists(path) then
    io.stderr:write("quantizing " .. path .. "\n")
    assert(os.execute(("%s/bin/locus convert %s %s --type %s >/dev/null"):format(root, base, path, wtype)) == 0)
  end
  -- the same prompt for both: random ids from the vocabulary, after BOS
  local ids = { 1 }
  local x = 12345
  for i = 2, PROMPT do
    x = (x * 1103515245 + 12345) % 2147483648
    ids[i] = 3 + x % 31990
  end
  local ids_path = os.tmpname()
  local f = io.open(ids_path, "w")
  f:write("[", table.concat(ids, ","), "]")
  f:close()

  -- both engines map the file: read it once first so that neither pays for the disk
  os.execute(("cat %s > /dev/null"):format(path))
  locus.set_precision(wtype == "bf16" and "bf16" or "fast")
  local m = locus.llm.load(path, { max_context = 1024, kv_cache = "f16" }) -- llama.cpp's default cache type
  local x650 = m:embed(ids)
  local t0 = clock()
  local logits = m:forward(x650, 0, { last = true })
  local prefill = clock() - t0
  local row = T.empty { 1, s.dim }
  local one = T.empty({ 1 }, "i64")
  local idp = ffi.cast("int64_t *", one:data())
  local t1 = clock()
  for step = 1, DECODE do
    idp[0] = logits:argmax(2):item()
    locus.core.check(locus.core.call(locus.core.C.locus_embedding, row, m.embed_tokens, one))
    locus.core.check(locus.core.call(locus.core.C.locus_decoder_forward, m.decoder, row, PROMPT + step - 1, logits))
  end
  local decode = clock() - t1
  m = nil
  collectgarbage()

  local npm = root .. "/build/npm"
  -- node_env.sh installs node-llama-cpp (and a Node.js >= 20 where the system's is older) once
  local cmd = ("npm_dir=%s; . %s/tests/llama_cpp/node_env.sh && cp %s/benchmarks/llm_llamacpp.mjs %s/ && cd %s && "
    .. "node llm_llamacpp.mjs %s %s %d %d 2>/dev/null | tail -1")
    :format(npm, root, root, npm, npm, path, ids_path, DECODE, locus.num_threads())
  local p = io.popen(cmd)
  local line = p:read("*a")
  p:close()
  os.remove(ids_path)
  local ok, lc = pcall(require("cjson").decode, line)
  if not ok then lc = nil end
  return { name = s.name .. " " .. wtype, locus_prefill = PROMPT / prefill, locus_decode = DECODE / decode,
    cpp_prefill = lc and PROMPT / lc.prefill_s, cpp_decode = lc and lc.decode_tokens / lc.decode_s }
end

local keys = #arg > 0 and arg or { "tinyllama:bf16", "tinyllama:q8_0", "tinyllama:q4_0", "tinyllama:q4_k_m", "7b:bf16",
  "7b:q8_0", "7b:q4_0", "7b:q4_k_m" }
local cpu = io.open("/proc/cpuinfo"):read("*a"):match("model name%s*:%s*([^\n]+)") or "unknown CPU"
print(("%s; %d threads, kernels %s (%s); prompt %d tokens, %d decoded"):format(cpu, locus.num_threads(),
  locus.kernel_path(), locus.cpu_features(), PROMPT, DECODE))
print("\n| model | locus prefill tok/s | llama.cpp prefill tok/s | ratio | locus decode tok/s | llama.cpp decode tok/s | ratio |")
print("|---|---:|---:|---:|---:|---:|---:|")
for _, spec in ipairs(keys) do
  local key, wtype = spec:match("^([^:]+):?(.*)$")
  local r = run(key, wtype ~= "" and wtype or "bf16")
  local function f(v) return v and ("%.2f"):format(v) or "n/a" end
  local function q(a, b) return (a and b) and ("%.2f"):format(a / b) or "n/a" end
  print(("| %s | %s | %s | %s | %s | %s | %s |"):format(r.name, f(r.locus_prefill), f(r.cpp_prefill), q(r.locus_prefill, r.cpp_prefill),
    f(r.locus_decode), f(r.cpp_decode), q(r.locus_decode, r.cpp_decode)))
end
