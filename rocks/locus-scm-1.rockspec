rockspec_format = "3.0"
package = "locus"
version = "scm-1"
source = {
  url = "git+file:///dev/null", -- built from a checkout: luarocks make rocks/locus-scm-1.rockspec
}
description = {
  summary = "GroundingGPT on the CPU: a C core with LuaJIT scripting",
  detailed = [[
locus runs GroundingGPT (image, video and audio grounding with a LLaMA decoder) on an ordinary CPU.
A C library (liblocus) holds the tensors, kernels and file formats; LuaJIT scripts compose the
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
    LOCUS_TESTS = "OFF",
    LOCUS_BENCHMARKS = "OFF",
    LUADIR = "$(LUADIR)",
    LIBDIR = "$(LIBDIR)",
    BINDIR = "$(BINDIR)",
  },
}
deploy = {
  wrap_bin_scripts = false, -- bin/locus is a LuaJIT script that finds its tree by itself
}
