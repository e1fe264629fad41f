-- locus.console: the interactive console (`locus` with no arguments).
-- Line editing and history through GNU readline loaded with the FFI (history in ~/.locus_history),
-- falling back to plain reads when readline is missing or input is not a terminal. Input that
-- does not parse yet because it is unfinished (an open `function`, `do`, string, ...) continues
-- on the next line; expressions print their values readably.
local ffi = require "ffi"
local show = require "locus.show"

local console = {}

require "locus.core" -- declares isatty and free
ffi.cdef [[
char *readline(const char *prompt);
void add_history(const char *line);
int read_history(const char *filename);
int write_history(const char *filename);
]]

local interactive = ffi.C.isatty(0) ~= 0

local function load_readline()
  if not interactive then return nil end
  for _, name in ipairs { "readline", "libreadline.so.8", "libreadline.so.7" } do
    local ok, lib = pcall(ffi.load, name)
    if ok then return lib end
  end
end

-- A function(prompt) -> line or nil (end of input), with readline when stdin is a terminal.
function console.line_reader()
  local rl = load_readline()
  local home = os.getenv("HOME")
  local history = home and (home .. "/.locus_history")
  if rl then
    if history then rl.read_history(history) end
    return function(prompt)
      local p = rl.readline(prompt)
      if p == nil then return nil end
      local s = ffi.string(p)
      ffi.C.free(p)
      if s:match("%S") then
        rl.add_history(s)
        if history then rl.write_history(history) end
      end
      return s
    end
  end
  return function(prompt)
    if interactive then -- piped input gets no prompts, so its output is just the results
      io.write(prompt)
      io.flush()
    end
    return io.read("*l")
  end
end

-- Compiles one input: as an expression first (so `x` prints x), then as statements.
-- Returns fn, or nil plus "incomplete" or an error message.
local function compile(src, env)
  local fn = loadstring("return " .. src, "=stdin")
  if not fn then
    local err
    fn, err = loadstring(src, "=stdin")
    if not fn then
      if err:match("<eof>'?$") then
        return nil, "incomplete"
      end
      return nil, err
    end
  end
  return setfenv(fn, env)
end

-- the traceback down to the input line, without the console's own frames
local function traceback(err)
  local tb = debug.traceback(tostring(err), 2)
  return (tb:gsub("\n%s*%[C%]: in function 'xpcall'.*$", ""))
end

local function report(ok, ...)
  if not ok then
    io.stderr:write(tostring((...)), "\n")
    return
  end
  for i = 1, select("#", ...) do print(show.value((select(i, ...)))) end
end

function console.run()
  local locus = require "locus"
  local env = setmetatable({ locus = locus, tensor = locus.tensor, nn = locus.nn }, { __index = _G })
  local read = console.line_reader()
  io.stdout:setvbuf("line") -- keep results and errors in order when both go to a pipe
  if interactive then
    print(("locus %s console — `locus`, `tensor` and `nn` are loaded; Ctrl-D quits."):format(locus.version))
  end
  local buffer = nil
  while true do
    local line = read(buffer and ">> " or "locus> ")
    if line == nil then
      if interactive then print() end
      return 0
    end
    buffer = buffer and (buffer .. "\n" .. line) or line
    if buffer:match("%S") then
      local fn, err = compile(buffer, env)
      if fn then
        buffer = nil
        report(xpcall(fn, traceback))
      elseif err ~= "incomplete" then
        buffer = nil
        io.stderr:write(err, "\n")
      end
    else
      buffer = nil
    end
  end
end

return console
