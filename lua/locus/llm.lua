-- locus.llm: LLaMA-architecture language models (Vicuna, GroundingGPT's decoder, TinyLlama,
-- stories260K) from Hugging Face directories or GGUF files. This file is the recipe: which
-- checkpoint tensors feed which slot of the fused C decoder (csrc/models/llama.c), and the
-- generation loop with its sampling policy.
--
--   local m = locus.llm.load("stories260K_hf")             -- or a .gguf file
--   local logits = m:logits(m.tokenizer:encode("Once"))    -- [T, vocab], every position
--   local out = m:generate{prompt = "Once upon a time", max_new_tokens = 50}
--   print(out.text)
local ffi = require "ffi"
local core = require "locus.core"
local call = core.call -- C calls that keep their tensor arguments alive (locus.core)
local tensor = require "locus.tensor"
local weights = require "locus.weights"
local config = require "locus.config"
local tokenizer = require "locus.tokenizer"
local sampling = require "locus.sampling"
local C = core.C

local llm = {}
local Model = {}
Model.__index = Model

local is_file = config.is_file

local whole, positive = config.whole, config.positive -- a file's field, or an error naming both

-- The layer count a file claims, checked against its tensors before anything is built per layer.
local function check_layers(n, w, where, field, first_tensor)
  whole(n, where, field, 1, 4096)
  if not w:has(first_tensor(n - 1)) then
    error(("%s: %s says %d layers, but the weights have no %s"):format(where, field, n, first_tensor(n - 1)), 0)
  end
  return n
end

-- Hyperparameters and tensor names of an HF directory.
local function hf_recipe(dir, w, opts)
  local cfg = config.load(dir).config
  if not cfg then error(dir .. ": no config.json", 3) end
  if cfg.rope_scaling then error(dir .. ": rope_scaling is not supported", 3) end
  local p = opts.prefix or "model."
  local where = dir .. "/config.json"
  check_layers(cfg.num_hidden_layers, w, where, "num_hidden_layers",
    function(i) return p .. "layers." .. i .. ".input_layernorm.weight" end)
  whole(cfg.hidden_size, where, "hidden_size", 1, 1048576)
  whole(cfg.num_attention_heads, where, "num_attention_heads", 1, 65536)
  if cfg.num_key_value_heads ~= nil then whole(cfg.num_key_value_heads, where, "num_key_value_heads", 1, 65536) end
  whole(cfg.intermediate_size, where, "intermediate_size", 1, 16777216)
  if cfg.max_position_embeddings ~= nil then whole(cfg.max_position_embeddings, where, "max_position_embeddings", 1, 2 ^ 31 - 1) end
  if cfg.rms_norm_eps ~= nil then positive(cfg.rms_norm_eps, where, "rms_norm_eps") end
  if cfg.rope_theta ~= nil then positive(cfg.rope_theta, where, "rope_theta") end
  for _, k in ipairs { "bos_token_id", "eos_token_id" } do
    if cfg[k] ~= nil then whole(cfg[k], where, k, 0, 2 ^ 31 - 1) end
  end
  local layers = {}
  for i = 0, cfg.num_hidden_layers - 1 do
    local l = p .. "layers." .. i .. "."
    layers[i + 1] = {
      attn_norm = l .. "input_layernorm.weight", wq = l .. "self_attn.q_proj.weight", wk = l .. "self_attn.k_proj.weight",
      wv = l .. "self_attn.v_proj.weight", wo = l .. "self_attn.o_proj.weight", ffn_norm = l .. "post_attention_layernorm.weight",
      w_gate = l .. "mlp.gate_proj.weight", w_up = l .. "mlp.up_proj.weight", w_down = l .. "mlp.down_proj.weight",
    }
  end
  local embed = p .. "embed_tokens.weight"
  return {
    n_layers = cfg.num_hidden_layers, dim = cfg.hidden_size, n_heads = cfg.num_attention_heads,
    n_kv_heads = cfg.num_key_value_heads or cfg.num_attention_heads, hidden = cfg.intermediate_size,
    norm_eps = cfg.rms_norm_eps or 1e-6, rope_theta = cfg.rope_theta or 10000, rope_interleaved = 0,
    max_context = cfg.max_position_embeddings or 2048, layers = layers, embed = embed, norm = p .. "norm.weight",
    lm_head = (cfg.tie_word_embeddings or not w:has("lm_head.weight")) and embed or "lm_head.weight",
    bos = cfg.bos_token_id, eos = cfg.eos_token_id,
  }
