-- locus.repl: reading Lua the way the console and the notebook kernel do.
--   local fn, err = repl.compile("x + 1", env)    -- an expression returns its values;
--                                                 -- err == "incomplete": more lines are needed
--   xpcall(fn, repl.traceback)
local repl = {}

-- Compiles one input: as an expression (so `x` shows x), then as statements whose last line is an
-- expression (`y = f(x)` then `y + 1` shows y + 1), then as statements. Returns fn (its
-- environment env), or nil plus "incomplete" or the error message.
-- An expression is evaluated as the arguments of a function that returns them, not as `return
-- f(x)`: that would be a tail call, and an error in f would lose the input's line.
local function returning(expr) return "return (function(...) return ... end)(" .. expr .. "\n)" end

function repl.compile(src, env, name)
  name = name or "=stdin"
  local fn = loadstring(returning(src), name)
  if not fn then
    local head, last = src:match("^(.*\n)%s*([^\n]-)%s*$")
    fn = head and last ~= "" and loadstring(head .. returning(last), name)
  end
  if not fn then
    local err
    fn, err = loadstring(src, name)
    if not fn then return nil, err:match("<eof>'?$") and "incomplete" or err end
  end
  return setfenv(fn, env)
end

-- The traceback down to the input, without the frames of the one who ran it (for xpcall).
function repl.traceback(err)
  local tb = debug.traceback(tostring(err), 2)
  return (tb:gsub("\n%s*%[C%]: in function 'xpcall'.*$", ""))
end

return repl
