#!/usr/bin/env bash
# `luarocks make` into a temporary tree, then runs the installed `lego` once from another
# directory: the module, the library and the command must all work from the tree alone.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
tree=$(mktemp -d)
script=$(mktemp --suffix=.lua)
# build.luarocks is luarocks' CMake folder in the source; a stale one from another checkout fails
rm -rf "$src/build.luarocks"
trap 'rm -rf "$tree" "$tree.log" "$script" "$src/build.luarocks"' EXIT
(cd "$src" && luarocks --lua-version 5.1 --tree "$tree" make rocks/lego-scm-1.rockspec) >"$tree.log" 2>&1 \
  || { cat "$tree.log"; exit 1; }
cd /
printf 'local x = lego.tensor.from{{1, 2}, {3, 4}}\nprint((x:matmul(x)):totable()[2][2])\n' >"$script"
out=$("$tree/bin/lego" run "$script")
[ "$out" = "22" ] || { echo "installed lego printed '$out', expected 22"; exit 1; }
"$tree/bin/lego" info | grep -q "library   $tree" \
  || { "$tree/bin/lego" info; echo "the installed lego did not use the tree's library"; exit 1; }
echo "installed lego works from $tree"
