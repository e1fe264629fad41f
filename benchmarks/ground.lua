-- One image-grounding request with GroundingGPT-7B's shapes, stage by stage: random weights in the
-- real layout (bf16 GroundingGPT-7B, f32 CLIP ViT-L/14-336), written once to build/ by
-- benchmarks/random_checkpoint.lua; the tokenizer is LLaMA's from ../shared/assets.
--   bin/locus run benchmarks/ground.lua [IMAGE]
-- Prints each stage's time, the peak resident memory, and CLIP's tower next to PyTorch's on the
-- same weights.
local ffi = require "ffi"
local root = locus.core.checkout_root
local shared = root .. "/../shared/assets/"
local model_dir, clip_dir = root .. "/build/bench-groundinggpt-7b", root .. "/build/bench-clip-l336"
local image_path = arg[1] or (shared .. "media/images/dog.jpeg")
local rc = dofile(root .. "/benchmarks/random_checkpoint.lua")

local clock = locus.clock
local function status(key)
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^" .. key .. ":%s+(%d+)")
    if kb then return tonumber(kb) / 1024 / 1024 end
  end
end
local function exists(p) local f = io.open(p); if f then f:close() end; return f ~= nil end

if not exists(shared .. "tokenizer/tokenizer.model") then error("needs ../shared/assets for LLaMA's tokenizer", 0) end
if not exists(model_dir .. "/config.json") then
  io.stderr:write("writing " .. model_dir .. " (13.5 GB)\n")
  rc.write(model_dir, rc.groundinggpt_7b(), { dtype = "bf16", config = [[{"model_type": "LEGO", "hidden_size": 4096,
 "intermediate_size": 11008, "num_attention_heads": 32, "num_hidden_layers": 32, "vocab_size": 32009,
 "rms_norm_eps": 1e-6, "max_position_embeddings": 2048, "bos_token_id": 1, "eos_token_id": 2,
 "mm_vision_tower": "../bench-clip-l336", "mm_vision_hidden_size": 1024, "mm_vision_select_layer": -2}]] })
  os.execute(("cp %stokenizer/tokenizer.model %s/"):format(shared, model_dir))
end
if not exists(clip_dir .. "/config.json") then
  io.stderr:write("writing " .. clip_dir .. " (1.2 GB)\n")
  rc.write(clip_dir, rc.clip_l336(), { dtype = "f32", std = 0.02, config = [[{"model_type": "clip_vision_model",
 "hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16, "num_hidden_layers": 24,
 "patch_size": 14, "image_size": 336, "layer_norm_eps": 1e-5, "hidden_act": "quick_gelu"}]] })
end

local t = {}
local t0 = clock()
local m = locus.load(model_dir, { max_context = 1024 })
t.load = clock() - t0
local t1 = clock()
local px, w, h = m:preprocess_image(image_path)
t.preprocess = clock() - t1
t1 = clock()
local feats = m:encode_image(px)
t.encode = clock() - t1
t1 = clock()
local rows = m:project_image(feats)
t.project = clock() - t1
t1 = clock()
local ids = m:input_ids(m:prompt { question = "Where is the dog? Answer with its position in [x0, y0, x1, y1] format.", image = true })
local x = m:splice(ids, { image = rows })
t.prompt = clock() - t1
local first, n = nil, 0
t1 = clock()
m.llm:generate { embeds = x, ids = ids, max_new_tokens = 32, stop = {}, on_token = function()
  n = n + 1
  first = first or clock()
end }
local t2 = clock()
t.prefill, t.decode = first - t1, t2 - first

local p = io.popen(("/usr/bin/python3 %s/benchmarks/clip_torch.py %s %d 2>/dev/null"):format(root, clip_dir, locus.num_threads()))
local torch_line = p:read("*a")
p:close()
local ok, torch_clip = pcall(require("cjson").decode, torch_line)

print(("machine: %s, %d threads; image %s (%dx%d); prompt %d tokens"):format(locus.cpu_features(), locus.num_threads(),
  image_path:match("[^/]+$"), w, h, #ids))
print("\n| stage | seconds |\n|---|---:|")
for _, k in ipairs { "load", "preprocess", "encode", "project", "prompt", "prefill", "decode" } do
  local label = k == "decode" and ("decode (%d tokens, %.2f tok/s)"):format(n - 1, (n - 1) / t.decode) or k
  print(("| %s | %.3f |"):format(label, t[k]))
end
print(("\npeak resident memory %.1f GB (mapped weights count as they are touched)"):format(status("VmHWM")))
if ok and torch_clip then
  print(("CLIP tower to layer -2: locus %.2f s, PyTorch %.2f s (ratio %.2f)"):format(t.encode, torch_clip.encode_s,
    torch_clip.encode_s / t.encode))
end
