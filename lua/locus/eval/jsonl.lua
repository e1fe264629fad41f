-- locus.eval.jsonl: your own data, one sample per line of a JSON-lines file.
--   {"id": "q1", "image": "photos/dog.jpg", "question": "Where is the dog?", "box": [x0, y0, x1, y1]}
--   {"id": "q2", "video": "clips/jump.mp4", "question": "When does it jump?", "span": [t0, t1]}
-- "image", "video" or "audio" (any of them together) are paths relative to --media (by default the
-- file's folder); "box" is in pixels of the photo, "span" in seconds; "split" (optional) groups
-- the report; "id" defaults to "line N". The question is the prompt as it is (--prompt can wrap it:
-- "{text} Answer in [x0, y0, x1, y1] format.").
local dataset = require "locus.eval.dataset"

local function samples(opts)
  local path = opts.data or error("jsonl: needs --data FILE.jsonl", 0)
  local media = opts.media or path:match("^(.*)/[^/]*$") or "."
  local wanted
  if opts.splits then
    wanted = {}
    for _, s in ipairs(opts.splits) do wanted[s] = true end
  end
  local out = {}
  for _, row in ipairs(dataset.read_jsonl(path)) do
    local v, where = row.value, ("%s:%d"):format(path, row.line)
    local split = v.split or "all"
    if type(split) ~= "string" then error(where .. ": \"split\" is not a string", 0) end
    if not wanted or wanted[split] then
      local s = { id = dataset.id(v, { "id" }, ("line %d"):format(row.line), where), split = split,
        text = dataset.text_field(v, { "question" }, where) }
      for _, kind in ipairs { "image", "video", "audio" } do
        if v[kind] ~= nil then s[kind] = dataset.media_path(media, v[kind], where) end
      end
      if not (s.image or s.video or s.audio) then error(where .. ": no \"image\", \"video\" or \"audio\"", 0) end
      if v.box ~= nil and v.span ~= nil then error(where .. ": both \"box\" and \"span\"; one per sample", 0) end
      if v.box ~= nil then
        s.kind, s.truth = "box", dataset.numbers(v, "box", 4, where)
      elseif v.span ~= nil then
        s.kind, s.truth = "span", dataset.numbers(v, "span", 2, where)
      else
        error(where .. ": no reference \"box\" or \"span\"", 0)
      end
      out[#out + 1] = s
    end
  end
  return out
end

return { name = "jsonl", prompt = "{text}", samples = samples }
