#!/usr/bin/env bash
# Does llama.cpp (through node-llama-cpp@3.21.1 from npm) load the GGUF files locus writes?
#  - a tiny random LLaMA written by locus, in f32 and quantized to q8_0 and q4_0: loads and generates;
#  - a wider one (widths 256 and 512, multiples of the K-quants' 256) converted by `locus convert` to
#    q4_k_m, q5_k and q6_k: llama.cpp's greedy token ids are locus's, over the steps whose top two
#    logits are far enough apart that llama.cpp's 8-bit activations cannot swap them (greedy_ids.lua);
#  - with ../shared/assets: stories260K rewritten by `locus convert` (f32 and q8_0) generates the same
#    greedy text as the original file.
# Exit 0 = passed, 1 = failed, 77 = skipped (no node/npm, or the npm registry is unreachable).
# With a Node.js older than 20 (Debian 12's), node_env.sh brings a newer one from npm.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
locus="$root/bin/locus"
npm_dir=${LOCUS_NPM_DIR:-$root/build/npm}
# shellcheck source=tests/llama_cpp/node_env.sh
. "$here/node_env.sh"
[ "$llama_cpp_ready" = 1 ] || { echo "skipped: $llama_cpp_why"; exit 77; }
cp "$here/generate.mjs" "$here/greedy_ids.mjs" "$npm_dir/"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() { (cd "$npm_dir" && timeout 300 node generate.mjs "$@" 2>&1 | tail -1); }
status=0
for q in f32 q8_0 q4_0; do
  qarg=$q
  [ $q = f32 ] && qarg=
  "$locus" run "$here/make_tiny_llama.lua" "$tmp/tiny_$q.gguf" $qarg || { echo "FAILED: writing tiny_$q.gguf"; status=1; continue; }
  out=$(run "$tmp/tiny_$q.gguf" "ab" 8)
  if echo "$out" | grep -q '"tensors":21'; then echo "ok: llama.cpp loads locus's tiny llama ($q): $out"; else echo "FAILED: tiny_$q.gguf: $out"; status=1; fi
done
# the wide model's output rows lean towards their predecessor's embedding (make_tiny_llama.lua's last
# argument), so that its greedy choices have margins to spare
prompt=1,72,101,108,108,111
if "$locus" run "$here/make_tiny_llama.lua" "$tmp/wide.gguf" f32 256 512 0.02; then
  for q in q4_k_m q5_k q6_k; do
    "$locus" convert "$tmp/wide.gguf" "$tmp/wide_$q.gguf" --type $q >/dev/null || { echo "FAILED: locus convert --type $q"; status=1; continue; }
    ours=$("$locus" run "$here/greedy_ids.lua" "$tmp/wide_$q.gguf" 8 $prompt)
    theirs=$(cd "$npm_dir" && timeout 300 node greedy_ids.mjs "$tmp/wide_$q.gguf" 8 $prompt 2>&1 | tail -1)
    certain=$(echo "$ours" | sed -n 's/^certain: //p')
    want=$(echo "$ours" | sed -n 's/^ids: //p' | cut -d' ' -f1-"${certain:-0}")
    got=$(echo "$theirs" | sed -n 's/^ids: //p' | cut -d' ' -f1-"${certain:-0}")
    if [ "${certain:-0}" -ge 4 ] && [ "$got" = "$want" ]; then
      echo "ok: llama.cpp's greedy ids on locus's $q model are locus's ($want)"
    else
      echo "FAILED: $q greedy ids: llama.cpp $theirs; locus $ours"
      status=1
    fi
  done
else
  echo "FAILED: writing wide.gguf"
  status=1
fi
shared="$root/../shared/assets/models/stories260K.gguf"
if [ -f "$shared" ]; then
  want=$(run "$shared" "Once upon a time" 24)
  for q in f32 q8_0; do
    "$locus" convert "$shared" "$tmp/stories_$q.gguf" --type $q >/dev/null || { echo "FAILED: locus convert --type $q"; status=1; continue; }
    got=$(run "$tmp/stories_$q.gguf" "Once upon a time" 24)
    if [ "$got" = "$want" ]; then echo "ok: stories260K via locus convert ($q) generates the original text"; else echo "FAILED: stories260K $q: $got, expected $want"; status=1; fi
  done
else
  echo "note: ../shared/assets absent, stories260K round trip not checked"
fi
exit $status
