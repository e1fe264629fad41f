-- lego: GroundingGPT on the CPU, scriptable from LuaJIT.
--   local lego = require "lego"
--   local x = lego.tensor.randn{2, 3, seed = 1}
local core = require "lego.core"
local ffi = require "ffi"

local lego = {
  core = core,
  tensor = require "lego.tensor",
  npy = require "lego.npy",
  nn = require "lego.nn",
  weights = require "lego.weights",
  gguf = require "lego.gguf",
  config = require "lego.config",
  tokenizer = require "lego.tokenizer",
  llm = require "lego.llm",
  image = require "lego.image",
  video = require "lego.video",
  audio = require "lego.audio",
  imagebind = require "lego.imagebind",
  audio_branch = require "lego.audio_branch",
  clip = require "lego.clip",
  eva = require "lego.eva",
  qformer = require "lego.qformer",
  prompt = require "lego.prompt",
  grounding = require "lego.grounding",
  groundinggpt = require "lego.groundinggpt",
}

-- A GroundingGPT model directory (see lego.groundinggpt): lego.load(dir, {vision_tower = DIR})
function lego.load(dir, opts) return lego.groundinggpt.load(dir, opts) end

lego.version = ffi.string(core.C.lego_version())
lego.clock = core.clock -- monotonic seconds

function lego.num_threads() return core.C.lego_num_threads() end
function lego.set_num_threads(n) core.check(core.C.lego_set_num_threads(n), "set_num_threads") end
function lego.cpu_features() return ffi.string(core.C.lego_cpu_features()) end
function lego.kernel_path() return ffi.string(core.C.lego_kernel_path()) end
function lego.set_kernel_path(name) core.check(core.C.lego_set_kernel_path(name), "set_kernel_path") end

return lego
