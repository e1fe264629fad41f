-- locus.train.fresh: a GroundingGPT image model in the real layout with fresh random weights, the
-- starting point for training one from scratch (examples/train_scenes.lua).
--
--   require("locus.train.fresh").groundinggpt{out = "scratch", tokenizer = "tokenizer.model",
--     llm = {hidden = 96, intermediate = 256, layers = 4, heads = 3},
--     tower = {hidden = 96, intermediate = 384, layers = 4, heads = 3}, seed = 1}
--
-- writes OUT/config.json (model_type LEGO, as GroundingGPT's), OUT/model.safetensors (LLaMA:
-- model.embed_tokens, model.layers.*, model.norm, lm_head; the adapter model.mm_vision_projector.{0,2}),
-- OUT/tokenizer.model with added_tokens.json (the nine modality tokens after the tokenizer's
-- vocabulary, as GroundingGPT adds them), and OUT/vision_tower/, a CLIPVisionModel directory, by
-- default at 336 px in 14 px patches (576 image tokens, as GroundingGPT's); tower.image_size and
-- tower.patch_size change that, and config.json's image_token_len follows.
-- Initialization (opts.init): "fan_in" by default, a matrix normal with std 1/sqrt(fan in) (the
-- last of a residual branch also 1/sqrt(2 layers), as GPT-2's), embeddings std 1; "transformers",
-- std 0.02 for all of them. Biases zero, norms one; CLIP's position embeddings a 2-D sine-cosine
-- table (fresh.sincos_positions). Weights are f32 (they train as f32 master copies anyway); the
-- same seed gives the same model on every machine.
local tensor = require "locus.tensor"
local weights = require "locus.weights"
local json = require "locus.json"

local fresh = {}

fresh.ADDED = { "<im_patch>", "<im_start>", "<im_end>", "<vi_patch>", "<vi_start>", "<vi_end>", "<so_patch>",
  "<so_start>", "<so_end>" }

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- a seed per tensor name, so that adding a tensor does not change the others
local function name_seed(base, name)
  local h = 2166136261
  for i = 1, #name do h = (bit.bxor(h, name:byte(i)) * 16777619) % 2 ^ 32 end
  return (h + base * 7919) % 2 ^ 31
end

local function whole(v, what, lo)
  if type(v) ~= "number" or v ~= math.floor(v) or v < lo then error(("fresh: %s must be a whole number >= %d"):format(what, lo), 3) end
  return v
end

local function sizes(s, what)
  if type(s) ~= "table" then error(("fresh: %s wants {hidden, intermediate, layers, heads}"):format(what), 3) end
  for _, k in ipairs { "hidden", "intermediate", "layers", "heads" } do whole(s[k], what .. "." .. k, 1) end
  if s.hidden % s.heads ~= 0 or (s.hidden / s.heads) % 2 ~= 0 or s.hidden % 4 ~= 0 then
    error(("fresh: %s.hidden (%d) must be a multiple of 4 that splits into %d heads of an even size"):format(what, s.hidden,
      s.heads), 3)
  end
  return s
end

-- The number of pieces of a sentencepiece model (its vocabulary before added tokens).
local function vocabulary(path)
  local tok = require("locus.tokenizer").load(path)
  return tok:vocab_size()
end

-- Positions of a side x side grid of patches after the class token, [1 + side^2, width]: the
-- class token's row zero, then MAE's fixed 2-D sine-cosine table (half the width for the row, half
-- for the column; sines then cosines of frequencies 10000^(-k / (width / 4))). Noise at std 0.02
-- would leave a patch's place a whisper under its content (~0.5), and a model learning from
-- scratch would first have to learn where things are before it could learn to say so.
function fresh.sincos_positions(side, width)
  local t = tensor.zeros({ side * side + 1, width })
  local p = require("ffi").cast("float *", t:data())
  local quarter = width / 4
  for r = 0, side - 1 do
    for c = 0, side - 1 do
      local row = p + (1 + r * side + c) * width
      for k = 0, quarter - 1 do
        local omega = 10000 ^ (-k / quarter)
        row[k], row[quarter + k] = math.sin(r * omega), math.cos(r * omega)
        row[2 * quarter + k], row[3 * quarter + k] = math.sin(c * omega), math.cos(c * omega)
      end
    end
  end
  return t
end

function fresh.groundinggpt(o)
  local llm, tower = sizes(o.llm, "llm"), sizes(o.tower, "tower")
  local seed = whole(o.seed or 1, "seed", 0)
  if type(o.out) ~= "string" or type(o.tokenizer) ~= "string" then error("fresh: need out and tokenizer", 2) end
  local out = o.out
  if os.execute("mkdir -p " .. quote(out .. "/vision_tower")) ~= 0 then error(("fresh: cannot create %s"):format(out), 2) end
  local base_vocab = vocabulary(o.tokenizer)
  local V, D, F, C, CF = base_vocab + #fresh.ADDED, llm.hidden, llm.intermediate, tower.hidden, tower.intermediate
  local P, S = tower.patch_size or 14, tower.image_size or 336
  if S % P ~= 0 then error(("fresh: tower.image_size (%d) must be a multiple of tower.patch_size (%d)"):format(S, P), 2) end
  local grid = (S / P) ^ 2

  -- "fan_in": std 1/sqrt(fan in) for a matrix (a residual branch's last one also 1/sqrt(2 layers), as
  -- GPT-2 scales them), 1 for embeddings; "transformers": 0.02 for every one of them
  local init = o.init or "fan_in"
  if init ~= "fan_in" and init ~= "transformers" then error(("fresh: init is fan_in or transformers, not %s"):format(tostring(init)), 2) end
  local function normal(name, shape, layers)
    local std = 0.02
    if init == "fan_in" then
      local fan_in = 1
      for i = 2, #shape do fan_in = fan_in * shape[i] end
      std = #shape == 1 and 1 or 1 / math.sqrt(fan_in) / math.sqrt(layers and 2 * layers or 1)
      if name == "embed" then std = 1 end
    end
    return tensor.randn(shape, { std = std, seed = name_seed(seed, name) })
  end
  local RESIDUAL_OUT = { ["self_attn.out_proj"] = true, ["mlp.fc2"] = true, ["self_attn.o_proj"] = true, ["mlp.down_proj"] = true }

  -- the CLIP tower (CLIPVisionModel's names)
  local cw = {}
  local function add(list, name, t) list[#list + 1] = { name, t } end
  add(cw, "vision_model.embeddings.patch_embedding.weight", normal("patch", { C, 3, P, P }))
  add(cw, "vision_model.embeddings.class_embedding", normal("class", { C }))
  add(cw, "vision_model.embeddings.position_embedding.weight", fresh.sincos_positions(S / P, C))
  add(cw, "vision_model.pre_layrnorm.weight", tensor.ones({ C }))
  add(cw, "vision_model.pre_layrnorm.bias", tensor.zeros({ C }))
  for i = 0, tower.layers - 1 do
    local p = ("vision_model.encoder.layers.%d."):format(i)
    for _, l in ipairs { { "self_attn.q_proj", C, C }, { "self_attn.k_proj", C, C }, { "self_attn.v_proj", C, C },
      { "self_attn.out_proj", C, C }, { "mlp.fc1", CF, C }, { "mlp.fc2", C, CF } } do
      add(cw, p .. l[1] .. ".weight", normal(p .. l[1], { l[2], l[3] }, RESIDUAL_OUT[l[1]] and tower.layers))
      add(cw, p .. l[1] .. ".bias", tensor.zeros({ l[2] }))
    end
    for _, n in ipairs { "layer_norm1", "layer_norm2" } do
      add(cw, p .. n .. ".weight", tensor.ones({ C }))
      add(cw, p .. n .. ".bias", tensor.zeros({ C }))
    end
  end
  add(cw, "vision_model.post_layernorm.weight", tensor.ones({ C }))
  add(cw, "vision_model.post_layernorm.bias", tensor.zeros({ C }))
  weights.save(out .. "/vision_tower/model.safetensors", cw, { format = "pt" })
  local clip_cfg = json.object({ model_type = "clip_vision_model", hidden_size = C, intermediate_size = CF,
    num_attention_heads = tower.heads, num_hidden_layers = tower.layers, patch_size = P, image_size = S,
    layer_norm_eps = 1e-5, hidden_act = "quick_gelu", num_channels = 3 }, { "model_type", "hidden_size",
    "intermediate_size", "num_attention_heads", "num_hidden_layers", "patch_size", "image_size", "layer_norm_eps",
    "hidden_act", "num_channels" })
  require("locus").write_text(out .. "/vision_tower/config.json", json.encode(clip_cfg) .. "\n")

  -- the LLaMA decoder and the adapter (LEGOLlamaForCausalLM's names)
  local w = {}
  add(w, "model.embed_tokens.weight", normal("embed", { V, D }))
  for i = 0, llm.layers - 1 do
    local p = ("model.layers.%d."):format(i)
    add(w, p .. "input_layernorm.weight", tensor.ones({ D }))
    for _, l in ipairs { { "self_attn.q_proj", D, D }, { "self_attn.k_proj", D, D }, { "self_attn.v_proj", D, D },
      { "self_attn.o_proj", D, D }, { "mlp.gate_proj", F, D }, { "mlp.up_proj", F, D }, { "mlp.down_proj", D, F } } do
      add(w, p .. l[1] .. ".weight", normal(p .. l[1], { l[2], l[3] }, RESIDUAL_OUT[l[1]] and llm.layers))
    end
    add(w, p .. "post_attention_layernorm.weight", tensor.ones({ D }))
  end
  add(w, "model.norm.weight", tensor.ones({ D }))
  add(w, "lm_head.weight", normal("lm_head", { V, D }))
  add(w, "model.mm_vision_projector.0.weight", normal("projector.0", { D, C }))
  add(w, "model.mm_vision_projector.0.bias", tensor.zeros({ D }))
  add(w, "model.mm_vision_projector.2.weight", normal("projector.2", { D, D }))
  add(w, "model.mm_vision_projector.2.bias", tensor.zeros({ D }))
  weights.save(out .. "/model.safetensors", w, { format = "pt" })

  local ids = {}
  for i, t in ipairs(fresh.ADDED) do ids[t] = base_vocab + i - 1 end
  local keys = {}
  for _, t in ipairs(fresh.ADDED) do keys[#keys + 1] = t end
  require("locus").write_text(out .. "/added_tokens.json", json.encode(json.object(ids, keys)) .. "\n")
  local src = assert(io.open(o.tokenizer, "rb"))
  require("locus").write_text(out .. "/tokenizer.model", src:read("*a"))
  src:close()
  local cfg = json.object({ model_type = "LEGO", architectures = json.array { "LEGOLlamaForCausalLM" },
    hidden_size = D, intermediate_size = F, num_attention_heads = llm.heads, num_key_value_heads = llm.heads,
    num_hidden_layers = llm.layers, vocab_size = V, rms_norm_eps = 1e-6, max_position_embeddings = 2048,
    bos_token_id = 1, eos_token_id = 2, pad_token_id = 0, tie_word_embeddings = false, torch_dtype = "float32",
    mm_vision_tower = "vision_tower", mm_vision_hidden_size = C, mm_vision_select_layer = -2,
    mm_use_im_start_end = true, image_token_len = grid, video_token_len = 64, sound_token_len = 8,
    video_patch_token = ids["<vi_patch>"], video_start_token = ids["<vi_start>"], video_end_token = ids["<vi_end>"],
    sound_patch_token = ids["<so_patch>"], sound_start_token = ids["<so_start>"], sound_end_token = ids["<so_end>"] },
    { "model_type", "architectures", "hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads",
      "num_hidden_layers", "vocab_size", "rms_norm_eps", "max_position_embeddings", "bos_token_id", "eos_token_id",
      "pad_token_id", "tie_word_embeddings", "torch_dtype", "mm_vision_tower", "mm_vision_hidden_size",
      "mm_vision_select_layer", "mm_use_im_start_end", "image_token_len", "video_token_len", "sound_token_len",
      "video_patch_token", "video_start_token", "video_end_token", "sound_patch_token", "sound_start_token",
      "sound_end_token" })
  require("locus").write_text(out .. "/config.json", json.encode(cfg) .. "\n")
  return out
end

return fresh
