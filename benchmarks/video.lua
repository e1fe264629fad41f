-- The video branch at GroundingGPT's shapes: picking 64 frames from a 10-minute 1080p video (next to
-- the ffmpeg CLI decoding the same frames), and EVA ViT-g + the two Q-Formers + llama_proj on 64
-- frames (random bf16 weights, written once to build/bench-video-branch).
--   bin/locus run benchmarks/video.lua
local root = locus.core.checkout_root
local clip = root .. "/build/bench-10min-1080p.mp4"
local rc = dofile(root .. "/benchmarks/random_checkpoint.lua")
local function exists(p) local f = io.open(p); if f then f:close() end; return f ~= nil end

if not exists(clip) then
  io.stderr:write("encoding " .. clip .. " (10 minutes of 1080p, H.264)\n")
  assert(os.execute(("ffmpeg -v error -y -f lavfi -i testsrc2=size=1920x1080:rate=25:duration=600 -c:v libx264 " ..
    "-preset ultrafast -g 250 -pix_fmt yuv420p %s"):format(clip)) == 0)
end
local t0 = locus.clock()
local info = locus.video.info(clip)
local frames, idx = locus.video.read(clip)
local locus_s = locus.clock() - t0

-- the ffmpeg CLI: the same 64 frames through its select filter (it decodes every frame to find them)
local sel = {}
for i, n in ipairs(idx) do sel[i] = "eq(n\\," .. n .. ")" end
t0 = locus.clock()
os.execute(("ffmpeg -v error -i %s -vf 'select=%s,scale=224:224' -vsync 0 -f rawvideo -pix_fmt rgb24 -y /dev/null")
  :format(clip, table.concat(sel, "+")))
local cli_s = locus.clock() - t0

local dir = root .. "/build/bench-video-branch"
if not exists(dir .. "/model.safetensors") then
  io.stderr:write("writing " .. dir .. "\n")
  rc.write(dir, rc.video_branch(), { dtype = "bf16", shard_bytes = 1e12 })
end
local w = locus.weights.open(dir)
local enc = locus.eva.load(w, { heads = 16 })
local q = locus.qformer.load(w, { heads = 12 })
local vq = locus.qformer.load(w, { prefix = "model.video_Qformer.bert.", queries = "model.video_query_tokens", heads = 12 })
local proj_w, proj_b = w:get("model.llama_proj.weight"), w:get("model.llama_proj.bias")
local pos = w:get("model.video_frame_position_embedding.weight")
local px = locus.video.preprocess(frames)
local t = {}
t0 = locus.clock()
local feats = enc:features(px)
t.eva = locus.clock() - t0
t0 = locus.clock()
local qo = q:forward(feats)
t.qformer = locus.clock() - t0
t0 = locus.clock()
local x = (qo + pos:narrow(1, 1, 64):float():view(64, 1, 768)):contiguous():view(1, 64 * 32, 768)
local rows = vq:forward(x):view(64, 768):linear(proj_w, proj_b)
t.video_qformer = locus.clock() - t0

print(("machine: %s, %d threads"):format(locus.cpu_features(), locus.num_threads()))
print(("\n10-minute 1080p H.264 (%d frames, %.0f s): 64 frames picked and squashed to 224 in %.2f s by locus, %.2f s by the ffmpeg CLI (ratio %.1f)")
  :format(info.frames, info.duration, locus_s, cli_s, cli_s / locus_s))
print(("\n64 frames: EVA ViT-g + ln_vision %.1f s, frame Q-Former %.2f s, video Q-Former + llama_proj %.2f s -> [%d, %d]")
  :format(t.eva, t.qformer, t.video_qformer, rows:size(1), rows:size(2)))
for line in io.lines("/proc/self/status") do
  local kb = line:match("^VmHWM:%s+(%d+)")
  if kb then print(("peak resident memory %.1f GB"):format(tonumber(kb) / 2 ^ 20)) end
end
