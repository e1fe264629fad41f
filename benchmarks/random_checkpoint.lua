-- Random checkpoints with real shapes, for the benchmarks: safetensors written by hand (8-byte
-- header length, JSON header, data), values taken from one random block, sharded like HF's.
--   local rc = dofile(locus.core.checkout_root .. "/benchmarks/random_checkpoint.lua")
--   rc.write(dir, rc.groundinggpt_7b(), {dtype = "bf16"})
local ffi = require "ffi"
local T = locus.tensor

local M = {}

-- LLaMA-7B with GroundingGPT's 32009-token vocabulary and its image adapter.
function M.groundinggpt_7b()
  local list = { { "model.embed_tokens.weight", { 32009, 4096 } } }
  for l = 0, 31 do
    local p = "model.layers." .. l .. "."
    for _, t in ipairs {
      { "self_attn.q_proj.weight", { 4096, 4096 } }, { "self_attn.k_proj.weight", { 4096, 4096 } },
      { "self_attn.v_proj.weight", { 4096, 4096 } }, { "self_attn.o_proj.weight", { 4096, 4096 } },
      { "mlp.gate_proj.weight", { 11008, 4096 } }, { "mlp.up_proj.weight", { 11008, 4096 } },
      { "mlp.down_proj.weight", { 4096, 11008 } }, { "input_layernorm.weight", { 4096 } },
      { "post_attention_layernorm.weight", { 4096 } },
    } do
      list[#list + 1] = { p .. t[1], t[2] }
    end
  end
  for _, t in ipairs {
    { "model.norm.weight", { 4096 } }, { "model.mm_vision_projector.0.weight", { 4096, 1024 } },
    { "model.mm_vision_projector.0.bias", { 4096 } }, { "model.mm_vision_projector.2.weight", { 4096, 4096 } },
    { "model.mm_vision_projector.2.bias", { 4096 } }, { "lm_head.weight", { 32009, 4096 } },
  } do
    list[#list + 1] = t
  end
  return list
end

-- CLIP ViT-L/14 at 336 px, vision tower only.
function M.clip_l336()
  local p = "vision_model."
  local list = {
    { p .. "embeddings.patch_embedding.weight", { 1024, 3, 14, 14 } }, { p .. "embeddings.class_embedding", { 1024 } },
    { p .. "embeddings.position_embedding.weight", { 577, 1024 } }, { p .. "pre_layrnorm.weight", { 1024 } },
    { p .. "pre_layrnorm.bias", { 1024 } },
  }
  for l = 0, 23 do
    local q = p .. "encoder.layers." .. l .. "."
    for _, n in ipairs { "q_proj", "k_proj", "v_proj", "out_proj" } do
      list[#list + 1] = { q .. "self_attn." .. n .. ".weight", { 1024, 1024 } }
      list[#list + 1] = { q .. "self_attn." .. n .. ".bias", { 1024 } }
    end
    list[#list + 1] = { q .. "mlp.fc1.weight", { 4096, 1024 } }
    list[#list + 1] = { q .. "mlp.fc1.bias", { 4096 } }
    list[#list + 1] = { q .. "mlp.fc2.weight", { 1024, 4096 } }
    list[#list + 1] = { q .. "mlp.fc2.bias", { 1024 } }
    for _, n in ipairs { "layer_norm1", "layer_norm2" } do
      list[#list + 1] = { q .. n .. ".weight", { 1024 } }
      list[#list + 1] = { q .. n .. ".bias", { 1024 } }
    end
  end
  return list
end

-- a Q-Former's query path (BERT-base width) in LAVIS's layout
local function bert(add, prefix, layers, every, enc)
  add(prefix .. "embeddings.LayerNorm.weight", { 768 })
  add(prefix .. "embeddings.LayerNorm.bias", { 768 })
  for l = 0, layers - 1 do
    local p = prefix .. "encoder.layer." .. l .. "."
    local parts = { { "attention.", 768 } }
    if l % every == 0 then parts[2] = { "crossattention.", enc } end
    for _, part in ipairs(parts) do
      for _, n in ipairs { "query", "key", "value" } do
        add(p .. part[1] .. "self." .. n .. ".weight", { 768, n == "query" and 768 or part[2] })
        add(p .. part[1] .. "self." .. n .. ".bias", { 768 })
      end
      add(p .. part[1] .. "output.dense.weight", { 768, 768 })
      add(p .. part[1] .. "output.dense.bias", { 768 })
      add(p .. part[1] .. "output.LayerNorm.weight", { 768 })
      add(p .. part[1] .. "output.LayerNorm.bias", { 768 })
    end
    add(p .. "intermediate_query.dense.weight", { 3072, 768 })
    add(p .. "intermediate_query.dense.bias", { 3072 })
    add(p .. "output_query.dense.weight", { 768, 3072 })
    add(p .. "output_query.dense.bias", { 768 })
    add(p .. "output_query.LayerNorm.weight", { 768 })
    add(p .. "output_query.LayerNorm.bias", { 768 })
  end
end

-- GroundingGPT's video branch: EVA ViT-g (39 layers, 1408 wide), ln_vision, the BLIP-2 Q-Former
-- (BERT-base, 32 queries, cross-attention every 2nd layer), frame positions, the 2-layer video
-- Q-Former (64 queries) and llama_proj.
function M.video_branch()
  local list, v = {}, "model.visual_encoder."
  local function add(name, shape) list[#list + 1] = { name, shape } end
  add(v .. "patch_embed.proj.weight", { 1408, 3, 14, 14 })
  add(v .. "patch_embed.proj.bias", { 1408 })
  add(v .. "cls_token", { 1, 1, 1408 })
  add(v .. "pos_embed", { 1, 257, 1408 })
  for l = 0, 38 do
    local b = v .. "blocks." .. l .. "."
    for _, n in ipairs { "norm1", "norm2" } do
      add(b .. n .. ".weight", { 1408 })
      add(b .. n .. ".bias", { 1408 })
    end
    add(b .. "attn.qkv.weight", { 4224, 1408 })
    add(b .. "attn.q_bias", { 1408 })
    add(b .. "attn.v_bias", { 1408 })
    add(b .. "attn.proj.weight", { 1408, 1408 })
    add(b .. "attn.proj.bias", { 1408 })
    add(b .. "mlp.fc1.weight", { 6144, 1408 })
    add(b .. "mlp.fc1.bias", { 6144 })
    add(b .. "mlp.fc2.weight", { 1408, 6144 })
    add(b .. "mlp.fc2.bias", { 1408 })
  end
  add("model.ln_vision.weight", { 1408 })
  add("model.ln_vision.bias", { 1408 })
  bert(add, "model.Qformer.bert.", 12, 2, 1408)
  add("model.query_tokens", { 1, 32, 768 })
  add("model.video_frame_position_embedding.weight", { 64, 768 })
  bert(add, "model.video_Qformer.bert.", 2, 1, 768)
  add("model.video_query_tokens", { 1, 64, 768 })
  add("model.llama_proj.weight", { 4096, 768 })
  add("model.llama_proj.bias", { 4096 })
  return list
end

-- GroundingGPT's audio branch at its real shapes: ImageBind-huge's audio modality under
-- model.audio_encoder., the audio positions, the 2-layer audio Q-Former, audio_llama_proj.
function M.audio_branch()
  local list, p = {}, "model.audio_encoder."
  local function add(name, shape) list[#list + 1] = { name, shape } end
  add(p .. "modality_preprocessors.audio.cls_token", { 1, 1, 768 })
  add(p .. "modality_preprocessors.audio.rgbt_stem.proj.weight", { 768, 1, 16, 16 })
  add(p .. "modality_preprocessors.audio.rgbt_stem.norm_layer.weight", { 768 })
  add(p .. "modality_preprocessors.audio.rgbt_stem.norm_layer.bias", { 768 })
  add(p .. "modality_preprocessors.audio.pos_embedding_helper.pos_embed", { 1, 229, 768 })
  for l = 0, 11 do
    local b = p .. "modality_trunks.audio.blocks." .. l .. "."
    for _, n in ipairs { "norm_1", "norm_2" } do
      add(b .. n .. ".weight", { 768 })
      add(b .. n .. ".bias", { 768 })
    end
    add(b .. "attn.in_proj_weight", { 2304, 768 })
    add(b .. "attn.in_proj_bias", { 2304 })
    add(b .. "attn.bias_k", { 1, 1, 768 })
    add(b .. "attn.bias_v", { 1, 1, 768 })
    add(b .. "attn.out_proj.weight", { 768, 768 })
    add(b .. "attn.out_proj.bias", { 768 })
    add(b .. "mlp.fc1.weight", { 3072, 768 })
    add(b .. "mlp.fc1.bias", { 3072 })
    add(b .. "mlp.fc2.weight", { 768, 3072 })
    add(b .. "mlp.fc2.bias", { 768 })
  end
  add(p .. "modality_heads.audio.0.weight", { 768 })
  add(p .. "modality_heads.audio.0.bias", { 768 })
  add(p .. "modality_heads.audio.2.weight", { 1024, 768 })
  add("model.audio_position_embedding.weight", { 8, 1024 })
  bert(add, "model.audio_Qformer.bert.", 2, 1, 1024)
  add("model.audio_query_tokens", { 1, 8, 768 })
  add("model.audio_llama_proj.weight", { 4096, 768 })
  add("model.audio_llama_proj.bias", { 4096 })
  return list
end

-- Writes the tensors as safetensors shards (of at most opts.shard_bytes, default 10 GB) with an
-- index when there are several; opts.dtype "bf16" (default) or "f32"; opts.std scales the values.
function M.write(dir, list, opts)
  opts = opts or {}
  local dtype = opts.dtype or "bf16"
  local size_of = dtype == "f32" and 4 or 2
  os.execute("mkdir -p '" .. dir .. "'")
  local block = T.randn { 32 * 2 ^ 20, seed = opts.seed or 7, std = opts.std or 0.02, dtype = dtype }
  local block_bytes = block:nbytes()
  local shards, shard, size = {}, nil, 0
  for _, t in ipairs(list) do
    local n = size_of
    for _, d in ipairs(t[2]) do n = n * d end
    t.bytes = n
    if not shard or size + n > (opts.shard_bytes or 10e9) then
      shard = { tensors = {} }
      shards[#shards + 1] = shard
      size = 0
    end
    shard.tensors[#shard.tensors + 1] = t
    size = size + n
  end
  local index, pos = {}, 0
  for i, s in ipairs(shards) do
    local name = #shards == 1 and "model.safetensors" or ("model-%05d-of-%05d.safetensors"):format(i, #shards)
    local parts, off = {}, 0
    for _, t in ipairs(s.tensors) do
      parts[#parts + 1] = ('"%s":{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}'):format(t[1], dtype:upper(),
        table.concat(t[2], ","), off, off + t.bytes)
      off = off + t.bytes
      index[#index + 1] = ('"%s":"%s"'):format(t[1], name)
    end
    local header = "{" .. table.concat(parts, ",") .. "}"
    header = header .. (" "):rep((8 - #header % 8) % 8)
    local f = assert(io.open(dir .. "/" .. name, "wb"))
    f:write(ffi.string(ffi.new("uint64_t[1]", #header), 8), header)
    for _, t in ipairs(s.tensors) do
      local left = t.bytes
      while left > 0 do
        local start = pos % block_bytes
        local n = math.min(left, block_bytes - start)
        f:write(ffi.string(ffi.cast("char *", block:data()) + start, n))
        pos, left = pos + n, left - n
      end
    end
    f:close()
  end
  if #shards > 1 then
    local f = assert(io.open(dir .. "/model.safetensors.index.json", "w"))
    f:write('{"metadata":{},"weight_map":{', table.concat(index, ","), "}}\n")
    f:close()
  end
  if opts.config then
    local f = assert(io.open(dir .. "/config.json", "w"))
    f:write(opts.config)
    f:close()
  end
end

-- GroundingGPT-7B's image model (bf16) and CLIP ViT-L/14-336 (f32), written once to
-- ROOT/build/bench-groundinggpt-7b and ROOT/build/bench-clip-l336; LLaMA's tokenizer from
-- ../shared/assets. Returns the two directories.
function M.image_model(root)
  local shared = root .. "/../shared/assets/"
  local model_dir, clip_dir = root .. "/build/bench-groundinggpt-7b", root .. "/build/bench-clip-l336"
  local function exists(p) local f = io.open(p); if f then f:close() end; return f ~= nil end
  if not exists(shared .. "tokenizer/tokenizer.model") then error("needs ../shared/assets for LLaMA's tokenizer", 0) end
  if not exists(model_dir .. "/config.json") then
    io.stderr:write("writing " .. model_dir .. " (13.5 GB)\n")
    M.write(model_dir, M.groundinggpt_7b(), { dtype = "bf16", config = [[{"model_type": "LEGO", "hidden_size": 4096,
 "intermediate_size": 11008, "num_attention_heads": 32, "num_hidden_layers": 32, "vocab_size": 32009,
 "rms_norm_eps": 1e-6, "max_position_embeddings": 2048, "bos_token_id": 1, "eos_token_id": 2,
 "mm_vision_tower": "../bench-clip-l336", "mm_vision_hidden_size": 1024, "mm_vision_select_layer": -2}]] })
    os.execute(("cp %stokenizer/tokenizer.model %s/"):format(shared, model_dir))
  end
  if not exists(clip_dir .. "/config.json") then
    io.stderr:write("writing " .. clip_dir .. " (1.2 GB)\n")
    M.write(clip_dir, M.clip_l336(), { dtype = "f32", std = 0.02, config = [[{"model_type": "clip_vision_model",
 "hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16, "num_hidden_layers": 24,
 "patch_size": 14, "image_size": 336, "layer_norm_eps": 1e-5, "hidden_act": "quick_gelu"}]] })
  end
  return model_dir, clip_dir
end

-- A field of /proc/self/status in bytes (VmHWM: peak resident memory; RssFile: mapped files).
function M.proc_status(key)
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^" .. key .. ":%s+(%d+)")
    if kb then return tonumber(kb) * 1024 end
  end
end

return M
