-- locus.kernel.zmq: the few calls of libzmq (Debian's libzmq5) a Jupyter kernel needs, through
-- LuaJIT's FFI. Sockets are plain cdata pointers; every failure raises an error with zmq's message.
--   local ctx = zmq.context(); local s = zmq.socket(ctx, zmq.ROUTER); zmq.bind(s, "tcp://127.0.0.1:5555")
--   zmq.send_frames(s, {"a", "b"}); local frames = zmq.recv_frames(s)
local ffi = require "ffi"

ffi.cdef [[
typedef struct { void *socket; int fd; short events; short revents; } zmq_pollitem_t;
typedef struct { unsigned char _[64]; } zmq_msg_t;
void *zmq_ctx_new(void);
int zmq_ctx_term(void *context);
void *zmq_socket(void *context, int type);
int zmq_close(void *socket);
int zmq_bind(void *socket, const char *endpoint);
int zmq_connect(void *socket, const char *endpoint);
int zmq_setsockopt(void *socket, int option, const void *value, size_t len);
int zmq_getsockopt(void *socket, int option, void *value, size_t *len);
int zmq_send(void *socket, const void *buf, size_t len, int flags);
int zmq_msg_init(zmq_msg_t *msg);
int zmq_msg_recv(zmq_msg_t *msg, void *socket, int flags);
void *zmq_msg_data(zmq_msg_t *msg);
size_t zmq_msg_size(const zmq_msg_t *msg);
int zmq_msg_more(const zmq_msg_t *msg);
int zmq_msg_close(zmq_msg_t *msg);
int zmq_poll(zmq_pollitem_t *items, int nitems, long timeout);
int zmq_errno(void);
const char *zmq_strerror(int errnum);
]]

local lib = ffi.load("libzmq.so.5")

local zmq = { PAIR = 0, PUB = 1, REP = 4, DEALER = 5, ROUTER = 6, POLLIN = 1, SNDMORE = 2, DONTWAIT = 1, EINTR = 4,
  EAGAIN = 11, LINGER = 17 }

local function check(rc, what)
  if rc == -1 or rc == nil then
    local e = lib.zmq_errno()
    error(("zmq %s: %s"):format(what, ffi.string(lib.zmq_strerror(e))), 3)
  end
  return rc
end

function zmq.errno() return lib.zmq_errno() end

function zmq.context()
  local ctx = lib.zmq_ctx_new()
  if ctx == nil then check(-1, "context") end
  return ctx
end

function zmq.term(ctx) lib.zmq_ctx_term(ctx) end

-- A socket that drops what it has not sent when closed (the kernel never waits for a gone client).
function zmq.socket(ctx, kind)
  local s = lib.zmq_socket(ctx, kind)
  if s == nil then check(-1, "socket") end
  zmq.linger(s, 0)
  return s
end

-- How long close waits to send what is queued (ms)
function zmq.linger(s, ms)
  check(lib.zmq_setsockopt(s, zmq.LINGER, ffi.new("int[1]", ms), ffi.sizeof("int")), "setsockopt")
end

function zmq.close(s) lib.zmq_close(s) end
function zmq.bind(s, endpoint) check(lib.zmq_bind(s, endpoint), "bind " .. endpoint) end
function zmq.connect(s, endpoint) check(lib.zmq_connect(s, endpoint), "connect " .. endpoint) end

-- Sends a multipart message (a list of strings).
function zmq.send_frames(s, frames)
  for i, f in ipairs(frames) do
    while lib.zmq_send(s, f, #f, i < #frames and zmq.SNDMORE or 0) == -1 do
      if lib.zmq_errno() ~= zmq.EINTR then check(-1, "send") end
    end
  end
end

local msg = ffi.new("zmq_msg_t")

-- Receives one multipart message: a list of strings; nil if flags has DONTWAIT and none is there.
function zmq.recv_frames(s, flags)
  local frames = {}
  repeat
    lib.zmq_msg_init(msg)
    local n = lib.zmq_msg_recv(msg, s, flags or 0)
    if n == -1 then
      local e = lib.zmq_errno()
      lib.zmq_msg_close(msg)
      if e == zmq.EAGAIN and #frames == 0 then return nil end
      if e ~= zmq.EINTR then check(-1, "recv") end
    else
      frames[#frames + 1] = ffi.string(lib.zmq_msg_data(msg), lib.zmq_msg_size(msg))
      local more = lib.zmq_msg_more(msg)
      lib.zmq_msg_close(msg)
      if more == 0 then return frames end
    end
  until false
end

-- Waits up to timeout_ms (-1: forever) for any of sockets to be readable; returns the set of those
-- that are (an empty table on a timeout or a signal).
function zmq.poll(sockets, timeout_ms)
  local items = ffi.new("zmq_pollitem_t[?]", #sockets)
  for i, s in ipairs(sockets) do
    items[i - 1].socket, items[i - 1].events = s, zmq.POLLIN
  end
  local ready = {}
  local rc = lib.zmq_poll(items, #sockets, timeout_ms)
  if rc == -1 then
    if lib.zmq_errno() == zmq.EINTR then return ready end
    check(-1, "poll")
  end
  for i, s in ipairs(sockets) do
    if bit.band(items[i - 1].revents, zmq.POLLIN) ~= 0 then ready[s] = true end
  end
  return ready
end

return zmq
