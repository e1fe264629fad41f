-- Sound in at GroundingGPT's shapes: three 2-s clips -> f32 [3, 1, 128, 204] filter banks, from a
-- 25-s 32 kHz FLAC (the shared dog.flac) and a one-hour 44.1 kHz WAV (written once to build/), next
-- to ImageBind's own preprocessing (torchaudio, tests/fixtures/reference.py) in the same run; then
-- the audio branch at GroundingGPT's shapes, the encoder next to PyTorch (benchmarks/imagebind_torch.py).
--   bin/locus run benchmarks/audio.lua
local root = locus.core.checkout_root
local long = root .. "/build/bench-1h-44k.wav"
local function exists(p) local f = io.open(p); if f then f:close() end; return f ~= nil end
if not exists(long) then
  io.stderr:write("writing " .. long .. " (one hour of noise and tones, 44.1 kHz 16-bit stereo)\n")
  assert(os.execute(("ffmpeg -v error -y -f lavfi -i 'sine=frequency=440:sample_rate=44100:duration=3600' " ..
    "-f lavfi -i 'anoisesrc=sample_rate=44100:duration=3600:amplitude=0.1' -filter_complex amix=inputs=2 -ac 2 -c:a pcm_s16le %s")
    :format(long)) == 0)
end

local function best_of(n, fn)
  local best = math.huge
  for _ = 1, n do
    local t0 = locus.clock()
    fn()
    best = math.min(best, locus.clock() - t0)
  end
  return best
end

local torch_script = [[
import sys, time
sys.path.insert(0, "%s/tests/fixtures")
import torch, reference
torch.set_num_threads(%d)
best = 1e9
for _ in range(3):
    t0 = time.perf_counter(); reference.read_audio("%s"); best = min(best, time.perf_counter() - t0)
print(best)
]]

local f
print(("%-34s %10s %12s %8s"):format("sound", "locus", "torchaudio", "ratio"))
for _, case in ipairs { { "dog.flac (25 s, 32 kHz, FLAC)", root .. "/../shared/assets/media/audio/dog.flac" },
  { "1 h, 44.1 kHz, stereo WAV", long } } do
  local name, path = case[1], case[2]
  local locus_s = best_of(3, function() locus.audio.read(path) end)
  f = io.popen(("/usr/bin/python3 - <<'EOF'\n%sEOF\n"):format(torch_script:format(root, locus.num_threads(), path)))
  local torch_s = tonumber(f:read("*a"))
  f:close()
  print(("%-34s %9.3fs %11s %8s"):format(name, locus_s, torch_s and ("%.3fs"):format(torch_s) or "n/a",
    torch_s and ("%.1fx"):format(torch_s / locus_s) or ""))
end

-- The audio branch at GroundingGPT's shapes (random bf16 weights, written once to
-- build/bench-audio-branch): ImageBind-huge's audio encoder on three clips, the audio Q-Former and
-- audio_llama_proj.
local rc = dofile(root .. "/benchmarks/random_checkpoint.lua")
local dir = root .. "/build/bench-audio-branch"
if not exists(dir .. "/model.safetensors") then
  io.stderr:write("writing " .. dir .. "\n")
  rc.write(dir, rc.audio_branch(), { dtype = "bf16", shard_bytes = 1e12 })
end
local branch = locus.audio_branch.load(locus.weights.open(dir))
local fbank = locus.audio.read(root .. "/../shared/assets/media/audio/dog.flac")
local clips
local encode_s = best_of(3, function() clips = branch.encoder:forward(fbank) end)
local rows
local adapt_s = best_of(3, function() rows = branch:from_embeddings(clips) end)
f = io.popen(("/usr/bin/python3 %s/benchmarks/imagebind_torch.py %d"):format(root, locus.num_threads()))
local torch_s = tonumber(f:read("*a"))
f:close()
print(("%-34s %9.3fs %11s %8s   (3 clips x 229 tokens, 12 blocks of width 768)"):format("ImageBind audio encoder", encode_s,
  torch_s and ("%.3fs"):format(torch_s) or "n/a", torch_s and ("%.1fx"):format(torch_s / encode_s) or ""))
print(("%-34s %9.3fs   -> [%d, %d]"):format("audio Q-Former + audio_llama_proj", adapt_s, rows:size(1), rows:size(2)))
