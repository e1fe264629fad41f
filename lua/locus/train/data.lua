-- locus.train.data: GroundingGPT's (LLaVA's) training data, read and tokenized as its
-- lego/train/train.py prepares it, so that a model trained here sees what it would see there.
--
--   local samples = data.load("train.json")     -- [{id, image, conversations = [{from, value}, ...]}]
--   local s = data.tokenize(samples[1], tokenizer, {max_length = 2048})
--   -- s.ids: the token ids (BOS first); s.labels: the same with -100 where no loss is taken
--
-- The text (preprocess_multimodal, then preprocess with conv_lego's "###" separators):
--   {system}\n\n### Human: <im_start><im_patch>*576<im_end>\n{question}\n### Assistant: {answer}\n### ...### 
-- an <image> is moved to the front of its turn, and the conversation ends in "### " (what teaches
-- the model to stop). Labels are masked as its _mask_targets does: the header, then each human
-- turn except its first two tokens. Its lengths come from tokenizing each piece on its own (BOS
-- included, unknown tokens not counted, as `ne(pad_token_id)` with pad = unk counts them), so the
-- mask drifts by a token per turn, exactly as GroundingGPT's does; that drift is part of what its
-- models learned, and is kept.
local json = require "locus.json"
local prompt = require "locus.prompt"

local data = {}

data.IGNORE_INDEX = -100

-- The samples of a LLaVA-style JSON file, each checked: an id, an optional image path, and a
-- conversation of human and gpt turns with at least one gpt turn. Errors name the file and sample.
function data.load(path)
  local f, err = io.open(path, "rb")
  if not f then error(("%s: cannot open: %s"):format(path, (err:gsub("^[^:]*: ", ""))), 0) end
  local ok, list = pcall(json.decode, f:read("*a"))
  f:close()
  if not ok then error(("%s: not JSON (%s)"):format(path, list), 0) end
  if type(list) ~= "table" or (next(list) ~= nil and list[1] == nil) then error(path .. ": not a list of samples", 0) end
  for i, s in ipairs(list) do
    data.check(s, ("%s: sample %d"):format(path, i))
  end
  return list
end

-- Why a sample cannot be trained on, or nil.
function data.problem(s)
  if type(s) ~= "table" then return "not an object" end
  if s.image ~= nil and type(s.image) ~= "string" then return "\"image\" is not a string" end
  local c = s.conversations
  if type(c) ~= "table" or c[1] == nil then return "no \"conversations\" list" end
  local answered = false
  for j, turn in ipairs(c) do
    if type(turn) ~= "table" or type(turn.value) ~= "string" or (turn.from ~= "human" and turn.from ~= "gpt") then
      return ("turn %d is not {\"from\": \"human\" | \"gpt\", \"value\": text}"):format(j)
    end
    answered = answered or turn.from == "gpt"
  end
  if not answered then return "no assistant (gpt) turn to learn from" end
  return nil
end

function data.check(s, where)
  local why = data.problem(s)
  if why then error(("%s%s: %s"):format(where, type(s) == "table" and s.id and (" (id " .. tostring(s.id) .. ")") or "", why), 0) end
end

-- The turns' texts as preprocess_multimodal and _add_speaker_and_signal leave them.
local function turns(s, count)
  local out = {}
  local image_block = prompt.block("image", count):sub(1, -2) -- without the block's "\n"
  for j, turn in ipairs(s.conversations) do
    local v = turn.value
    if s.image and v:find("<image>", 1, true) then
      v = "<image>\n" .. (v:gsub("<image>", ""):gsub("^%s+", ""):gsub("%s+$", ""))
    end
    v = v:gsub("<image>", image_block)
    out[j] = { speaker = turn.from, text = "### " .. (turn.from == "human" and "Human" or "Assistant") .. ": " .. v .. "\n" }
  end
  return out
end

-- The conversation in the template GroundingGPT asks its questions in (locus.prompt's "inference":
-- {system}###Human: {blocks}{question}###Assistant: {answer}###Human: ...), the loss on each answer
-- and the "###" after it (what teaches the model to stop), nothing else. Positions come from
-- encoding the text up to each boundary, and each must agree with the encoding of the whole, so
-- that what is learned is what `ground` will ask.
local function tokenize_inference(s, tokenizer, opts, where)
  local ts = turns(s, opts.image_tokens)
  local pieces, marks = { prompt.SYSTEM, "###" }, {}
  for _, t in ipairs(ts) do
    local v = t.text:match("^### %a+: (.*)\n$")
    if t.speaker == "human" then
      pieces[#pieces + 1] = "Human: " .. v .. "###Assistant:"
    else
      marks[#marks + 1] = #pieces -- the answer begins after piece #pieces
      pieces[#pieces + 1] = " " .. v .. "###"
      marks[#marks + 1] = #pieces
    end
  end
  local ids = tokenizer:encode(table.concat(pieces))
  local labels = {}
  for i = 1, #ids do labels[i] = data.IGNORE_INDEX end
  for k = 1, #marks, 2 do
    local from = #tokenizer:encode(table.concat(pieces, "", 1, marks[k]))
    local upto = tokenizer:encode(table.concat(pieces, "", 1, marks[k + 1]))
    for i, id in ipairs(upto) do
      if ids[i] ~= id then error(("%s: the answer's tokens depend on what follows it at token %d"):format(where, i), 0) end
      if i > from then labels[i] = id end
    end
  end
  local max = opts.max_length or 2048
  while #ids > max do ids[#ids], labels[#labels] = nil, nil end
  return { ids = ids, labels = labels, image = s.image }
end

-- {ids, labels, image} of a sample. tokenizer: the model's (locus.tokenizer, with its added tokens);
-- opts.max_length: GroundingGPT's model_max_length (2048 in its scripts); the conversation is cut
-- there. opts.image_tokens: the patch tokens of an image block (the model's image_token_len, 576).
-- opts.template: "training" (GroundingGPT's training text and mask, the default) or
-- "inference" (the text `locus ground` and GroundingGPT's demo ask in; for a model too small to
-- carry what it learns from one template over to the other, as the demo model is).
function data.tokenize(s, tokenizer, opts)
  opts = opts or {}
  if opts.template == "inference" then
    return tokenize_inference(s, tokenizer, opts, ("sample %s"):format(tostring(s.id)))
  elseif opts.template ~= nil and opts.template ~= "training" then
    error(("train: template is training or inference, not %s"):format(tostring(opts.template)), 0)
  end
  local header = prompt.SYSTEM .. "\n\n"
  local ts = turns(s, opts.image_tokens)
  local text = { header }
  for _, t in ipairs(ts) do text[#text + 1] = t.text end
  text[#text + 1] = "### "
  local ids = tokenizer:encode(table.concat(text))
  local max = opts.max_length or 2048
  while #ids > max do ids[#ids] = nil end
  local unk = tokenizer:id("<unk>")
  local function counted(piece) -- the length _tokenize_fn reports: BOS in, unknown tokens out
    local n = 0
    for _, id in ipairs(tokenizer:encode(piece)) do
      if id ~= unk then n = n + 1 end
    end
    return math.min(n, max)
  end
  local labels = {}
  for i, id in ipairs(ids) do labels[i] = id end
  local function mask(from, to) -- 0-based [from, to), as a torch slice
    for i = math.max(from, 0) + 1, math.min(to, #labels) do labels[i] = data.IGNORE_INDEX end
  end
  local cur = counted(header)
  mask(0, cur)
  for _, t in ipairs(ts) do
    local n = counted(t.text)
    if t.speaker == "human" then mask(cur + 2, cur + n) end
    cur = cur + n
  end
  return { ids = ids, labels = labels, image = s.image }
end

return data
