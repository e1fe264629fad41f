-- locus.console: the interactive console (`locus` with no arguments).
-- Line editing and history through GNU readline loaded with the FFI (history in ~/.locus_history),
-- falling back to plain reads when readline is missing or input is not a terminal. Input that
-- does not parse yet because it is unfinished (an open `function`, `do`, string, ...) continues
-- on the next line; expressions print their values readably. Tab completes globals, table fields
-- and the methods of tensors and models; `?name` prints a function's signature and doc comment
-- (locus.introspect).
local ffi = require "ffi"
local show = require "locus.show"
local introspect = require "locus.introspect"
local repl = require "locus.repl"

local console = {}

require "locus.core" -- declares isatty, free and malloc
ffi.cdef [[
char *readline(const char *prompt);
void add_history(const char *line);
int read_history(const char *filename);
int write_history(const char *filename);
typedef char *locus_rl_compentry_func_t(const char *text, int state);
extern locus_rl_compentry_func_t *rl_completion_entry_function;
extern const char *rl_completer_word_break_characters;
extern int rl_completion_append_character;
]]

-- Word breaks for completion: readline's, less '.' and ':', so `locus.ten` is one word.
local WORD_BREAKS = ffi.new("char[?]", 32, " \t\n\"\\'`@$><=;|&{(,[+-*/%^~#")

-- Hands readline the completions of `complete(text)` (a list), one malloc'd string per call.
local function install_completion(rl, complete)
  local matches = {}
  local callback = ffi.cast("locus_rl_compentry_func_t *", function(text, state)
    if state == 0 then
      rl.rl_completion_append_character = 0 -- readline resets it to a space before every completion
      local ok, list = pcall(complete, ffi.string(text))
      matches = ok and list or {}
    end
    local m = matches[state + 1]
    if not m then return nil end
    local p = ffi.C.malloc(#m + 1) -- readline frees it
    ffi.copy(p, m)
    return p
  end)
  rl.rl_completion_entry_function = callback
  rl.rl_completer_word_break_characters = WORD_BREAKS
  return callback -- referenced by the reader, so it is never collected while readline may call it
end

local interactive = ffi.C.isatty(0) ~= 0

local function load_readline()
  if not interactive then return nil end
  for _, name in ipairs { "readline", "libreadline.so.8", "libreadline.so.7" } do
    local ok, lib = pcall(ffi.load, name)
    if ok then return lib end
  end
end

-- A function(prompt) -> line or nil (end of input), with readline when stdin is a terminal;
-- complete(text) -> {completions} (optional) serves the Tab key.
function console.line_reader(complete)
  local rl = load_readline()
  local home = os.getenv("HOME")
  local history = home and (home .. "/.locus_history")
  if rl then
    if history then rl.read_history(history) end
    local callback = complete and install_completion(rl, complete)
    return function(prompt)
      local _ = callback
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
  local read = console.line_reader(function(text) return introspect.complete(text, env) end)
  io.stdout:setvbuf("line") -- keep results and errors in order when both go to a pipe
  if interactive then
    print(("locus %s console — `locus`, `tensor` and `nn` are loaded; Tab completes, ?name shows a function's doc; "
      .. "Ctrl-D quits."):format(locus.version))
  end
  local buffer = nil
  while true do
    local line = read(buffer and ">> " or "locus> ")
    if line == nil then
      if interactive then print() end
      return 0
    end
    local asked = not buffer and line:match("^%s*%?%s*([%a_][%w_%.:]*)%s*$")
    buffer = buffer and (buffer .. "\n" .. line) or line
    if asked then -- ?name: the signature and doc of what name holds
      buffer = nil
      print((introspect.doc(asked, env)))
    elseif buffer:match("%S") then
      local fn, err = repl.compile(buffer, env)
      if fn then
        buffer = nil
        report(xpcall(fn, repl.traceback))
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
