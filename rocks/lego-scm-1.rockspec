rockspec_format = "3.0"
package = "lego"
version = "scm-1"
source = {
  url = "git+file:///dev/null", -- built from a checkout: luarocks make rocks/lego-scm-1.rockspec
}
description = {
  summary = "GroundingGPT on the CPU: a C core with LuaJIT scripting",
  detailed = [[
lego runs GroundingGPT (image, video and audio grounding with a LLaMA decoder) on an ordinary CPU.
A C library (liblego) holds the tensors, kernels and file formats; LuaJIT scripts compose the
models, the pipelines and the console. Requires LuaJIT (FFI).]],
  license = "MIT",
}
dependencies = {
  "lua == 5.1", -- LuaJIT
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    LEGO_TESTS = "OFF",
    LEGO_BENCHMARKS = "OFF",
    LUADIR = "$(LUADIR)",
    LIBDIR = "$(LIBDIR)",
    BINDIR = "$(BINDIR)",
  },
}
deploy = {
  wrap_bin_scripts = false, -- bin/lego is a LuaJIT script that finds its tree by itself
}
