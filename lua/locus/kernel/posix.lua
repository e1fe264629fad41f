-- locus.kernel.posix: the POSIX calls the kernel makes (processes, signals, file descriptors).
local ffi = require "ffi"

for _, decl in ipairs {
  "typedef void (*locus_sighandler_t)(int);",
  "locus_sighandler_t signal(int signum, locus_sighandler_t handler);",
  "typedef struct { unsigned long val[16]; } locus_sigset_t;",
  "int sigemptyset(locus_sigset_t *set);",
  "int sigaddset(locus_sigset_t *set, int signum);",
  "int sigprocmask(int how, const locus_sigset_t *set, locus_sigset_t *old);",
  "int kill(int pid, int sig);",
  "int getpid(void);",
  "int getppid(void);",
  "int fork(void);",
  "void _exit(int status);",
  "int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);",
  "int waitpid(int pid, int *status, int options);",
  "int dup(int fd);",
  "int dup2(int from, int to);",
  "int open(const char *path, int flags, int mode);",
  "int close(int fd);",
  "long read(int fd, void *buf, size_t n);",
  "long write(int fd, const void *buf, size_t n);",
  "int mkstemp(char *template);",
  "int unlink(const char *path);",
  "int fflush(void *stream);",
} do
  pcall(ffi.cdef, decl)
end

local C = ffi.C

local posix = { SIGINT = 2, SIGKILL = 9, SIGTERM = 15, SIG_BLOCK = 0, SIG_UNBLOCK = 1, PR_SET_PDEATHSIG = 1,
  O_WRONLY = 1, O_RDONLY = 0, O_APPEND = 1024, WNOHANG = 1 }
posix.C = C
posix.SIG_DFL = ffi.cast("locus_sighandler_t", 0)
posix.SIG_IGN = ffi.cast("locus_sighandler_t", 1)

local sigint_set = ffi.new("locus_sigset_t")
C.sigemptyset(sigint_set)
C.sigaddset(sigint_set, posix.SIGINT)

-- SIGINT held back (true) or let through (false)
function posix.block_sigint(block) C.sigprocmask(block and posix.SIG_BLOCK or posix.SIG_UNBLOCK, sigint_set, nil) end

-- A temporary file's path, created empty.
function posix.temp_file(prefix)
  local template = ffi.new("char[?]", 64)
  ffi.copy(template, ("/tmp/%s-XXXXXX"):format(prefix))
  local fd = C.mkstemp(template)
  if fd < 0 then error("cannot create a temporary file in /tmp", 2) end
  C.close(fd)
  return ffi.string(template)
end

-- Everything written to fd since the last call, through its own reading descriptor.
local buf = ffi.new("char[65536]")
function posix.read_new(fd)
  local parts = {}
  while true do
    local n = C.read(fd, buf, 65536)
    if n <= 0 then break end
    parts[#parts + 1] = ffi.string(buf, n)
  end
  return table.concat(parts)
end

function posix.write_fd(fd, s) C.write(fd, s, #s) end

return posix
