-- locus.npy: NumPy .npy files, read and written by liblocus (csrc/formats/npy.c).
local core = require "locus.core"
local call = core.call -- C calls that keep their tensor arguments alive (locus.core)
local tensor = require "locus.tensor"
local C = core.C

local npy = {}

-- opts.mmap = true maps the file (copy-on-write) instead of reading it into memory.
function npy.load(path, opts)
  if type(path) ~= "string" then error("npy.load: path must be a string", 2) end
  local t = C.locus_npy_load(path, opts and opts.mmap and 1 or 0)
  if t == nil then core.fail("npy.load") end
  return tensor.wrap(t)
end

-- Writes a temporary file and renames it, so a failure never leaves a partial file.
function npy.save(path, t)
  if type(path) ~= "string" then error("npy.save: path must be a string", 2) end
  if not tensor.is_tensor(t) then t = tensor.from(t) end
  core.check(call(C.locus_npy_save, path, t), "npy.save")
end

return npy
