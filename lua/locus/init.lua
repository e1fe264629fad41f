-- locus: GroundingGPT on the CPU, scriptable from LuaJIT.
--   local locus = require "locus"
--   local x = locus.tensor.randn{2, 3, seed = 1}
local core = require "locus.core"
local ffi = require "ffi"

local locus = {
  core = core,
  tensor = require "locus.tensor",
  npy = require "locus.npy",
  nn = require "locus.nn",
  weights = require "locus.weights",
  gguf = require "locus.gguf",
  quantize = require "locus.quantize",
  convert = require "locus.convert",
  config = require "locus.config",
  json = require "locus.json",
  introspect = require "locus.introspect",
  utf8 = require "locus.utf8",
  tokenizer = require "locus.tokenizer",
  llm = require "locus.llm",
  image = require "locus.image",
  video = require "locus.video",
  audio = require "locus.audio",
  imagebind = require "locus.imagebind",
  audio_branch = require "locus.audio_branch",
  clip = require "locus.clip",
  eva = require "locus.eva",
  qformer = require "locus.qformer",
  prompt = require "locus.prompt",
  grounding = require "locus.grounding",
  pipeline = require "locus.pipeline",
  video_branch = require "locus.video_branch",
  groundinggpt = require "locus.models.groundinggpt",
  grad = require "locus.grad",
  train = require "locus.train",
}

-- A GroundingGPT model directory (see lua/locus/models/groundinggpt.lua): locus.load(dir, {vision_tower = DIR})
function locus.load(dir, opts) return locus.groundinggpt.load(dir, opts) end

locus.version = ffi.string(core.C.locus_version())
locus.clock = core.clock -- monotonic seconds

-- Writes text as the file `path`, whole or not at all (a crash leaves the old file or none).
function locus.write_text(path, text) core.check(core.C.locus_write_file(path, text, #text), "write_text") end

function locus.num_threads() return core.C.locus_num_threads() end
function locus.set_num_threads(n) core.check(core.C.locus_set_num_threads(n), "set_num_threads") end
function locus.cpu_features() return ffi.string(core.C.locus_cpu_features()) end
function locus.kernel_path() return ffi.string(core.C.locus_kernel_path()) end
function locus.set_kernel_path(name) core.check(core.C.locus_set_kernel_path(name), "set_kernel_path") end
-- "fast" (default): products with Q8_0/Q4_0/K-quant weights quantize the activations and multiply in
-- integers, as llama.cpp does; "bf16": fast, and bf16 weights multiply activations rounded to bf16
-- (CPUs with AVX512_BF16); "exact": f32 activations times the weights widened to f32
function locus.precision() return core.precision() end
function locus.set_precision(name) core.set_precision(name) end
return locus
