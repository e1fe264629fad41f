-- locus.kernel.spec: the kernelspec that tells Jupyter how to start locus's kernel.
--   spec.install{user = true}      -- ~/.local/share/jupyter/kernels/locus/kernel.json
--   spec.install{prefix = "/usr/local"}  -- PREFIX/share/jupyter/kernels/locus (the default prefix)
-- The spec runs this locus command by its absolute path, so it keeps working from any directory.
local ffi = require "ffi"
local json = require "locus.json"

local spec = {}

pcall(ffi.cdef, "char *realpath(const char *path, char *resolved);") -- one declaration per pcall (bin/locus has it)
pcall(ffi.cdef, "void free(void *p);")

local function real(path)
  local p = ffi.C.realpath(path, nil)
  if p == nil then error(("kernel install: %s does not exist"):format(path), 0) end
  local s = ffi.string(p)
  ffi.C.free(p)
  return s
end

function spec.json(command)
  return json.encode(json.object({ argv = json.array { command, "kernel", "--connection-file", "{connection_file}" },
    display_name = "Lua (locus)", language = "lua", interrupt_mode = "signal", metadata = json.object {} },
    { "argv", "display_name", "language", "interrupt_mode", "metadata" })) .. "\n"
end

-- Writes the kernelspec; returns its directory. opts: user, prefix, command (the absolute path of
-- the locus command the spec runs; default: this one).
function spec.install(opts)
  local dir
  if opts.user then
    local data = os.getenv("XDG_DATA_HOME") or ((os.getenv("HOME") or error("kernel install: HOME is not set", 0)) .. "/.local/share")
    dir = data .. "/jupyter/kernels/locus"
  else
    dir = (opts.prefix or "/usr/local") .. "/share/jupyter/kernels/locus"
  end
  local command = opts.command or real(arg[0])
  if command:sub(1, 1) ~= "/" then error(("kernel install: --command must be an absolute path, not %s"):format(command), 0) end
  local quoted = "'" .. dir:gsub("'", "'\\''") .. "'"
  if os.execute("mkdir -p " .. quoted) ~= 0 then error(("kernel install: cannot create %s"):format(dir), 0) end
  local path = dir .. "/kernel.json"
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then error(("kernel install: cannot write %s: %s"):format(path, err), 0) end
  f:write(spec.json(command))
  f:close()
  assert(os.rename(tmp, path))
  return dir
end

return spec