end

-- The same from GGUF metadata (llama.cpp's names; q/k rows are in llama.cpp's rope layout).
local function gguf_recipe(path, w)
  local md = w:metadata()
  local arch = md["general.architecture"]
  if arch ~= "llama" then error(path .. ": architecture '" .. tostring(arch) .. "' is not llama", 3) end
  local function need(key, lo, hi)
    local v = md["llama." .. key]
    if v == nil then error(path .. ": metadata llama." .. key .. " is missing", 4) end
    if lo then whole(v, path, "metadata llama." .. key, lo, hi) end
    return v
  end
  check_layers(need("block_count"), w, path, "metadata llama.block_count", function(i) return "blk." .. i .. ".attn_norm.weight" end)
  need("embedding_length", 1, 1048576)
  need("attention.head_count", 1, 65536)
  need("feed_forward_length", 1, 16777216)
  positive(need("attention.layer_norm_rms_epsilon"), path, "metadata llama.attention.layer_norm_rms_epsilon")
  if md["llama.attention.head_count_kv"] ~= nil then whole(md["llama.attention.head_count_kv"], path, "metadata llama.attention.head_count_kv", 1, 65536) end
  if md["llama.context_length"] ~= nil then whole(md["llama.context_length"], path, "metadata llama.context_length", 1, 2 ^ 31 - 1) end
  if md["llama.rope.freq_base"] ~= nil then positive(md["llama.rope.freq_base"], path, "metadata llama.rope.freq_base") end
  local layers = {}
  for i = 0, need("block_count") - 1 do
    local b = "blk." .. i .. "."
    layers[i + 1] = {
      attn_norm = b .. "attn_norm.weight", wq = b .. "attn_q.weight", wk = b .. "attn_k.weight", wv = b .. "attn_v.weight",
      wo = b .. "attn_output.weight", ffn_norm = b .. "ffn_norm.weight", w_gate = b .. "ffn_gate.weight",
      w_up = b .. "ffn_up.weight", w_down = b .. "ffn_down.weight",
    }
  end
  local heads = need("attention.head_count")
  return {
    n_layers = need("block_count"), dim = need("embedding_length"), n_heads = heads,
    n_kv_heads = md["llama.attention.head_count_kv"] or heads, hidden = need("feed_forward_length"),
    norm_eps = need("attention.layer_norm_rms_epsilon"), rope_theta = md["llama.rope.freq_base"] or 10000,
    rope_interleaved = 1, max_context = md["llama.context_length"] or 2048, layers = layers,
    embed = "token_embd.weight", norm = "output_norm.weight",
    lm_head = w:has("output.weight") and "output.weight" or "token_embd.weight",
    bos = md["tokenizer.ggml.bos_token_id"], eos = md["tokenizer.ggml.eos_token_id"],
  }
end

local function free_decoder(d) C.locus_decoder_free(d) end

