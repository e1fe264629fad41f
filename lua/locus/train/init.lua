-- locus.train: training a GroundingGPT model on image conversations, as its train.py does.
--
--   local locus = require "locus"
--   locus.train.run{model = "GroundingGPT-7B", data = "train.json", images = "coco", out = "stage1",
--                   trainable = {"model.mm_vision_projector.*"}, steps = 1000, lr = 1e-3, batch = 4}
--
-- A step: `batch` samples, each tokenized and masked as GroundingGPT's preprocess does
-- (locus.train.data), its photo padded and resized as at inference and encoded by the frozen CLIP
-- tower; the adapter (mm_vision_projector: Linear, GELU, Linear) makes its rows, which are spliced
-- over the <im_patch> tokens; the LLaMA decoder (locus.train.llama) gives the loss on the
-- assistant's tokens, whose gradient flows back through the decoder into the rows and the adapter.
-- The batch's loss is the mean over all its labelled tokens (as one padded batch in transformers).
-- Weights whose names match a `trainable` pattern ("*" any run of characters) train in f32 master
-- copies with AdamW (locus.train.optim); the rest stay frozen as stored. The vision tower's weights
-- (vision_model.*, of the model's CLIP directory) can train too (locus.train.vit); the trained tower
-- is written whole to OUT/vision_tower, and OUT/config.json points at it.
--
-- The output directory is a model directory: the original's config, tokenizer and weight files
-- (linked), and trained.safetensors with the trained weights, under an index that points to it;
-- `locus ground --model OUT` runs it. A checkpoint (the trained weights, AdamW's moments, the
-- step and the data order) is written every save_every steps and at the end, each file whole or
-- not at all, the state last; resume = true goes on from the last one.
local json = require "locus.json"
local tensor = require "locus.tensor"
local grad = require "locus.grad"
local weights = require "locus.weights"
local data = require "locus.train.data"
local llama = require "locus.train.llama"
local optim = require "locus.train.optim"
local core = require "locus.core"

local train = { data = data, llama = llama, optim = optim }

-- "model.mm_vision_projector.*" -> a Lua pattern matching whole names
local function glob(p) return "^" .. p:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".*") .. "$" end

function train.matches(name, patterns)
  for _, p in ipairs(patterns) do
    if name:match(glob(p)) then return true end
  end
  return false
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- A sample's problem before any compute, or nil: its data, its photo, its length.
local function sample_problem(s, t, opts, m)
  local why = data.problem(s)
  if why then return why end
  if s.image and not exists((opts.images or ".") .. "/" .. s.image) then
    return ("its image %s/%s is missing or unreadable"):format(opts.images or ".", s.image)
  end
  local has_block, im_end = false, m.tokenizer:id("<im_end>")
  for _, id in ipairs(t.ids) do has_block = has_block or id == im_end end
  if s.image and not has_block then return ("longer than the context: the image does not fit in %d tokens"):format(opts.max_length) end
  local labelled = 0
  for i = 2, #t.labels do if t.labels[i] ~= data.IGNORE_INDEX then labelled = labelled + 1 end end
  if labelled == 0 then return "no token to learn from within the context" end
  for _, turn in ipairs(s.conversations) do
    if turn.from == "gpt" then
      for _, p in ipairs(require("locus.grounding").parse(turn.value).problems) do
        if p.reason:match("outside") then return ("a box outside [0, 1] in an answer: %s"):format(p.text) end
      end
    end
  end
  return nil
end

