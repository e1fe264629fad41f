-- locus.convert: checkpoints to GGUF files (`locus convert`), written tensor by tensor: one converted
-- tensor in memory at a time, and the file appears under its name only when it is whole.
--
--   locus.convert.run("GroundingGPT-7B", "gg-q4_0.gguf", {type = "q4_0"})
--   locus.convert.run("GroundingGPT-7B", "gg.gguf", {type = "q4_k_m", encoders = "f16"})   -- or "bf16"
--   locus.convert.run("model.safetensors", "model.gguf", {type = "f16"})
--
-- Two kinds of source:
-- * A LLaMA-family model directory (config.json with model_type "llama", or GroundingGPT's "LEGO"):
--   one model file as llama.cpp's converter writes it — llama.cpp's tensor names, llama.* metadata,
--   the q and k rows permuted to its RoPE layout, the SentencePiece model as tokenizer.ggml.* — and
--   what GroundingGPT adds: the adapters and branches under their checkpoint names, the directory's
--   JSON files as text under locus.hf.* (config.json, and the tokenizer files that give the added
--   tokens), and with opts.encoders = "f16" (or "bf16") the encoders in that type: the CLIP tower (vision_tower.*, its
--   config.json under locus.vision_tower.config) and the checkpoint's own EVA and ImageBind; without
--   it, where the CLIP tower was found (locus.vision_tower.path, a hint for loading).
--   opts.type applies to the LLM's matrices; the rest keep their dtype. locus.load reads the file
--   as it reads the directory.
-- * Anything else (a checkpoint file, or another model's directory): every tensor under its own
--   name, GGUF metadata kept, opts.type applied to every 2-D float weight.
local C = require("locus.core").C
local config = require "locus.config"
local gguf = require "locus.gguf"
local quantize = require "locus.quantize"
local tokenizer = require "locus.tokenizer"
local weights = require "locus.weights"

local convert = {}

-- Where the LLaMA tensors of a Hugging Face checkpoint go in llama.cpp's naming.
local LAYER_NAMES = {
  ["input_layernorm.weight"] = "attn_norm.weight", ["self_attn.q_proj.weight"] = "attn_q.weight",
  ["self_attn.k_proj.weight"] = "attn_k.weight", ["self_attn.v_proj.weight"] = "attn_v.weight",
  ["self_attn.o_proj.weight"] = "attn_output.weight", ["post_attention_layernorm.weight"] = "ffn_norm.weight",
  ["mlp.gate_proj.weight"] = "ffn_gate.weight", ["mlp.up_proj.weight"] = "ffn_up.weight",
  ["mlp.down_proj.weight"] = "ffn_down.weight",
}
local TOP_NAMES = { ["model.embed_tokens.weight"] = "token_embd.weight", ["model.norm.weight"] = "output_norm.weight",
  ["lm_head.weight"] = "output.weight" }

-- The GGUF name of an HF LLaMA tensor, and "q" or "k" when its rows are permuted; nil for a tensor
-- that is not the LLM's.
local function llama_name(name)
  if TOP_NAMES[name] then return TOP_NAMES[name] end
  local layer, rest = name:match("^model%.layers%.(%d+)%.(.+)$")
  local mapped = rest and LAYER_NAMES[rest]
  if not mapped then return nil end
  return "blk." .. layer .. "." .. mapped, mapped == "attn_q.weight" and "q" or mapped == "attn_k.weight" and "k" or nil
end

-- llama.cpp's permute(w, heads): each head's rows from (two halves) to (pairs), the layout of its
-- interleaved RoPE.
local function permute_rows(w, heads)
  local rows, cols = w:size(1), w:size(2)
  return w:view(heads, 2, rows / heads / 2, cols):transpose(2, 3):reshape(rows, cols)
end

local function read_text(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return text
end

local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local p = io.popen("pwd")
  local cwd = p:read("*l")
  p:close()
  return cwd .. "/" .. path
end

local is_file = config.is_file

-- A directory holding a LLaMA-family model in Hugging Face's layout, or nil.
local function llama_directory(src)
  if is_file(src) then return nil end
  local cfg = config.load(src).config
  if not cfg then return nil end
  if cfg.model_type == "llama" or cfg.model_type == "LEGO" then return cfg end
  return nil
end

local ENCODER_PREFIXES = { "model.visual_encoder.", "model.audio_encoder." } -- EVA ViT-g, ImageBind

local function is_encoder(name)
  for _, p in ipairs(ENCODER_PREFIXES) do
    if name:sub(1, #p) == p then return true end
  end
  return false
end

local FLOATS = { f32 = true, f16 = true, bf16 = true }
local ENCODER_TYPES = { f16 = true, bf16 = true } -- f16 keeps more mantissa; bf16 is GroundingGPT's own, and fast on bf16 CPUs

local function need_number(cfg, key, where)
  local v = cfg[key]
  if type(v) ~= "number" or v ~= math.floor(v) or v <= 0 then
    error(("%s/config.json: %s must be a positive integer, not %s"):format(where, key, tostring(v)), 0)
  end
  return v
end

-- The plan and metadata of a LLaMA-family directory: {{name, dtype, shape, get = function}, ...};
-- get() returns the tensor to write and, when that is a copy, the checkpoint's tensor it came from.
local function model_plan(src, cfg, opts)
  local w = weights.open(src)
  local heads = need_number(cfg, "num_attention_heads", src)
  local kv_heads = cfg.num_key_value_heads and need_number(cfg, "num_key_value_heads", src) or heads
  local dim = need_number(cfg, "hidden_size", src)
  local plan, llm_names = {}, {}
  local infos = w:infos()
  for _, info in ipairs(infos) do
    local name = llama_name(info.name)
    if name then llm_names[#llm_names + 1] = name end
  end
  local model = quantize.model(llm_names)
  for _, info in ipairs(infos) do
    local name, perm = llama_name(info.name)
    local stored = info.dtype or info.stored_type
    local dtype = stored
    if name then
      dtype = quantize.dtype_for(opts.type, name, stored, info.shape, model)
    elseif not info.name:match("rotary_emb%.inv_freq$") then -- a buffer transformers recomputes
      name = info.name
      if opts.encoders and is_encoder(name) and FLOATS[stored] then dtype = opts.encoders end
    end
    if name then
      local src_name = info.name
      plan[#plan + 1] = { name, dtype, info.shape, get = function()
        local t = w:get(src_name)
        if perm then return permute_rows(t, perm == "q" and heads or kv_heads), t end
        return t
      end }
    end
  end

  local md = {
    ["general.architecture"] = "llama", ["general.name"] = src:gsub("/+$", ""):match("([^/]+)$"),
    ["llama.context_length"] = cfg.max_position_embeddings or 2048, ["llama.embedding_length"] = dim,
    ["llama.block_count"] = need_number(cfg, "num_hidden_layers", src),
    ["llama.feed_forward_length"] = need_number(cfg, "intermediate_size", src),
    ["llama.rope.dimension_count"] = dim / heads, ["llama.attention.head_count"] = heads,
    ["llama.attention.head_count_kv"] = kv_heads,
    ["llama.attention.layer_norm_rms_epsilon"] = cfg.rms_norm_eps or 1e-6,
    ["llama.rope.freq_base"] = cfg.rope_theta or 10000,
  }
  local types = { ["llama.attention.layer_norm_rms_epsilon"] = "f32", ["llama.rope.freq_base"] = "f32" }
  for k, v in pairs(md) do
    if type(v) == "number" and not types[k] then types[k] = "u32" end
  end
  if is_file(src .. "/tokenizer.model") then
    local tmd, ttypes = tokenizer.load(src .. "/tokenizer.model"):gguf_metadata()
    for k, v in pairs(tmd) do md[k], types[k] = v, ttypes[k] end
    for key, cfg_key in pairs { ["tokenizer.ggml.bos_token_id"] = "bos_token_id", ["tokenizer.ggml.eos_token_id"] = "eos_token_id" } do
      if type(cfg[cfg_key]) == "number" then md[key], types[key] = cfg[cfg_key], "u32" end
    end
    local tc = config.load(src).tokenizer_config or {} -- LlamaTokenizer adds BOS and not EOS unless told
    md["tokenizer.ggml.add_bos_token"] = tc.add_bos_token ~= false
    md["tokenizer.ggml.add_eos_token"] = tc.add_eos_token == true
  end
  -- the directory's own JSON files, as they are: the recipe's settings and the added tokens
  for key, file in pairs(config.files) do
    local text = read_text(src .. "/" .. file)
    if text then md["locus.hf." .. key] = text end
  end

  if cfg.mm_vision_tower and not opts.encoders then
    -- where the tower was found, as a hint for loading the file from elsewhere
    local ok, tower = pcall(require("locus.models.groundinggpt").find_tower, src, cfg, opts)
    if ok then md["locus.vision_tower.path"] = absolute(tower) end
  elseif cfg.mm_vision_tower then
    local tower = require("locus.models.groundinggpt").find_tower(src, cfg, opts)
    local tw = weights.open(tower)
    local prefix = tw:has("vision_model.embeddings.class_embedding") and "vision_model." or ""
    for _, info in ipairs(tw:infos()) do
      if info.name:sub(1, #prefix) == prefix then
        local stored = info.dtype or info.stored_type
        local src_name = info.name
        plan[#plan + 1] = { "vision_tower." .. src_name, FLOATS[stored] and opts.encoders or stored, info.shape,
          get = function() return tw:get(src_name) end }
      end
    end
    md["locus.vision_tower.config"] = read_text(tower .. "/config.json")
  end
  return plan, md, types
end

-- Any checkpoint: names and metadata kept.
local function file_plan(src, opts)
  local w = weights.open(src)
  local infos, names = w:infos(), {}
  for i, info in ipairs(infos) do names[i] = info.name end
  local model = quantize.model(names)
  local plan = {}
  for i, info in ipairs(infos) do
    local dtype = quantize.dtype_for(opts.type, info.name, info.dtype or info.stored_type, info.shape, model)
    local name = info.name
    plan[i] = { name, dtype, info.shape, get = function() return w:get(name) end }
  end
  if w:format() == "gguf" then return plan, nil, nil, w:metadata_json(), w:metadata_types_json() end
  return plan
end

-- Writes out from src; returns the number of tensors and whether the source was read as a model.
function convert.run(src, out, opts)
  opts = opts or {}
  if opts.type and not quantize.is_type(opts.type) then
    error(("convert: type must be one of %s, not '%s'"):format(table.concat(quantize.types, ", "), opts.type), 2)
  end
  if opts.encoders and not ENCODER_TYPES[opts.encoders] then error("convert: encoders must be \"f16\" or \"bf16\"", 2) end
  local cfg = llama_directory(src)
  local plan, md, types, md_json, types_json
  if cfg then
    plan, md, types = model_plan(src, cfg, opts)
  else
    plan, md, types, md_json, types_json = file_plan(src, opts)
  end
  local long = {}
  for _, p in ipairs(plan) do
    if p[2] == "bool" then p[2] = "i8" elseif p[2] == "u8" then p[2] = "i32" end -- GGUF has neither
    if #p[1] > weights.GGUF_NAME_LIMIT then -- stored shortened, listed whole (locus.weights)
      long[#long + 1] = p[1]
      p[1] = weights.gguf_name(p[1])
    end
  end
  if #long > 0 then
    if md_json then error(src .. ": a GGUF file with names longer than GGUF allows", 2) end
    md = md or {}
    md["locus.long_names"], types = long, types or {}
    types["locus.long_names"] = "array:string"
  end
  local w = gguf.writer(out, plan, { metadata = md or {}, types = types, metadata_json = md_json, types_json = types_json })
  -- Converted tensors are freed as we go: LuaJIT's collector does not see their size, so it is told
  -- after every 256 MB of them.
  local pending = 0
  for _, p in ipairs(plan) do
    local ok, err = pcall(function()
      local t, mapped = p.get() -- the tensor to write, and the mapped one it was made from
      local source = mapped or t
      if t:dtype() ~= p[2] or not t:is_contiguous() then
        t = t:to(p[2]):contiguous()
        pending = pending + t:nbytes()
      end
      w:add(t)
      C.locus_tensor_drop_pages(source.p) -- the mapped input is read once: its pages need not stay ours
    end)
    if not ok then
      w:abort()
      error(err, 0)
    end
    if pending > 256 * 2 ^ 20 then
      collectgarbage()
      pending = 0
    end
  end
  w:finish()
  return #plan, cfg ~= nil
end

return convert
