-- locus.audio_branch: GroundingGPT's audio branch (LEGO.py's encode_audioQformer): ImageBind's
-- per-clip embeddings [clips, 1024] + audio_position_embedding rows 0 .. clips-1, the audio
-- Q-Former's 8 queries attending over them (2 layers, cross-attention in each, no LayerNorm on the
-- clips), and audio_llama_proj to the LLM's width: the 8 rows spliced between <so_start> and <so_end>.
--   local branch = locus.audio_branch.load(weights)               -- GroundingGPT's checkpoint
--   local rows = branch:forward(locus.audio.read("dog.flac"))     -- [8, 4096]
local imagebind = require "locus.imagebind"
local qformer = require "locus.qformer"
local nn = require "locus.nn"

local audio_branch = {}
local Branch = {}
Branch.__index = Branch

-- opts.imagebind_heads (12), opts.qformer_heads (12), opts.encoder: an already loaded
-- locus.imagebind encoder (from imagebind_huge.pth, say) instead of the checkpoint's own
function audio_branch.load(w, opts)
  opts = opts or {}
  for _, name in ipairs { "model.audio_position_embedding.weight", "model.audio_query_tokens", "model.audio_llama_proj.weight" } do
    if not w:has(name) then error("GroundingGPT audio branch: no " .. name .. " in these weights", 2) end
  end
  return setmetatable({
    encoder = opts.encoder or imagebind.load_audio(w, { heads = opts.imagebind_heads }),
    positions = w:get("model.audio_position_embedding.weight"):float(),
    qformer = qformer.load(w, { prefix = "model.audio_Qformer.bert.", queries = "model.audio_query_tokens",
      heads = opts.qformer_heads or 12 }),
    proj = nn.Linear.load(w, "model.audio_llama_proj.", { bias = true }),
  }, Branch)
end

-- ImageBind's embeddings of the clips [clips, E] -> the rows for the LLM [queries, D]
function Branch:from_embeddings(e)
  local clips = e:size(1)
  if clips > self.positions:size(1) then
    error(("GroundingGPT audio branch: %d clips, but %d audio position embeddings"):format(clips, self.positions:size(1)), 2)
  end
  local h = self.qformer:forward(e + self.positions:narrow(1, 1, clips))
  return self.proj:forward(h:view(h:size(2), h:size(3)))
end

-- filter banks [clips, 1, 128, 204] (locus.audio.read) -> [queries, D]; also returns the clip embeddings
function Branch:forward(fbank)
  local e = self.encoder:forward(fbank)
  return self:from_embeddings(e), e
end

return audio_branch
