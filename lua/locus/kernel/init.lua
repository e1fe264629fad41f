-- locus.kernel: a Jupyter kernel for LuaJIT with locus loaded (messaging protocol 5.3).
--   locus kernel --connection-file F      (what Jupyter runs; `locus kernel install` registers it)
--
-- One Lua state for every cell: a global set in one cell (a model loaded, say) is there in the
-- next. Sockets (locus.kernel.zmq): shell, stdin and iopub here; heartbeat and control in a forked
-- helper (locus.kernel.helper) that answers while a cell runs. A cell's print and io.write become
-- `stream` messages as they come; what C libraries write to the file descriptors 1 and 2 is
-- collected and sent when the cell ends. The value of a cell's last expression is its
-- `execute_result`, shown by locus.kernel.display; errors carry the Lua traceback. SIGINT (what
-- Jupyter sends to interrupt) is let through only while a cell runs, and stops it with an error:
-- the kernel and what the cells built survive. io.read asks the frontend (input_request).
local ffi = require "ffi"
local cjson = require "cjson"
local json = require "locus.json"
local zmq = require "locus.kernel.zmq"
local wire = require "locus.kernel.wire"
local posix = require "locus.kernel.posix"
local helper = require "locus.kernel.helper"
local crypto = require "locus.kernel.crypto"

local C = posix.C

local kernel = {}

local LANGUAGE_INFO = { name = "lua", version = "5.1", mimetype = "text/x-lua", file_extension = ".lua",
  pygments_lexer = "lua", codemirror_mode = "lua" }

local function read_connection(path)
  local f, err = io.open(path, "rb")
  if not f then error(("kernel: cannot open the connection file %s: %s"):format(path, err), 0) end
  local ok, cfg = pcall(cjson.decode, f:read("*a"))
  f:close()
  if not ok or type(cfg) ~= "table" then error(("kernel: %s is not a JSON connection file"):format(path), 0) end
  for _, k in ipairs { "shell_port", "iopub_port", "stdin_port", "control_port", "hb_port" } do
    if type(cfg[k]) ~= "number" then error(("kernel: %s has no %s"):format(path, k), 0) end
  end
  cfg.transport, cfg.ip, cfg.key = cfg.transport or "tcp", cfg.ip or "127.0.0.1", cfg.key or ""
  return cfg
end

local function endpoint(cfg, port)
  if cfg.transport == "ipc" then return ("ipc://%s-%d"):format(cfg.ip, port) end
  return ("%s://%s:%d"):format(cfg.transport, cfg.ip, port)
end

local Kernel = {}
Kernel.__index = Kernel

function Kernel:log(msg) posix.write_fd(self.log_fd, ("[locus kernel] %s\n"):format(msg)) end

-- iopub: a message about the request being handled (self.parent)
function Kernel:publish(msg_type, content, parent)
  posix.block_sigint(true) -- a message is never cut in two by an interrupt
  zmq.send_frames(self.iopub, self.session:frames(msg_type, content, parent or self.parent, { msg_type }))
  posix.block_sigint(not self.running_cell)
end

function Kernel:reply(socket, request, msg_type, content)
  zmq.send_frames(socket, self.session:frames(msg_type, content, request, request.identities))
end

function Kernel:stream(name, text)
  if text == "" then return end
  if not self.parent then return posix.write_fd(self.log_fd, text) end
  self:publish("stream", { name = name, text = text })
end

-- what C wrote to stdout and stderr since the last look
function Kernel:drain_fds()
  C.fflush(nil)
  self:stream("stdout", posix.read_new(self.captured.stdout))
  self:stream("stderr", posix.read_new(self.captured.stderr))
end

