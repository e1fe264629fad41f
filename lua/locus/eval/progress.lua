-- locus.eval.progress: how far an evaluation is. On a terminal, one line redrawn in place:
--   [#########...........] 120/500  0.84 s/sample  ETA 5m19s  accuracy 43.3%
-- otherwise (a log file, a Slurm job) one plain line per sample:
--   120/500 id=4375 iou=0.612 correct=true 0.81 s
local ffi = require "ffi"
local core = require "locus.core"

pcall(ffi.cdef, "int isatty(int fd);")

local Progress = {}
Progress.__index = Progress

local progress = {}

-- out: a file (io.stderr by default); tty: redraw in place (by default when out is a terminal)
function progress.new(opts)
  opts = opts or {}
  local out = opts.out or io.stderr
  local tty = opts.tty
  if tty == nil then tty = out == io.stderr and ffi.C.isatty(2) == 1 end
  return setmetatable({ out = out, tty = tty, label = opts.label or "" }, Progress)
end

local function duration(s)
  if s >= 3600 then return ("%dh%02dm"):format(math.floor(s / 3600), math.floor(s % 3600 / 60)) end
  if s >= 60 then return ("%dm%02ds"):format(math.floor(s / 60), s % 60) end
  return ("%ds"):format(s)
end

function Progress:start(total, skipped)
  self.total, self.n, self.correct, self.t0 = total, 0, 0, core.clock()
  if skipped and skipped > 0 then self.out:write(("%s%d samples already done, %d to go\n"):format(self.label, skipped, total)) end
end

function Progress:step(record)
  self.n = self.n + 1
  if record.correct then self.correct = self.correct + 1 end
  local rate = (core.clock() - self.t0) / self.n
  if self.tty then
    local width = 20
    local filled = math.floor(width * self.n / math.max(self.total, 1))
    self.out:write(("\r%s[%s%s] %d/%d  %.2f s/sample  ETA %s  accuracy %.1f%%\27[K"):format(self.label,
      ("#"):rep(filled), ("."):rep(width - filled), self.n, self.total, rate,
      duration(math.floor(rate * (self.total - self.n) + 0.5)), 100 * self.correct / self.n))
  else
    self.out:write(("%s%d/%d id=%s iou=%.3f correct=%s %.2f s\n"):format(self.label, self.n, self.total, record.id,
      record.iou, tostring(record.correct), record.seconds))
  end
  self.out:flush()
end

function Progress:finish()
  if self.tty and self.n > 0 then self.out:write("\n") end
end

return progress
