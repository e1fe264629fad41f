#!/usr/bin/env bash
# `luarocks make` into a temporary tree, then runs the installed `locus` once from another
# directory: the module, the library and the command must all work from the tree alone.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
tree=$(mktemp -d)
script=$(mktemp --suffix=.lua)
# build.luarocks is luarocks' CMake folder in the source; a stale one from another checkout fails
rm -rf "$src/build.luarocks"
trap 'rm -rf "$tree" "$tree.log" "$script" "$src/build.luarocks"' EXIT
(cd "$src" && luarocks --lua-version 5.1 --tree "$tree" make rocks/locus-scm-1.rockspec) >"$tree.log" 2>&1 \
  || { cat "$tree.log"; exit 1; }
cd /
printf 'local x = locus.tensor.from{{1, 2}, {3, 4}}\nprint((x:matmul(x)):totable()[2][2])\n' >"$script"
out=$("$tree/bin/locus" run "$script")
[ "$out" = "22" ] || { echo "installed locus printed '$out', expected 22"; exit 1; }
"$tree/bin/locus" info | grep -q "library   $tree" \
  || { "$tree/bin/locus" info; echo "the installed locus did not use the tree's library"; exit 1; }
spec="$tree/share/jupyter/kernels/locus/kernel.json"
printf 'local t = require("cjson").decode(io.open(arg[1]):read("*a"))\nos.exit(t.argv[1] == arg[2] and 0 or 1)\n' >"$script"
luajit "$script" "$spec" "$tree/bin/locus" 2>/dev/null \
  || { cat "$spec"; echo "the rock did not install a kernelspec in $tree/share/jupyter naming $tree/bin/locus"; exit 1; }
echo "installed locus works from $tree (and its Jupyter kernelspec is in $tree/share/jupyter)"
