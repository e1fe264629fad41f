-- lego.cli: the `lego` command's subcommands.
local cli = {}

local usage = [[
usage: lego [command] [args]

  lego                     interactive console with `lego` loaded
  lego run FILE [ARGS]     run a Lua script with `lego` loaded (arg[0] = FILE, arg[1..] = ARGS)
  lego info                version, library, CPU features, kernels and threads
  lego help                this text

Environment: LEGO_NUM_THREADS (threads), LEGO_KERNEL=ref|avx2|avx512 (force a kernel path).]]

local function fail(msg)
  io.stderr:write("lego: ", tostring(msg), "\n")
  return 1
end

local commands = {}

function commands.run(args)
  local file = args[1]
  if not file then return fail("run: missing FILE\n" .. usage) end
  local chunk, err = loadfile(file)
  if not chunk then return fail(err) end
  _G.lego = require "lego"
  local script_args = { [0] = file }
  for i = 2, #args do script_args[i - 1] = args[i] end
  _G.arg = script_args
  local ok, res = xpcall(chunk, debug.traceback, unpack(script_args))
  if not ok then return fail(res) end
  return type(res) == "number" and res or 0
end

function commands.info()
  local lego = require "lego"
  local core = lego.core
  print(("lego %s"):format(lego.version))
  print(("library   %s"):format(core.library_path or "(system)"))
  print(("header    %s"):format(core.header_path))
  print(("cpu       %s"):format(lego.cpu_features()))
  print(("kernels   %s"):format(lego.kernel_path()))
  print(("threads   %d"):format(lego.num_threads()))
  return 0
end

function commands.help()
  print(usage)
  return 0
end

function cli.main(argv)
  local name = argv[1]
  if name == nil then return require("lego.console").run() end
  if name == "-h" or name == "--help" then name = "help" end
  if name == "--version" then
    print(require("lego").version)
    return 0
  end
  local cmd = commands[name]
  if not cmd then return fail("unknown command '" .. name .. "'\n" .. usage) end
  local rest = {}
  for i = 2, #argv do rest[#rest + 1] = argv[i] end
  local ok, rc = pcall(cmd, rest)
  if not ok then return fail(rc) end
  return rc
end

return cli
