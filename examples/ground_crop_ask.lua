-- Ground a phrase, crop the box it names, and ask the model about the crop.
--   bin/locus run examples/ground_crop_ask.lua MODEL_DIR IMAGE "the dog" ["What breed is it?"]
local model_dir, image_path, phrase, follow_up = arg[1], arg[2], arg[3], arg[4] or "Describe it in one sentence."
if not (model_dir and image_path and phrase) then
  io.stderr:write('usage: locus run examples/ground_crop_ask.lua MODEL_DIR IMAGE "phrase" ["question about it"]\n')
  return 2
end
local m = locus.load(model_dir)
local img = locus.image.read(image_path)
local question = ("Where is %s? Answer with its position in [x0, y0, x1, y1] format."):format(phrase)
local r = m:ground { image = img, question = question, max_new_tokens = 64 }
print("grounding: " .. r.text)
local box = r.boxes[1]
if not box then
  print("no box in the answer; nothing to crop")
  return 0
end
print(("box: [%d, %d, %d, %d] px"):format(box.x0, box.y0, box.x1, box.y1))
local crop = locus.image.crop(img, box)
locus.image.save("crop.png", crop)
local about = m:ground { image = crop, question = follow_up, max_new_tokens = 96 }
print("about the crop (saved as crop.png): " .. about.text)
