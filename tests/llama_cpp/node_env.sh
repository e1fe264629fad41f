# Sourced by the llama.cpp check and the LLM benchmark: installs node-llama-cpp@3.21.1 into
# $npm_dir once, and puts a Node.js that can run it first on PATH. node-llama-cpp 3.21 needs
# Node.js 20 or later; Debian 12 ships 18, so there a Node.js binary comes from the npm registry's
# node-linux-<arch> package (a binary inside a registry package, installed by Debian's npm).
# Sets llama_cpp_ready=1 when node-llama-cpp can run, else 0 with the reason in llama_cpp_why.
llama_cpp_ready=0
llama_cpp_why=""
node_version=22.12.0
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  llama_cpp_why="node or npm not installed (scripts/install-deps installs them)"
  return 0 2>/dev/null || exit 0
fi
if [ -z "${npm_dir:-}" ]; then # npm with an empty prefix would install into the current directory
  llama_cpp_why="node_env.sh: npm_dir is not set"
  return 0 2>/dev/null || exit 0
fi
mkdir -p "$npm_dir"
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
  case $(uname -m) in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
  node_bin="$npm_dir/node/node_modules/node-linux-$arch/bin"
  if [ ! -x "$node_bin/node" ] &&
    ! timeout 600 npm install --prefix "$npm_dir/node" --no-audit --no-fund "node-linux-$arch@$node_version" \
      >"$npm_dir/node-install.log" 2>&1; then
    llama_cpp_why="Node.js $(node --version) is older than 20 and node-linux-$arch@$node_version could not be installed from npm (see $npm_dir/node-install.log)"
    return 0 2>/dev/null || exit 0
  fi
  export PATH="$node_bin:$PATH"
fi
if [ ! -d "$npm_dir/node_modules/node-llama-cpp" ] &&
  ! timeout 900 npm install --prefix "$npm_dir" --no-audit --no-fund node-llama-cpp@3.21.1 >"$npm_dir/install.log" 2>&1; then
  rm -rf "$npm_dir/node_modules/node-llama-cpp" # a half-done install would look done next time
  llama_cpp_why="could not install node-llama-cpp@3.21.1 from npm (see $npm_dir/install.log)"
  return 0 2>/dev/null || exit 0
fi
llama_cpp_ready=1