-- The model directory `out` that points at the original's files and at trained.safetensors.
local function write_model_dir(out, model_dir, trained_names)
  if os.execute("mkdir -p " .. quote(out)) ~= 0 then error(("train: cannot create %s"):format(out), 0) end
  local src = model_dir:sub(1, 1) == "/" and model_dir or (os.getenv("PWD") .. "/" .. model_dir)
  local index = src .. "/model.safetensors.index.json"
  local map = {}
  if exists(index) then
    map = json.decode(io.open(index):read("*a")).weight_map
  else
    local w = weights.open(model_dir)
    for _, name in ipairs(w:names()) do map[name] = "model.safetensors" end
  end
  local files = {}
  for _, f in pairs(map) do files[f] = true end
  for f in pairs(files) do os.execute(("ln -sfn %s %s"):format(quote(src .. "/" .. f), quote(out .. "/" .. f))) end
  for _, f in ipairs { "tokenizer.model", "added_tokens.json", "tokenizer_config.json", "special_tokens_map.json" } do
    if exists(src .. "/" .. f) then os.execute(("ln -sfn %s %s"):format(quote(src .. "/" .. f), quote(out .. "/" .. f))) end
  end
  -- config.json as it is, but a vision tower named relative to the original is named from here
  local cfg = json.decode(io.open(src .. "/config.json"):read("*a"))
  local tower = cfg.mm_vision_tower
  if type(tower) == "string" and tower:sub(1, 1) ~= "/" and exists(src .. "/" .. tower .. "/config.json") then
    cfg.mm_vision_tower = src .. "/" .. tower
  end
  require("locus").write_text(out .. "/config.json", json.encode(cfg) .. "\n")
  for _, name in ipairs(trained_names) do map[name] = "trained.safetensors" end
  require("locus").write_text(out .. "/model.safetensors.index.json", json.encode { metadata = {}, weight_map = map } .. "\n")
end

-- xorshift32 order of n samples for an epoch, the same everywhere
local function order(n, seed, epoch)
  local s = bit.tobit((seed * 7919 + epoch * 104729) % 2147483647 + 1)
  local idx = {}
  for i = 1, n do idx[i] = i end
  for i = n, 2, -1 do
    s = bit.bxor(s, bit.lshift(s, 13)); s = bit.bxor(s, bit.rshift(s, 17)); s = bit.bxor(s, bit.lshift(s, 5))
    local j = 1 + (s % 4294967296) % i
    idx[i], idx[j] = idx[j], idx[i]
  end
  return idx
end

local Trainer = {}
Trainer.__index = Trainer

