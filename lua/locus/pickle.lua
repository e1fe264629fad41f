-- locus.pickle: plain data out of a pickle file, read without Python and without executing it.
--   locus.pickle.load("refs(unc).p")  --> {{ref_id = 0, sentences = {...}, split = "train", ...}, ...}
-- The file goes through liblocus's restricted unpickler (csrc/formats/pickle.c), which allows no
-- global at all, and comes back as JSON text for lua-cjson: dicts become tables with string keys,
-- lists and tuples arrays, None cjson.null.
local core = require "locus.core"
local ffi = require "ffi"
local cjson = require "cjson"

local pickle = {}

function pickle.load(path)
  local len = ffi.new("size_t[1]")
  local text = core.C.locus_pickle_json(path, len)
  if text == nil then error(ffi.string(core.C.locus_last_error()), 2) end
  local ok, value = pcall(cjson.decode, ffi.string(text, len[0]))
  core.C.locus_text_free(text)
  if not ok then error(("%s: %s"):format(path, value), 2) end
  return value
end

return pickle
