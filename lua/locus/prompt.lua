-- locus.prompt: GroundingGPT's conversation templates.
--   inference (conv_lego, the default):
--     {system}###Human: {blocks}{question}###Assistant: {answer}###Human: ...###Assistant:
--   training (lego/train/train.py):
--     {system}\n\n### Human: {blocks}{question}\n### Assistant: {answer}\n### Human: ...\n### Assistant:
-- blocks: the modalities of the first turn, audio, then video, then image, each as
-- <X_start> + N <X_patch> + <X_end> + "\n" (N = 8, 64, 576).
local prompt = {}

prompt.SYSTEM = "A chat between a curious human and an artificial intelligence assistant. " ..
  "The assistant gives helpful, detailed, and polite answers to the human's questions."
prompt.STOP = "###"
prompt.TOKENS = {
  audio = { start = "<so_start>", patch = "<so_patch>", ["end"] = "<so_end>", count = 8 },
  video = { start = "<vi_start>", patch = "<vi_patch>", ["end"] = "<vi_end>", count = 64 },
  image = { start = "<im_start>", patch = "<im_patch>", ["end"] = "<im_end>", count = 576 },
}

-- The modalities in the order their blocks appear in a prompt.
prompt.ORDER = { "audio", "video", "image" }

-- The placeholder block of one modality.
function prompt.block(kind)
  local t = prompt.TOKENS[kind]
  return t.start .. t.patch:rep(t.count) .. t["end"] .. "\n"
end

-- opts: question, image/video/audio (truthy to include their block in the first turn),
-- history = {{question, answer}, ...} (earlier turns; the blocks go to the first of them),
-- template = "inference" | "training", system.
function prompt.build(opts)
  local blocks = ""
  for _, kind in ipairs(prompt.ORDER) do
    if opts[kind] then blocks = blocks .. prompt.block(kind) end
  end
  local turns = {}
  for _, qa in ipairs(opts.history or {}) do turns[#turns + 1] = { qa[1], qa[2] } end
  turns[#turns + 1] = { opts.question or "" }
  turns[1][1] = blocks .. turns[1][1]
  local system = opts.system or prompt.SYSTEM
  local parts = {}
  if (opts.template or "inference") == "training" then
    parts[1] = system .. "\n\n"
    for _, t in ipairs(turns) do
      parts[#parts + 1] = "### Human: " .. t[1] .. "\n### Assistant: "
      if t[2] then parts[#parts + 1] = t[2] .. "\n" end
    end
  elseif opts.template == nil or opts.template == "inference" then
    parts[1] = system .. "###"
    for _, t in ipairs(turns) do
      parts[#parts + 1] = "Human: " .. t[1] .. "###Assistant:"
      if t[2] then parts[#parts + 1] = " " .. t[2] .. "###" end
    end
  else
    error("prompt: unknown template '" .. tostring(opts.template) .. "' (inference, training)", 2)
  end
  return table.concat(parts)
end

return prompt