-- opts: model, data, images, out, trainable (patterns), steps, lr, batch (1), warmup (3% of the
-- steps, as GroundingGPT's scripts), weight_decay (0), clip (1.0), save_every (steps; 0: only at
-- the end), max_length (2048), seed (1), on_bad ("skip" or "refuse"), template ("training", as
-- GroundingGPT trains, or "inference", the text `ground` asks in: locus.train.data), resume,
-- progress (function)
function train.new(opts)
  local self = setmetatable({ opts = opts }, Trainer)
  opts.batch, opts.max_length, opts.seed = opts.batch or 1, opts.max_length or 2048, opts.seed or 1
  opts.on_bad = opts.on_bad or "skip"
  opts.template = opts.template or "training"
  if opts.template ~= "training" and opts.template ~= "inference" then
    error(("train: template is training or inference, not %s"):format(tostring(opts.template)), 0)
  end
  if opts.on_bad ~= "skip" and opts.on_bad ~= "refuse" then error("train: on_bad is skip or refuse", 0) end
  for _, k in ipairs { "steps", "batch", "max_length" } do
    local v = opts[k]
    if type(v) ~= "number" or v < 1 or v ~= math.floor(v) then error(("train: %s must be a whole number >= 1"):format(k), 0) end
  end
  if type(opts.lr) ~= "number" or not (opts.lr > 0) then error("train: lr must be a number > 0", 0) end
  if not (opts.trainable and opts.trainable[1]) then error("train: which weights train? (trainable patterns)", 0) end
  local locus = require "locus"
  self.m = locus.load(opts.model, { max_context = opts.max_length })
  local m = self.m
  opts.image_tokens = m.token_counts.image
  self.samples = data.load(opts.data)
  -- the weights that train, as f32 copies; the rest as stored
  self.params, self.grads, self.names = {}, {}, {}
  for _, name in ipairs(m.llm.weights:names()) do
    if train.matches(name, opts.trainable) then
      self.params[name] = m.llm.weights:get(name):float():clone()
      self.grads[name] = tensor.zeros(self.params[name]:shape())
      self.names[#self.names + 1] = name
    end
  end
  self.llm_names = { unpack(self.names) }
  -- the vision tower's weights (its CLIP directory) can train too: vision_model.* names
  self.tower_names = {}
  local tower_dir = m.tower_path and not m.tower_path:match(" %(vision_tower%)$") and m.tower_path or nil
  local tower_w = tower_dir and weights.open(tower_dir)
  for _, name in ipairs(tower_w and tower_w:names() or {}) do
    if train.matches(name, opts.trainable) then
      self.params[name] = tower_w:get(name):float():clone()
      self.grads[name] = tensor.zeros(self.params[name]:shape())
      self.tower_names[#self.tower_names + 1] = name
      self.names[#self.names + 1] = name
    end
  end
  if not tower_dir and train.matches("vision_model.embeddings.class_embedding", opts.trainable) then
    error(("train: %s carries its vision tower inside; train the tower of a model with a CLIP directory"):format(opts.model), 0)
  end
  if #self.names == 0 then error(("train: no weight of %s matches %s"):format(opts.model, table.concat(opts.trainable, ", ")), 0) end
  table.sort(self.names)
  table.sort(self.llm_names)
  table.sort(self.tower_names)
  local frozen = m.llm.weights
  self.get = function(name) return self.params[name] or frozen:get(name) end
  self.net = llama.new(m.llm.config, self.get)
  if #self.tower_names > 0 then
    self.tower_dir, self.tower_w = tower_dir, tower_w
    self.tower_cfg = require("locus.config").read_json(tower_dir .. "/config.json")
    self.vit = require("locus.train.vit").new(self.tower_cfg, function(name) return self.params[name] or tower_w:get(name) end,
      "vision_model.")
  end
  self.opt = optim.adamw { lr = opts.lr, weight_decay = opts.weight_decay or 0, clip = opts.clip == nil and 1.0 or opts.clip,
    warmup = opts.warmup or math.floor(0.03 * opts.steps + 0.5), steps = opts.steps }
  self.step, self.epoch, self.cursor, self.skipped = 0, 1, 0, {}
  self.order = order(#self.samples, opts.seed, 1)
  self.features = {} -- CLIP features per photo (the tower is frozen)
  if opts.on_bad == "refuse" then
    for i, s in ipairs(self.samples) do
      local why = sample_problem(s, data.tokenize(s, m.tokenizer, opts), opts, m)
      if why then error(("%s: sample %d (id %s): %s"):format(opts.data, i, tostring(s.id), why), 0) end
    end
  end
  if opts.resume then self:restore() end
  return self
end

function Trainer:next_sample()
  self.cursor = self.cursor + 1
  if self.cursor > #self.order then
    self.epoch, self.cursor = self.epoch + 1, 1
    self.order = order(#self.samples, self.opts.seed, self.epoch)
  end
  return self.samples[self.order[self.cursor]]
end

-- The next `batch` usable samples, tokenized (bad ones skipped and reported).
function Trainer:batch()
  local out, tries = {}, 0
  while #out < self.opts.batch do
    tries = tries + 1
    if tries > #self.samples + self.opts.batch then error(("train: no usable sample in %s"):format(self.opts.data), 0) end
    local s = self:next_sample()
    local t = data.tokenize(s, self.m.tokenizer, self.opts)
    local why = sample_problem(s, t, self.opts, self.m)
    if why then
      if not self.skipped[s] then
        self.skipped[s] = true
        io.stderr:write(("locus train: skipping sample %s: %s\n"):format(tostring(s.id), why))
      end
    else
      t.sample = s
      out[#out + 1] = t
    end
  end
  return out
end

local PROJECTOR = { "model.mm_vision_projector.0.weight", "model.mm_vision_projector.0.bias", "model.mm_vision_projector.2.weight",
  "model.mm_vision_projector.2.bias" }

-- The loss of one tokenized sample and (scaled by `scale`) its gradients, added into self.grads.
function Trainer:accumulate(t, scale)
  local m, get, grads = self.m, self.get, self.grads
  local ids = tensor.from(t.ids, "i64")
  local embed_name = m.llm.config.embed
  local x = get(embed_name):embedding(ids)
  local patch_at, proj
  if t.image then
    local path = (self.opts.images or ".") .. "/" .. t.image
    local feats, tower_saved = self.features[path], nil
    if self.vit then -- the tower learns: its activations are kept for its backward pass
      feats, tower_saved = self.vit:forward((m:preprocess_image(path)), m.select_layer)
    elseif not feats then
      feats = m:encode_image((m:preprocess_image(path)))
      self.features[path] = feats
    end
    local w0, b0, w2, b2 = get(PROJECTOR[1]), get(PROJECTOR[2]), get(PROJECTOR[3]), get(PROJECTOR[4])
    local h1 = feats:linear(w0, b0)
    local g = h1:gelu()
    local rows = g:linear(w2, b2)
    local im_start = m.tokenizer:id("<im_start>")
    for i, id in ipairs(t.ids) do
      if id == im_start then patch_at = i + 1 end
    end
    x:narrow(1, patch_at, rows:size(1)):copy(rows)
    proj = { feats = feats, h1 = h1, g = g, n = rows:size(1), tower = tower_saved }
  end
  -- the logits only where a label is: position i predicts token i + 1
  local rows, targets = {}, {}
  for i = 2, #t.labels do
    if t.labels[i] ~= data.IGNORE_INDEX then rows[#rows + 1], targets[#targets + 1] = i - 2, t.labels[i] end
  end
  local logits, saved = self.net:forward(x, tensor.from(rows, "i64"))
  local loss, d = grad.cross_entropy(logits, tensor.from(targets, "i64"))
  local dx = self.net:backward(saved, d * scale, grads)
  if proj then
    local drows = dx:narrow(1, patch_at, proj.n):contiguous()
    local dg = grad.linear(drows, proj.g, get(PROJECTOR[3]), { dw = grads[PROJECTOR[3]] or false, db = grads[PROJECTOR[4]] or false })
    local dh1 = grad.activation("gelu", dg, proj.h1)
    local dfeats = grad.linear(dh1, proj.feats, get(PROJECTOR[1]), { dw = grads[PROJECTOR[1]] or false,
      db = grads[PROJECTOR[2]] or false })
    if proj.tower then self.vit:backward(proj.tower, dfeats, grads) end
    dx:narrow(1, patch_at, proj.n):fill(0) -- the patch tokens' embeddings were replaced
  end
  if grads[embed_name] then grad.embedding(dx, ids, grads[embed_name]) end
  return loss
end

-- One optimizer step over a batch: {loss, tokens, norm, lr}
function Trainer:train_step()
  local batch = self:batch()
  local counts, total, tokens = {}, 0, 0
  for i, t in ipairs(batch) do
    local c = 0
    for j = 2, #t.labels do if t.labels[j] ~= data.IGNORE_INDEX then c = c + 1 end end
    counts[i], total, tokens = c, total + c, tokens + #t.ids
  end
  local loss = 0
  for i, t in ipairs(batch) do loss = loss + self:accumulate(t, counts[i] / total) * counts[i] / total end
  local norm, lr = self.opt:step(self.params, self.grads)
  self.step = self.step + 1
  return { loss = loss, tokens = tokens, norm = norm, lr = lr }
end

local function state_path(out) return out .. "/train_state.json" end

-- the trained weights in the model's layout, AdamW's moments, then the state (last, so that a
-- checkpoint is complete or absent)
function Trainer:save()
  local out = self.opts.out
  write_model_dir(out, self.opts.model, self.llm_names)
  if self.vit then -- the tower in its own layout, every tensor of it, beside the model
    if os.execute("mkdir -p " .. quote(out .. "/vision_tower")) ~= 0 then error(("train: cannot create %s/vision_tower"):format(out), 0) end
    local tower = {}
    for _, name in ipairs(self.tower_w:names()) do tower[#tower + 1] = { name, self.params[name] or self.tower_w:get(name) } end
    weights.save(out .. "/vision_tower/model.safetensors", tower, { format = "pt", step = tostring(self.step) })
    require("locus").write_text(out .. "/vision_tower/config.json", json.encode(self.tower_cfg) .. "\n")
    local cfg = json.decode(io.open(out .. "/config.json"):read("*a"))
    cfg.mm_vision_tower = "vision_tower"
    require("locus").write_text(out .. "/config.json", json.encode(cfg) .. "\n")
  end
  local trained, moments = {}, {}
  for _, name in ipairs(self.llm_names) do trained[#trained + 1] = { name, self.params[name] } end
  for _, name in ipairs(self.names) do
    local s = self.opt.state[name]
    if s then
      moments[#moments + 1] = { "m." .. name, s.m }
      moments[#moments + 1] = { "v." .. name, s.v }
    end
  end
  weights.save(out .. "/trained.safetensors", trained, { format = "pt", step = tostring(self.step) })
  if #moments > 0 then weights.save(out .. "/optimizer.safetensors", moments, { step = tostring(self.step) }) end
  require("locus").write_text(state_path(out), json.encode(json.object({ step = self.step, epoch = self.epoch,
    cursor = self.cursor, adam_t = self.opt.t, seed = self.opts.seed, trainable = json.array(self.opts.trainable),
    data = self.opts.data }, { "step", "epoch", "cursor", "adam_t", "seed", "trainable", "data" })) .. "\n")
end

function Trainer:restore()
  local path = state_path(self.opts.out)
  local f = io.open(path, "rb")
  if not f then error(("train: --resume, but %s has no checkpoint (train_state.json)"):format(self.opts.out), 0) end
  local st = json.decode(f:read("*a"))
  f:close()
  local w = weights.open(self.opts.out .. "/trained.safetensors")
  if tostring(w:metadata().step) ~= tostring(st.step) then
    error(("train: %s/trained.safetensors is of step %s, the state of step %s"):format(self.opts.out, tostring(w:metadata().step), st.step), 0)
  end
  local tw = self.vit and weights.open(self.opts.out .. "/vision_tower/model.safetensors")
  for _, name in ipairs(self.names) do
    local from = (tw and tw:has(name)) and tw or w
    if not from:has(name) then error(("train: the checkpoint in %s has no %s (other trainable patterns?)"):format(self.opts.out, name), 0) end
    self.params[name]:copy(from:get(name))
  end
  if st.adam_t > 0 then
    local mo = weights.open(self.opts.out .. "/optimizer.safetensors")
    for _, name in ipairs(self.names) do
      if mo:has("m." .. name) then
        self.opt.state[name] = { m = mo:get("m." .. name):clone(), v = mo:get("v." .. name):clone() }
      end
    end
  end
  self.step, self.epoch, self.cursor, self.opt.t = st.step, st.epoch, st.cursor, st.adam_t
  self.order = order(#self.samples, self.opts.seed, self.epoch)
end

-- Trains to opts.steps, checkpointing; progress(info) after every step.
function Trainer:run()
  local clock = core.clock
  local t0, start_step = clock(), self.step
  while self.step < self.opts.steps do
    local r = self:train_step()
    local done = self.step - start_step
    r.step, r.steps = self.step, self.opts.steps
    r.rate = (clock() - t0) / done
    r.eta = r.rate * (self.opts.steps - self.step)
    if self.opts.progress then self.opts.progress(r) end
    require("locus.progress").report("train", self.step, self.opts.steps)
    local every = self.opts.save_every or 0
    if (every > 0 and self.step % every == 0) or self.step == self.opts.steps then self:save() end
  end
  return self
end

function train.run(opts) return train.new(opts):run() end

return train
