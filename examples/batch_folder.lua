-- Ask one question about every image of a folder; one JSON object per line.
--   bin/locus run examples/batch_folder.lua MODEL_DIR FOLDER "Where is the dog?" > answers.jsonl
local json = locus.json -- keys in a fixed order, always valid UTF-8
local model_dir, folder, question = arg[1], arg[2], arg[3]
if not (model_dir and folder and question) then
  io.stderr:write('usage: locus run examples/batch_folder.lua MODEL_DIR FOLDER "question" > answers.jsonl\n')
  return 2
end
local m = locus.load(model_dir) -- loaded once: weights stay mapped, the KV cache is reused
local p = io.popen("ls -1 '" .. folder:gsub("'", "'\\''") .. "'")
for name in p:lines() do
  if name:lower():match("%.jpe?g$") or name:lower():match("%.png$") then
    local ok, r = pcall(m.ground, m, { image = folder .. "/" .. name, question = question, max_new_tokens = 128 })
    if ok then
      local boxes = json.array()
      for i, b in ipairs(r.boxes) do boxes[i] = { phrase = b.phrase, box = { b.x0, b.y0, b.x1, b.y1 } } end
      print(json.encode(json.object({ file = name, text = r.text, boxes = boxes, seconds = r.timing.total_s },
        { "file", "text", "boxes", "seconds" })))
    else
      print(json.encode(json.object({ file = name, error = tostring(r) }, { "file", "error" })))
    end
    io.stdout:flush()
  end
end
p:close()
