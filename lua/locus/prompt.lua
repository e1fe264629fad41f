-- locus.prompt: GroundingGPT's conversation templates.
--   inference (conv_lego, the default):
--     {system}###Human: {blocks}{question}###Assistant: {answer}###Human: ...###Assistant:
--   training (lego/train/train.py):
--     {system}\n\n### Human: {blocks}{question}\n### Assistant: {answer}\n### Human: ...\n### Assistant:
-- blocks: the modalities of the first turn, audio, then video, then image, each as
-- <X_start> + N <X_patch> + <X_end> + "\n" (N = 8, 64, 576: GroundingGPT's sound_token_len,
-- video_token_len and image_token_len, which a model's config.json may set otherwise).
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

-- The placeholder block of one modality, of count patch tokens (the default's by default).
function prompt.block(kind, count)
  local t = prompt.TOKENS[kind]
  return t.start .. t.patch:rep(count or t.count) .. t["end"] .. "\n"
end

-- opts: question, image/video/audio (truthy to include their block in the first turn),
-- history = {{question, answer}, ...} (earlier turns; the blocks go to the first of them),
-- template = "inference" | "training", system, counts = {image = N, ...} (patch tokens per block).
-- Returns the text and the stretches of it that are the caller's words ({{i, j}, ...}, as
-- string.sub takes them: the questions, the answers, a given system line), which tokenizer:encode's
-- plain option keeps from being read as added tokens; only the template's blocks are markup.
function prompt.build(opts)
  local blocks = ""
  for _, kind in ipairs(prompt.ORDER) do
    if opts[kind] then blocks = blocks .. prompt.block(kind, opts.counts and opts.counts[kind]) end
  end
  local turns = {}
  for _, qa in ipairs(opts.history or {}) do turns[#turns + 1] = { qa[1], qa[2] } end
  turns[#turns + 1] = { opts.question or "" }
  local parts, plain, length = {}, {}, 0
  local function put(text, words) -- words: the caller's text
    if type(text) ~= "string" then error("prompt: questions, answers and the system line must be strings", 3) end
    parts[#parts + 1] = text
    if words and #text > 0 then plain[#plain + 1] = { length + 1, length + #text } end
    length = length + #text
  end
  local template = opts.template or "inference"
  if template ~= "inference" and template ~= "training" then
    error("prompt: unknown template '" .. tostring(opts.template) .. "' (inference, training)", 2)
  end
  local training = template == "training"
  put(opts.system or prompt.SYSTEM, opts.system ~= nil)
  put(training and "\n\n" or "###")
  for i, t in ipairs(turns) do
    put(training and "### Human: " or "Human: ")
    if i == 1 then put(blocks) end
    put(t[1], true)
    put(training and "\n### Assistant: " or "###Assistant:")
    if t[2] then
      if not training then put(" ") end
      put(t[2], true)
      put(training and "\n" or "###")
    end
  end
  return table.concat(parts), plain
end

return prompt
