#!/usr/bin/env bash
# `luarocks make` into a temporary tree, then runs the installed `lego` once: the module, the
# library and the command must all work from the tree, away from the checkout.
set -eu
cd "$(dirname "$0")/.."
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
luarocks --lua-version 5.1 --tree "$tree" make rocks/lego-scm-1.rockspec >"$tree.log" 2>&1 || { cat "$tree.log"; exit 1; }
rm -f "$tree.log"
cd /
script=$(mktemp --suffix=.lua)
trap 'rm -rf "$tree" "$script"' EXIT
printf 'local x = lego.tensor.from{{1, 2}, {3, 4}}\nprint((x:matmul(x)):totable()[2][2])\n' > "$script"
out=$("$tree/bin/lego" run "$script")
[ "$out" = "22" ] || { echo "installed lego printed '$out', expected 22"; exit 1; }
"$tree/bin/lego" info | grep -q "library   $tree" || { "$tree/bin/lego" info; echo "the installed lego did not use the tree's library"; exit 1; }
echo "installed lego works from $tree"
