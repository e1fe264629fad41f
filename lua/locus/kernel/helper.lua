-- locus.kernel.helper: the kernel's second process, which answers while a cell runs.
--
-- A cell is Lua running on the kernel's only thread, so the kernel cannot read a socket while it
-- works. Jupyter needs two things then: the heartbeat echoed (a client that hears nothing calls
-- the kernel dead) and the control channel (interrupt_request must stop the cell). So the kernel
-- forks this process before it opens any socket. It echoes the heartbeat, answers
-- interrupt_request by sending the kernel SIGINT, and passes every other control message to the
-- kernel over a PAIR socket (and the kernel's replies back), so shutdown and kernel_info on the
-- control channel are answered by the kernel itself. It dies with the kernel.
local zmq = require "locus.kernel.zmq"
local posix = require "locus.kernel.posix"

local helper = {}

helper.EXIT = "locus-kernel-helper-exit"

-- Runs in the forked child until the kernel says EXIT or is gone; never returns.
function helper.run(endpoints, session, relay, parent, log)
  local C = posix.C
  C.prctl(posix.PR_SET_PDEATHSIG, posix.SIGKILL, 0, 0, 0)
  if C.getppid() ~= parent then C._exit(0) end
  C.signal(posix.SIGINT, posix.SIG_IGN) -- a Ctrl-C at the terminal is the kernel's business
  posix.block_sigint(false)
  local ok, err = pcall(function()
    local ctx = zmq.context()
    local hb, control, pair = zmq.socket(ctx, zmq.REP), zmq.socket(ctx, zmq.ROUTER), zmq.socket(ctx, zmq.PAIR)
    zmq.bind(hb, endpoints.hb)
    zmq.bind(control, endpoints.control)
    zmq.connect(pair, relay)
    while C.getppid() == parent do
      local ready = zmq.poll({ hb, control, pair }, 500)
      if ready[hb] then zmq.send_frames(hb, zmq.recv_frames(hb)) end
      if ready[control] then
        local frames = zmq.recv_frames(control)
        local msg, why = session:decode(frames)
        if not msg then
          log(("dropped a message on the control channel: %s"):format(why))
        elseif msg.header.msg_type == "interrupt_request" then
          C.kill(parent, posix.SIGINT)
          zmq.send_frames(control, session:frames("interrupt_reply", { status = "ok" }, msg, msg.identities))
        else
          zmq.send_frames(pair, frames)
        end
      end
      if ready[pair] then
        local frames = zmq.recv_frames(pair)
        if frames[1] == helper.EXIT then break end
        zmq.send_frames(control, frames)
      end
    end
    -- the last replies (shutdown_reply) still go out
    for _, s in ipairs { hb, control, pair } do
      zmq.linger(s, 1000)
      zmq.close(s)
    end
    zmq.term(ctx)
  end)
  if not ok then log("heartbeat and control process: " .. tostring(err)) end
  C._exit(0)
end

return helper