-- opts.max_context: KV cache length (default: the model's context); opts.kv_cache: "f32" (default)
-- or "f16" (half the memory; keys and values rounded to 11 bits, doc/llm.md); opts.prefix: where the LLaMA
-- tensors sit in an HF checkpoint (default "model."); opts.tokenizer: a tokenizer or its path
-- (default: the model's own, when it has one); opts.added_token_spaces: "keep" or "strip" for the
-- model's own tokenizer (locus.tokenizer).
function llm.load(path, opts)
  opts = opts or {}
  local w = weights.open(path)
  local gguf = w:format() == "gguf"
  local r = gguf and gguf_recipe(path, w) or hf_recipe(path, w, opts)
  local embed = w:get(r.embed)
  r.vocab = embed:size(1)
  r.max_context = opts.max_context or r.max_context
  local cfg = ffi.new("locus_decoder_config", {
    n_layers = r.n_layers, dim = r.dim, n_heads = r.n_heads, n_kv_heads = r.n_kv_heads, hidden = r.hidden,
    vocab = r.vocab, norm_eps = r.norm_eps, rope_theta = r.rope_theta, rope_interleaved = r.rope_interleaved,
    max_context = r.max_context, kv_dtype = tensor.dtype_code(opts.kv_cache or "f32"),
  })
  local d = C.locus_decoder_new(cfg)
  if d == nil then core.fail(path) end
  d = ffi.gc(d, free_decoder)
  for i, l in ipairs(r.layers) do
    local t = {}
    for _, k in ipairs { "attn_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w_gate", "w_up", "w_down" } do t[k] = w:get(l[k]) end
    core.check(call(C.locus_decoder_set_layer, d, i - 1, t.attn_norm, t.wq, t.wk, t.wv, t.wo, t.ffn_norm, t.w_gate,
      t.w_up, t.w_down), path)
  end
  core.check(call(C.locus_decoder_set_output, d, w:get(r.norm), w:get(r.lm_head)), path)
  local tok = opts.tokenizer
  local tok_opts = { added_token_spaces = opts.added_token_spaces }
  if type(tok) == "string" then
    tok = tokenizer.load(tok, tok_opts)
  elseif tok == nil then
    if gguf then
      local ok, t = pcall(tokenizer.from_weights, w, tok_opts)
      tok = ok and t or nil
    elseif is_file(path .. "/tokenizer.model") then
      tok = tokenizer.load(path, tok_opts)
    end
  end
  if tok and tok:vocab_size() < r.vocab then
    error(("%s: the tokenizer has %d tokens, but the model's vocabulary has %d: ids from %d on could not be read back"):format(
      path, tok:vocab_size(), r.vocab, tok:vocab_size()), 2)
  end
  return setmetatable({
    path = path, weights = w, config = r, decoder = d, embed_tokens = embed, tokenizer = tok,
    bos = r.bos or (tok and tok:bos()), eos = r.eos or (tok and tok:eos()),
  }, Model)
end

-- Rows of the token embedding for 0-based ids (a table or an integer tensor): [T, dim] f32.
function Model:embed(ids)
  if not tensor.is_tensor(ids) then ids = tensor.from(ids, "i64") end
  return self.embed_tokens:embedding(ids)
end

-- ---- the KV cache and what it holds ---------------------------------------------------------------
-- The decoder's cache holds keys and values for positions 0 .. cached - 1; `inputs` keeps the
-- input row (embedding) of each of them. A new prompt whose first rows equal those inputs bit for
-- bit has the same keys and values there (attention is causal), so generate() computes only the
-- rest: a second question about the same picture, or a chat's next turn, prefills its new tokens.

local function cache_inputs(self)
  if not self.inputs then self.inputs = tensor.empty { self.config.max_context, self.config.dim } end
  return self.inputs
end

-- records n rows at `rows` (f32, contiguous) as the inputs of positions pos0 .. pos0 + n - 1;
-- later positions no longer count, and nothing does after a gap (its keys are unknown)
local function remember_rows(self, rows, n, pos0)
  if pos0 > (self.cached or 0) then
    self.cached = 0
    return
  end
  local dim = self.config.dim
  ffi.copy(ffi.cast("float *", cache_inputs(self):data()) + pos0 * dim, rows, n * dim * 4)
  self.cached = pos0 + n
end

local function remember(self, x, pos0)
  local xc = x:contiguous()
  remember_rows(self, xc:data(), x:size(1), pos0)
end

-- how many leading rows of x [T, dim] the cache already holds, at most `limit`
function Model:cached_prefix(x, limit)
  local n = math.min(self.cached or 0, limit or x:size(1), x:size(1))
  if n == 0 then return 0 end
  local dim, xc = self.config.dim, x:contiguous()
  local a, b = ffi.cast("const float *", xc:data()), ffi.cast("const float *", self.inputs:data())
  for i = 0, n - 1 do
    if ffi.C.memcmp(a + i * dim, b + i * dim, dim * 4) ~= 0 then return i end
  end
  return n
end

-- Forgets what the cache holds (the next prompt is computed whole).
function Model:forget() self.cached = 0 end

-- The cache's state for positions 0 .. n - 1 (default: all it holds), to restore later:
-- {n, inputs [n, dim], kv [layers, 2, kv_heads, n, head_dim]} (copies; the cache is head-major,
-- locus_decoder_cache in locus.h).
function Model:save_cache(n)
  n = n or self.cached or 0
  if n > (self.cached or 0) then error(("save_cache: the cache holds %d positions, not %d"):format(self.cached or 0, n), 2) end
  local kv = tensor.wrap(C.locus_decoder_cache(self.decoder), "save_cache")
  return { n = n, inputs = cache_inputs(self):narrow(1, 1, math.max(n, 1)):clone(),
    kv = kv:narrow(4, 1, math.max(n, 1)):clone() }
end

-- Puts back a state from save_cache (of this model's shapes).
function Model:restore_cache(state)
  local kv = tensor.wrap(C.locus_decoder_cache(self.decoder), "restore_cache")
  local want = kv:shape()
  local got = state.kv:shape()
  if #got ~= 5 or got[1] ~= want[1] or got[2] ~= want[2] or got[3] ~= want[3] or got[5] ~= want[5] or got[4] < state.n
    or state.n > want[4] then
    error("restore_cache: the state is not of this model's cache", 2)
  end
  if state.n > 0 then
    kv:narrow(4, 1, state.n):copy(state.kv:narrow(4, 1, state.n))
    cache_inputs(self):narrow(1, 1, state.n):copy(state.inputs:narrow(1, 1, state.n))
  end
  self.cached = state.n
end

-- x [T, dim] (embeddings, spliced or not) at positions pos0..: logits [T, vocab] (all rows) or
-- [1, vocab] (the last, opts.last = true). The KV cache keeps positions < pos0 + T.
function Model:forward(x, pos0, opts)
  pos0 = pos0 or 0
  local rows = (opts and opts.last) and 1 or x:size(1)
  local logits = tensor.empty { rows, self.config.vocab }
  core.check(call(C.locus_decoder_forward, self.decoder, x, pos0, logits), "forward")
  remember(self, x, pos0)
  return logits
end

-- Logits at every position of a token sequence, from position 0: [T, vocab].
function Model:logits(ids)
  if #ids == 0 then error("logits: no tokens", 2) end
  return self:forward(self:embed(ids), 0)
end

-- The final-norm hidden state [T, dim] of the last forward (a copy).
function Model:hidden()
  local h = C.locus_decoder_hidden(self.decoder)
  if h == nil then core.fail("hidden") end
  return tensor.wrap(h):clone()
end

-- Generation. opts: prompt (text, tokenized with BOS unless bos = false) or ids (a table) or
-- embeds ([T, dim], e.g. with image rows spliced in; then ids may give the prompt's ids for the
-- repetition penalty); max_new_tokens (128); temperature (0 = greedy), top_k, top_p,
-- repetition_penalty, seed; stop (a string or a list: text that ends the answer and is cut from
-- it); on_token(text, id) for streaming (text is whole UTF-8 and never part of a stop string);
-- reuse = false computes the whole prompt even where the KV cache already holds its first rows.
-- Returns {ids = new ids, text = decoded text, prompt_tokens = n, stopped = "eos" | "stop" | "length",
-- reused_tokens = the prompt's leading positions taken from the cache}.
function Model:generate(opts)
  local tok = self.tokenizer
  local prompt_ids = opts.ids
  if opts.prompt then
    if not tok then error("generate: this model has no tokenizer; pass ids", 2) end
    prompt_ids = tok:encode(opts.prompt, { bos = opts.bos ~= false })
  end
  local x = opts.embeds or (prompt_ids and #prompt_ids > 0 and self:embed(prompt_ids))
  if not x then error("generate: give prompt, ids or embeds", 2) end
  local n_prompt = x:size(1)
  local max_new = opts.max_new_tokens or 128
  if type(max_new) ~= "number" or max_new ~= math.floor(max_new) or max_new < 1 then
    error(("generate: max_new_tokens must be a whole number >= 1, not %s"):format(tostring(max_new)), 2)
  end
  local ctx = self.config.max_context
  if n_prompt + max_new > ctx then
    error(("generate: %d prompt tokens + %d new tokens exceed the context of %d"):format(n_prompt, max_new, ctx), 2)
  end
  local ok, sampler = pcall(sampling.new, opts, self.config.vocab, prompt_ids)
  if not ok then error("generate: " .. tostring(sampler):gsub("^[^:]*%.lua:%d+: ", ""), 2) end
  local stops = type(opts.stop) == "string" and { opts.stop } or opts.stop or {}
  local stream = tok and tok:stream()
  -- buffers reused for every token: no tensor is created inside the loop
  local logits = tensor.empty { 1, self.config.vocab }
  local one_id = tensor.empty({ 1 }, "i64")
  local one_x = tensor.empty { 1, self.config.dim }
  local id_ptr = ffi.cast("int64_t *", one_id:data())
  local one_row = one_x:data()
  -- the prompt's leading rows the cache already holds are not computed again (at least the last is)
  local reused = opts.reuse == false and 0 or self:cached_prefix(x, n_prompt - 1)
  local rest = reused > 0 and x:narrow(1, reused + 1, n_prompt - reused) or x
  core.check(call(C.locus_decoder_forward, self.decoder, rest, reused, logits), "generate")
  remember(self, rest, reused)
  local out_ids, text, emitted, stopped = {}, "", 0, "length"
  for step = 1, max_new do
    local id = sampler:next(logits)
    if id == self.eos then
      stopped = "eos"
      break
    end
    out_ids[#out_ids + 1] = id
    if stream then
      text = text .. stream:push(id)
      local cut
      for _, s in ipairs(stops) do
        local at = text:find(s, 1, true)
        if at and (not cut or at < cut) then cut = at end
      end
      if cut then
        text = text:sub(1, cut - 1)
        stopped = "stop"
      end
      if opts.on_token then
        local safe = #text
        if not cut then -- hold back a tail that may still become a stop string
          for _, s in ipairs(stops) do
            for k = math.min(#s - 1, #text), 1, -1 do
              if text:sub(-k) == s:sub(1, k) then
                safe = math.min(safe, #text - k)
                break
              end
            end
          end
        end
        if safe > emitted then
          opts.on_token(text:sub(emitted + 1, safe), id)
          emitted = safe
        end
      end
      if cut then break end
    elseif opts.on_token then
      opts.on_token("", id)
    end
    if step == max_new then break end
    id_ptr[0] = id
    core.check(call(C.locus_embedding, one_x, self.embed_tokens, one_id), "generate")
    core.check(call(C.locus_decoder_forward, self.decoder, one_x, n_prompt + step - 1, logits), "generate")
    remember_rows(self, one_row, 1, n_prompt + step - 1)
  end
  if stream and stopped ~= "stop" then
    text = text .. stream:flush()
    if opts.on_token and #text > emitted then opts.on_token(text:sub(emitted + 1), nil) end
  end
  return { ids = out_ids, text = text, prompt_tokens = n_prompt, stopped = stopped, reused_tokens = reused }
end

return llm
