-- locus.imagebind: ImageBind's audio encoder (the "huge" model's audio modality), as GroundingGPT
-- runs it through Video-LLaMA's get_audio_feature: one 1024-d embedding per 2-s clip.
--   fbank [N, 1, 128, 204] -> Conv2d(1 -> C, 16 x 16, stride 10, no bias) -> [N, C, 12, 19]
--   -> 228 patch tokens (frequency-major) -> LayerNorm (eps 1e-5) -> [CLS; tokens] + pos_embed
--   -> 12 pre-LN blocks (LayerNorm eps 1e-6; nn.MultiheadAttention with add_bias_kv: a learned
--      key and value appended as a 230th position; GELU MLP)
--   -> LayerNorm(CLS) -> Linear(C -> 1024, no bias) -> L2-normalized x exp(log_logit_scale) (20)
--   local enc = locus.imagebind.load_audio(weights)       -- GroundingGPT's checkpoint or imagebind_huge.pth
--   local e = enc:forward(locus.audio.read("dog.flac"))  -- [3, 1024]
local tensor = require "locus.tensor"
local nn = require "locus.nn"

local imagebind = {}
local AudioEncoder = {}
AudioEncoder.__index = AudioEncoder

local function ln(w, name, eps) return nn.LayerNorm.load(w, name .. ".", { eps = eps }) end
local function linear(w, name) return nn.Linear.load(w, name .. ".", { bias = true }) end

-- opts.prefix: where ImageBind's keys start ("model.audio_encoder." in GroundingGPT's checkpoint,
-- "" in imagebind_huge.pth; found by itself when absent); opts.heads (12)
function imagebind.load_audio(w, opts)
  opts = opts or {}
  local prefix = opts.prefix
  if not prefix then
    for _, p in ipairs { "model.audio_encoder.", "audio_encoder.", "" } do
      if w:has(p .. "modality_trunks.audio.blocks.0.attn.in_proj_weight") then prefix = p break end
    end
    if not prefix then error("ImageBind audio: no modality_trunks.audio.blocks.0.attn.in_proj_weight in these weights", 2) end
  end
  local pre = w:sub(prefix .. "modality_preprocessors.audio.")
  local self = setmetatable({
    stem = pre:get("rgbt_stem.proj.weight"):float(), stem_ln = ln(pre, "rgbt_stem.norm_layer", 1e-5),
    cls = pre:get("cls_token"), pos = pre:get("pos_embedding_helper.pos_embed"),
    head_ln = ln(w, prefix .. "modality_heads.audio.0", 1e-6),
    head = nn.Linear.load(w, prefix .. "modality_heads.audio.2.", { bias = false }),
    heads = opts.heads or 12, blocks = {},
  }, AudioEncoder)
  local scale_name = prefix .. "modality_postprocessors.audio.1.log_logit_scale"
  self.scale = w:has(scale_name) and math.min(math.exp(w:get(scale_name):float():item()), 100) or 20
  local trunk = w:sub(prefix .. "modality_trunks.audio.")
  local i = 0
  while trunk:has("blocks." .. i .. ".attn.in_proj_weight") do
    local b = trunk:sub("blocks." .. i .. ".")
    self.blocks[i + 1] = {
      norm_1 = ln(b, "norm_1", 1e-6), norm_2 = ln(b, "norm_2", 1e-6),
      in_w = b:get("attn.in_proj_weight"), in_b = b:get("attn.in_proj_bias"),
      bias_k = b:get("attn.bias_k"), bias_v = b:get("attn.bias_v"),
      out = linear(b, "attn.out_proj"), fc1 = linear(b, "mlp.fc1"), fc2 = linear(b, "mlp.fc2"),
    }
    i = i + 1
  end
  self.width = self.stem:size(1)
  if self.width % self.heads ~= 0 then
    error(("ImageBind audio: width %d is not divisible by %d heads"):format(self.width, self.heads), 2)
  end
  return self
end

-- One block on x [T, C]: pre-LN attention with the appended bias key/value, then the MLP.
local function block(self, b, x)
  local t, c, heads = x:size(1), self.width, self.heads
  local qkv = b.norm_1:forward(x):linear(b.in_w, b.in_b)
  local q = qkv:narrow(2, 1, c):contiguous()
  local k = tensor.cat({ qkv:narrow(2, c + 1, c), b.bias_k:float():view(1, c) }, 1)
  local v = tensor.cat({ qkv:narrow(2, 2 * c + 1, c), b.bias_v:float():view(1, c) }, 1)
  local att = q:view(t, heads, c / heads):attention(k:view(t + 1, heads, c / heads), v:view(t + 1, heads, c / heads))
  x = x + b.out:forward(att:view(t, c))
  return x + b.fc2:forward(b.fc1:forward(b.norm_2:forward(x)):gelu())
end

-- The trunk's tokens of one clip's filter banks f32 [1, 128, 204]: [1 + patches, C], CLS first
function AudioEncoder:tokens(fbank)
  local f = fbank:contiguous()
  local x = f:view(1, 1, f:size(f:dim() - 1), f:size(f:dim())):conv2d(self.stem, nil, 10, 0)
  local n = x:size(3) * x:size(4)
  if n + 1 ~= self.pos:size(2) then
    error(("ImageBind audio: %d patches from [%s] filter banks, but %d position embeddings"):format(
      n, table.concat(fbank:shape(), ", "), self.pos:size(2) - 1), 2)
  end
  x = self.stem_ln:forward(x:view(self.width, n):transpose(1, 2):contiguous())
  x = tensor.cat({ self.cls:float():view(1, self.width), x }, 1) + self.pos:float():view(n + 1, self.width)
  for _, b in ipairs(self.blocks) do x = block(self, b, x) end
  return x
end

-- fbank [N, 1, 128, 204] (locus.audio.read's output) -> f32 [N, out]: each clip's CLS through the
-- head, L2-normalized and scaled (ImageBind's postprocessor)
function AudioEncoder:forward(fbank)
  if fbank:dim() ~= 4 then error("ImageBind audio: filter banks must be [clips, 1, mel, frames], got [" ..
    table.concat(fbank:shape(), ", ") .. "]", 2) end
  local rows = {}
  for i = 1, fbank:size(1) do
    local cls = self:tokens(fbank:select(1, i)):narrow(1, 1, 1)
    local e = self.head:forward(self.head_ln:forward(cls))
    local norm = math.sqrt((e * e):sum():item())
    rows[i] = e:scale(self.scale / math.max(norm, 1e-12))
  end
  return tensor.cat(rows, 1)
end

return imagebind
