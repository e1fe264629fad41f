-- locus.eval.refcoco: referring expression comprehension on RefCOCO, RefCOCO+ and RefCOCOg.
--
-- --data is either refer's folder for the dataset (lichengunc/refer: refs(unc).p, refs(umd).p or
-- refs(google).p, and instances.json) or a JSON-lines file:
--   Shikra's  {"img_path": "COCO_train2014_000000310289.jpg", "expression": "...",
--              "bbox": [x0, y0, x1, y1] (pixels), "height":, "width":}
--   COCO-style {"file_name": ..., "expression" | "sentence" | "answer": ..., "bbox": [x, y, w, h]}
-- (--box-format xyxy|xywh says which, where the image key does not). --images is the COCO
-- train2014 folder. One sample per sentence; its id is refer's sent_id (or the line's "id",
-- "question_id" or "sent_id", or "line N"). The prompt is the one GroundingGPT's authors say they
-- tested with (lzw-lzw/GroundingGPT issue #11); the answer's first box, mapped back from the
-- padded square to the photo, is scored against the ground truth (locus.eval.score).
local dataset = require "locus.eval.dataset"
local score = require "locus.eval.score"

local refcoco = {}

local VARIANTS = {
  refcoco = { refs = { "unc", "google" }, splits = { "val", "testA", "testB" } },
  ["refcoco+"] = { refs = { "unc" }, splits = { "val", "testA", "testB" } },
  refcocog = { refs = { "umd", "google" }, splits = { "val", "test" } },
}

refcoco.PROMPT = "Can you describe the region that corresponds to {text} in this image?"

local function refer_samples(name, dir, opts)
  local variant, refs_path = VARIANTS[name], nil
  for _, by in ipairs(opts.split_by and { opts.split_by } or variant.refs) do
    local p = ("%s/refs(%s).p"):format(dir, by)
    if dataset.exists(p) then
      refs_path = p
      break
    end
  end
  if not refs_path then
    error(("%s: no refs(%s).p (refer's layout: the folder of one dataset, e.g. data/%s)"):format(dir,
      table.concat(opts.split_by and { opts.split_by } or variant.refs, ").p or refs("), name), 0)
  end
  local instances_path = dir .. "/instances.json"
  local f, err = io.open(instances_path, "rb")
  if not f then error(("%s: cannot open: %s"):format(instances_path, err:gsub("^[^:]*: ", "")), 0) end
  local ok, instances = pcall(require("cjson").decode, f:read("*a"))
  f:close()
  if not ok or type(instances) ~= "table" then error(("%s: not JSON (%s)"):format(instances_path, instances), 0) end
  if type(instances.images) ~= "table" or type(instances.annotations) ~= "table" then
    error(("%s: no \"images\" and \"annotations\" lists (COCO's instances layout)"):format(instances_path), 0)
  end
  local images, boxes = {}, {}
  for i, im in ipairs(instances.images) do
    local where = ("%s: images[%d]"):format(instances_path, i)
    if type(im) ~= "table" or type(im.id) ~= "number" then error(where .. ": no numeric \"id\"", 0) end
    dataset.text_field(im, { "file_name" }, where)
    images[im.id] = im.file_name
  end
  for i, a in ipairs(instances.annotations) do
    local where = ("%s: annotations[%d]"):format(instances_path, i)
    if type(a) ~= "table" or type(a.id) ~= "number" then error(where .. ": no numeric \"id\"", 0) end
    boxes[a.id] = score.xywh_to_xyxy(dataset.numbers(a, "bbox", 4, where))
  end
  local refs = require("locus.pickle").load(refs_path)
  if type(refs) ~= "table" or (next(refs) ~= nil and refs[1] == nil) then
    error(refs_path .. ": not a list of refs", 0)
  end
  local wanted = {}
  for _, s in ipairs(opts.splits or variant.splits) do wanted[s] = true end
  local samples = {}
  for i, ref in ipairs(refs) do
    local where = ("%s: ref %d"):format(refs_path, i)
    if type(ref) ~= "table" then error(where .. ": not a dict", 0) end
    local split = dataset.text_field(ref, { "split" }, where)
    if wanted[split] then
      local file = images[ref.image_id]
      if not file then error(("%s: image_id %s is not in %s"):format(where, tostring(ref.image_id), instances_path), 0) end
      local truth = boxes[ref.ann_id]
      if not truth then error(("%s: ann_id %s is not in %s"):format(where, tostring(ref.ann_id), instances_path), 0) end
      if type(ref.sentences) ~= "table" then error(where .. ": no \"sentences\" list", 0) end
      for j, sent in ipairs(ref.sentences) do
        local w = ("%s, sentence %d"):format(where, j)
        if type(sent) ~= "table" then error(w .. ": not a dict", 0) end
        samples[#samples + 1] = { id = dataset.id(sent, { "sent_id" }, nil, w) or error(w .. ": no sent_id", 0),
          split = split, text = dataset.text_field(sent, { "sent", "raw" }, w),
          image = dataset.media_path(opts.media, file, instances_path), truth = truth, kind = "box" }
      end
    end
  end
  return samples
end

local function split_of_file(path)
  return path:match("_(testA)%.jsonl$") or path:match("_(testB)%.jsonl$") or path:match("_(val)%.jsonl$")
    or path:match("_(test)%.jsonl$")
end

local function jsonl_samples(name, path, opts)
  local wanted
  if opts.splits then
    wanted = {}
    for _, s in ipairs(opts.splits) do wanted[s] = true end
  end
  local file_split = split_of_file(path)
  local samples = {}
  for _, row in ipairs(dataset.read_jsonl(path)) do
    local v, where = row.value, ("%s:%d"):format(path, row.line)
    local split = v.split or file_split or "all"
    if type(split) ~= "string" then error(where .. ": \"split\" is not a string", 0) end
    if not wanted or wanted[split] then
      local file, key = dataset.text_field(v, { "img_path", "file_name", "image" }, where)
      local format = opts.box_format or (key == "img_path" and "xyxy") or (key == "file_name" and "xywh")
      if format ~= "xyxy" and format ~= "xywh" then
        error(("%s: is \"bbox\" [x0, y0, x1, y1] or [x, y, w, h]? say --box-format xyxy or xywh"):format(where), 0)
      end
      local bbox = dataset.numbers(v, "bbox", 4, where)
      samples[#samples + 1] = { id = dataset.id(v, { "id", "question_id", "sent_id" }, ("line %d"):format(row.line), where),
        split = split, text = dataset.text_field(v, { "expression", "sentence", "sent", "answer" }, where),
        image = dataset.media_path(opts.media, file, where), kind = "box",
        truth = format == "xywh" and score.xywh_to_xyxy(bbox) or bbox }
    end
  end
  return samples
end

-- The task named `name` (refcoco, refcoco+ or refcocog).
function refcoco.task(name)
  assert(VARIANTS[name], name)
  return {
    name = name,
    kind = "box",
    prompt = refcoco.PROMPT,
    splits = VARIANTS[name].splits,
    samples = function(opts)
      if not opts.data then error(name .. ": needs --data (refer's folder or a .jsonl file)", 0) end
      if dataset.is_dir(opts.data) then return refer_samples(name, opts.data, opts) end
      return jsonl_samples(name, opts.data, opts)
    end,
  }
end

return refcoco