-- The file descriptors 1 and 2 go to files the kernel reads back (liblocus, FFmpeg and oneDNN
-- write there; Jupyter reads nothing from a kernel's stdout).
function Kernel:capture_fds()
  self.log_fd = C.dup(2)
  self.captured = {}
  for fd, name in pairs { [1] = "stdout", [2] = "stderr" } do
    local path = posix.temp_file("locus-kernel-" .. name)
    local w = C.open(path, posix.O_WRONLY + posix.O_APPEND, 0)
    self.captured[name] = C.open(path, posix.O_RDONLY, 0)
    C.unlink(path)
    C.fflush(nil)
    C.dup2(w, fd)
    C.close(w)
  end
end

local function write_text(...)
  local parts = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    parts[i] = type(v) == "number" and ("%.14g"):format(v) or tostring(v)
  end
  return table.concat(parts)
end

-- io.read through the frontend: an input_request on the stdin channel, its input_reply's value
function Kernel:input(prompt, password)
  local req = self.parent
  if not (req and req.content.allow_stdin) then
    error("io.read: this frontend does not take input (allow_stdin is false)", 3)
  end
  self:drain_fds()
  zmq.send_frames(self.stdin, self.session:frames("input_request", { prompt = prompt or "", password = password or false },
    req, req.identities))
  while true do
    local ready = zmq.poll({ self.stdin }, -1)
    if ready[self.stdin] then
      local msg, why = self.session:decode(zmq.recv_frames(self.stdin))
      if not msg then
        self:log("dropped a message on the stdin channel: " .. why)
      elseif msg.header.msg_type == "input_reply" then
        return tostring(msg.content.value or "")
      end
    end
  end
end

-- The globals a cell sees: locus, tensor, nn, display; print, io.write, io.read and io.stdout /
-- io.stderr that talk to the notebook.
function Kernel:install_io()
  local k = self
  local function proxy(name)
    return {
      write = function(self, ...)
        k:drain_fds()
        k:stream(name, write_text(...))
        return self
      end,
      flush = function(self) return self end,
      setvbuf = function() return true end,
      close = function() return true end,
    }
  end
  _G.print = function(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
    k:drain_fds()
    k:stream("stdout", table.concat(parts, "\t") .. "\n")
  end
  io.stdout, io.stderr = proxy("stdout"), proxy("stderr")
  io.write = function(...) return io.stdout:write(...) end
  io.read = function(fmt)
    local text = k:input("")
    if fmt == "*n" or fmt == "n" then return tonumber(text) end
    return text
  end
  for _, f in ipairs { _G.print, io.write, io.read, io.stdout.write, io.stderr.write } do jit.off(f) end
end

-- display(value) shows a value as the cell's value would be shown; display(value, {id = "x"})
-- gives it an id, and display.update(value, "x") redraws it in place.
function Kernel:display_fn()
  local k = self
  local display = require "locus.kernel.display"
  local function show(v, opts)
    local transient = opts and opts.id and json.object { display_id = opts.id } or nil
    k:publish(opts and opts.update and "update_display_data" or "display_data", json.object({ data = display.bundle(v),
      metadata = json.object {}, transient = transient }, { "data", "metadata", "transient" }))
    return opts and opts.id
  end
  return setmetatable({ update = function(v, id) return show(v, { id = id, update = true }) end,
    register = display.register }, { __call = function(_, v, opts) return show(v, opts) end })
end

-- locus.progress reports as an HTML bar under the running cell, redrawn in place (at most every 0.2 s).
function Kernel:install_progress()
  local k = self
  local display = require "locus.kernel.display"
  local clock = require("locus.core").clock
  local current = {}
  local report = function(label, done, total)
    if not k.parent then return end
    local now = clock()
    local first = current.label ~= label or current.parent ~= k.parent
    if not first and now - current.t < 0.2 and done < total then return end
    if first then current = { label = label, parent = k.parent, id = crypto.uuid() } end
    current.t = now
    local pct = total > 0 and math.floor(100 * done / total + 0.5) or 0
    local html = ('<div><progress value="%d" max="%d"></progress> %s: %d/%d</div>'):format(done, math.max(total, 1),
      display.escape(label), done, total)
    local data = { ["text/plain"] = ("%s: %d/%d (%d%%)"):format(label, done, total, pct), ["text/html"] = html }
    k:publish(first and "display_data" or "update_display_data", json.object({ data = data, metadata = json.object {},
      transient = json.object { display_id = current.id } }, { "data", "metadata", "transient" }))
  end
  -- generated text streams into the cell as it comes
  local on_token = function(text) k:stream("stdout", text) end
  jit.off(report)
  jit.off(on_token)
  require("locus.progress").report, require("locus.pipeline").on_token = report, on_token
end

function Kernel:kernel_info()
  local locus = require "locus"
  return { status = "ok", protocol_version = wire.PROTOCOL_VERSION, implementation = "locus",
    implementation_version = locus.version, language_info = LANGUAGE_INFO,
    banner = ("locus %s: LuaJIT with locus, tensor, nn and display loaded (%s); doc/notebooks.md"):format(locus.version,
      jit.version), help_links = json.array {} }
end

-- Runs fn with SIGINT let through; an interrupt surfaces as an error inside it. LuaJIT notices a
-- signal only in its interpreter (a compiled loop never looks), so a cell and the functions it
-- defines run interpreted, as do the kernel's callbacks (streams, progress) that locus calls
-- token by token and sample by sample: an interrupt stops the cell at its next line or at the
-- next token, sample or stage of a locus call. Modules keep the compiler.
function Kernel:run_cell(fn)
  jit.off(fn, true)
  C.signal(posix.SIGINT, posix.SIG_IGN) -- forget an interrupt that came while idle
  if self.sigint_handler then C.signal(posix.SIGINT, self.sigint_handler) end
  local function body()
    self.running_cell = true
    posix.block_sigint(false)
    local out = { n = 0 }
    local function keep(...) out = { n = select("#", ...), ... } end
    keep(fn())
    posix.block_sigint(true)
    self.running_cell = false
    return out
  end
  local ok, res = xpcall(body, require("locus.repl").traceback)
  posix.block_sigint(true)
  self.running_cell = false
  debug.sethook() -- an interrupt that came as the cell ended
  return ok, res
end

local function error_parts(err)
  local text = tostring(err)
  local first = text:match("^[^\n]*")
  local interrupted = first:match("interrupted!$") ~= nil
  local lines = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    -- the kernel's own frames (the cell's runner) say nothing about the cell
    if not (line:find("locus/kernel/init.lua", 1, true) or line:match("^%s*%[C%]: in function 'fn'")) then
      lines[#lines + 1] = (line:gsub("^(%s*In %[%d+%]:%d+: in) function 'fn'$", "%1 the cell"))
    end
  end
  return interrupted and "Interrupted" or "LuaError", first, lines
end

function Kernel:execute(req)
  local c = req.content
  local code, silent = tostring(c.code or ""), c.silent == true
  local store = not silent and c.store_history ~= false
  if store then self.count = self.count + 1 end
  if not silent then self:publish("execute_input", { code = code, execution_count = self.count }) end
  local fn, err = require("locus.repl").compile(code, self.env, ("=In [%d]"):format(self.count))
  local ok, res
  if fn then
    ok, res = self:run_cell(fn)
  else
    ok, res = false, err == "incomplete" and ("In [%d]: unexpected end of the cell"):format(self.count) or err
  end
  self:drain_fds()
  if ok then
    if res.n > 0 and not silent and not (res.n == 1 and res[1] == nil) then
      local value = res[1]
      local data
      local shown, bundle = pcall(require("locus.kernel.display").bundle, value)
      if res.n == 1 and shown then
        data = bundle
      else
        local texts = {}
        for i = 1, res.n do texts[i] = require("locus.show").value(res[i]) end
        data = { ["text/plain"] = table.concat(texts, "\t") }
        if not shown then self:stream("stderr", "display: " .. tostring(bundle) .. "\n") end
      end
      self:publish("execute_result", json.object({ execution_count = self.count, data = data, metadata = json.object {} },
        { "execution_count", "data", "metadata" }))
    end
    return { status = "ok", execution_count = self.count, user_expressions = json.object {}, payload = json.array {} }
  end
  local ename, evalue, tb = error_parts(res)
  self:publish("error", { ename = ename, evalue = evalue, traceback = json.array(tb) })
  return { status = "error", execution_count = self.count, ename = ename, evalue = evalue, traceback = json.array(tb) }
end

-- the identifier path (a.b:c) that ends at byte `at` of code, and where it starts
local function path_before(code, at)
  local head = code:sub(1, at)
  local path = head:match("[%a_][%w_%.:]*$") or ""
  return path, at - #path
end

-- a cursor position in code points (Jupyter counts characters) -> bytes
local function byte_offset(code, cursor)
  if type(cursor) ~= "number" then return #code end
  local n = 0
  for i = 1, #code do
    local b = code:byte(i)
    if b < 0x80 or b >= 0xc0 then -- a character starts here
      if n == cursor then return i - 1 end
      n = n + 1
    end
  end
  return #code
end

function Kernel:complete(c)
  local code = tostring(c.code or "")
  local at = byte_offset(code, c.cursor_pos)
  local path, start = path_before(code, at)
  local matches = path ~= "" and require("locus.introspect").complete(path, self.env) or {}
  local cursor = type(c.cursor_pos) == "number" and c.cursor_pos or #code
  return { status = "ok", matches = json.array(matches), cursor_start = cursor - (at - start), cursor_end = cursor,
    metadata = json.object {} }
end

function Kernel:inspect(c)
  local code = tostring(c.code or "")
  local at = byte_offset(code, c.cursor_pos)
  local path = path_before(code, at) .. (code:sub(at + 1):match("^[%w_]*") or "")
  path = path:gsub("[%.:]$", "")
  local doc, found
  if path ~= "" then doc, found = require("locus.introspect").doc(path, self.env) end
  return { status = "ok", found = found == true, data = found and { ["text/plain"] = doc } or json.object {},
    metadata = json.object {} }
end

function Kernel:is_complete(c)
  local fn, err = require("locus.repl").compile(tostring(c.code or ""), {})
  if fn then return { status = "complete" } end
  if err == "incomplete" then return { status = "incomplete", indent = "" } end
  return { status = "invalid" }
end

-- Handles one request from socket (shell, or control through the helper); false to stop.
function Kernel:handle(socket, frames)
  local msg, why = self.session:decode(frames)
  if not msg then
    self:log(("dropped a message: %s"):format(why))
    return true
  end
  local t, c = msg.header.msg_type, msg.content
  self.parent = msg
  self:publish("status", { execution_state = "busy" })
  local keep = true
  if t == "kernel_info_request" then
    self:reply(socket, msg, "kernel_info_reply", self:kernel_info())
  elseif t == "execute_request" then
    self:reply(socket, msg, "execute_reply", self:execute(msg))
  elseif t == "complete_request" then
    self:reply(socket, msg, "complete_reply", self:complete(c))
  elseif t == "inspect_request" then
    self:reply(socket, msg, "inspect_reply", self:inspect(c))
  elseif t == "is_complete_request" then
    self:reply(socket, msg, "is_complete_reply", self:is_complete(c))
  elseif t == "comm_info_request" then
    self:reply(socket, msg, "comm_info_reply", { status = "ok", comms = json.object {} })
  elseif t == "history_request" then
    self:reply(socket, msg, "history_reply", { status = "ok", history = json.array {} })
  elseif t == "shutdown_request" then
    self:reply(socket, msg, "shutdown_reply", { status = "ok", restart = c.restart == true })
    keep = false
  elseif t == "comm_open" then -- no comm targets: close it, as the protocol asks
    self:publish("comm_close", { comm_id = c.comm_id, data = json.object {} })
  elseif not t:match("^comm_") then
    self:log(("no handler for %s"):format(t))
  end
  self:publish("status", { execution_state = "idle" })
  self.parent = nil
  return keep
end

-- Runs the kernel until a shutdown_request; returns the exit status.
function kernel.run(connection_file)
  local cfg = read_connection(connection_file)
  local session = wire.session(cfg.key, cfg.signature_scheme)
  local relay = ("ipc:///tmp/locus-kernel-%d-%s"):format(C.getpid(), crypto.uuid():sub(1, 8))
  local parent = C.getpid()
  local log_fd = C.dup(2)
  local function log(m) posix.write_fd(log_fd, ("[locus kernel] %s\n"):format(m)) end
  posix.block_sigint(true) -- from here on, SIGINT only interrupts cells
  local pid = C.fork()
  if pid < 0 then error("kernel: fork failed", 0) end
  if pid == 0 then helper.run({ hb = endpoint(cfg, cfg.hb_port), control = endpoint(cfg, cfg.control_port) }, session, relay, parent, log) end

  local self = setmetatable({ session = session, count = 0, helper = pid, running_cell = false }, Kernel)
  -- luajit's own SIGINT handler (it raises "interrupted!" in the running Lua code); a kernel run
  -- without one ignores SIGINT
  local h = C.signal(posix.SIGINT, posix.SIG_IGN)
  if h ~= posix.SIG_DFL and h ~= posix.SIG_IGN then self.sigint_handler = h end
  local ctx = zmq.context()
  self.shell, self.iopub, self.stdin = zmq.socket(ctx, zmq.ROUTER), zmq.socket(ctx, zmq.PUB), zmq.socket(ctx, zmq.ROUTER)
  local pair = zmq.socket(ctx, zmq.PAIR)
  zmq.bind(self.shell, endpoint(cfg, cfg.shell_port))
  zmq.bind(self.iopub, endpoint(cfg, cfg.iopub_port))
  zmq.bind(self.stdin, endpoint(cfg, cfg.stdin_port))
  zmq.bind(pair, relay)
  C.close(log_fd)
  self:capture_fds()
  local locus = require "locus"
  -- A process-wide SIGINT goes to any thread that lets it through, and threads keep the signal
  -- mask they were born with: OpenMP's workers are started now, while SIGINT is held back, so that
  -- while the kernel is idle no thread takes it (it waits, and is dropped when the next cell starts).
  locus.tensor.randn({ 64, 256 }, { seed = 1 }):matmul(locus.tensor.randn({ 256, 64 }, { seed = 2 }))
  self:install_io()
  self:install_progress()
  self.env = setmetatable({ locus = locus, tensor = locus.tensor, nn = locus.nn, display = self:display_fn() },
    { __index = _G, __newindex = _G })
  self:publish("status", { execution_state = "starting" }, nil)
  local running = true
  while running do
    local ready = zmq.poll({ self.shell, pair }, -1)
    for _, s in ipairs { self.shell, pair } do
      if running and ready[s] then
        local ok, keep = pcall(self.handle, self, s, zmq.recv_frames(s))
        if not ok then
          self:log("error while handling a message: " .. tostring(keep))
          self.parent = nil
        elseif keep == false then
          running = false
        end
      end
    end
  end
  zmq.send_frames(pair, { helper.EXIT })
  C.waitpid(pid, nil, 0)
  for _, s in ipairs { self.shell, self.iopub, self.stdin, pair } do
    zmq.linger(s, 1000)
    zmq.close(s)
  end
  zmq.term(ctx)
  return 0
end

return kernel
