-- locus.quantize: the dtype each tensor of a model gets when it is converted (`locus convert
-- --type`). A plain type (f32 … q6_k) applies to every 2-D float weight; "q4_k_m" is llama.cpp's
-- Q4_K_M mix (llama_tensor_get_type in its src/llama-quant.cpp, for a LLaMA without experts):
--   output.weight                 q6_k (token_embd.weight too when the embeddings are tied)
--   blk.N.attn_v, blk.N.ffn_down  q6_k in the layers use_more_bits picks, q4_k in the others
--   every other 2-D weight        q4_k
-- A matrix whose rows are not a multiple of 256 falls back to q8_0 (llama.cpp takes Q5_0, Q5_1
-- or Q8_0 there; locus has no Q5 types), or f16 when they are not a multiple of 32 either.
-- 1-D tensors (norms, biases) keep their dtype. Hugging Face names (model.layers.N.self_attn.
-- v_proj, mlp.down_proj, lm_head, embed_tokens) are recognized as their llama.cpp counterparts.
local quantize = {}

quantize.types = { "f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k", "q4_k_m" }
local plain = { f32 = 1, f16 = 1, bf16 = 1, q8_0 = 32, q4_0 = 32, q4_k = 256, q5_k = 256, q6_k = 256 }
local float_dtypes = { f32 = 1, f16 = 1, bf16 = 1, q8_0 = 1, q4_0 = 1, q4_k = 1, q5_k = 1, q6_k = 1 }

function quantize.is_type(name) return plain[name] ~= nil or name == "q4_k_m" end

-- llama.cpp's choice of the layers that keep more bits: the first and last eighth, and every third
-- one between them.
function quantize.use_more_bits(layer, n_layers)
  local eighth = math.floor(n_layers / 8)
  return layer < eighth or layer >= math.floor(7 * n_layers / 8) or (layer - eighth) % 3 == 2
end

local function role(name)
  if name == "output.weight" or name == "lm_head.weight" then return "output" end
  if name == "token_embd.weight" or name:match("embed_tokens%.weight$") then return "token_embd" end
  local layer = tonumber(name:match("^blk%.(%d+)%.") or name:match("layers%.(%d+)%."))
  if name:match("attn_v%.weight$") or name:match("self_attn%.v_proj%.weight$") then return "attn_v", layer end
  if name:match("ffn_down%.weight$") or name:match("mlp%.down_proj%.weight$") then return "ffn_down", layer end
  return "other", layer
end

local function q4_k_m(name, model)
  local r, layer = role(name)
  if r == "output" or (r == "token_embd" and model.tied) then return "q6_k" end
  if (r == "attn_v" or r == "ffn_down") and layer and quantize.use_more_bits(layer, model.n_layers) then return "q6_k" end
  return "q4_k"
end

-- The dtype of tensor `name` (stored as `dtype` with `shape`) under scheme `to`; model = {n_layers
-- = the layer count, tied = true when the model has no separate output matrix} (quantize.model).
function quantize.dtype_for(to, name, dtype, shape, model)
  if not to or not float_dtypes[dtype] or #shape ~= 2 then return dtype end
  local want = to == "q4_k_m" and q4_k_m(name, model) or to
  local cols = shape[2]
  if cols % plain[want] == 0 then return want end
  if to ~= "q4_k_m" then return dtype end -- a plain type that does not fit the rows: left as stored
  return cols % 32 == 0 and "q8_0" or "f16"
end

-- What dtype_for needs to know about a model, from its tensor names.
function quantize.model(names)
  local n, tied = 0, true
  for _, name in ipairs(names) do
    local _, layer = role(name)
    if layer then n = math.max(n, layer + 1) end
    if role(name) == "output" then tied = false end
  end
  return { n_layers = n, tied = tied }
end

return quantize
