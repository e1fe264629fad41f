#!/usr/bin/env bash
# Builds the parsers with clang's libFuzzer, AddressSanitizer and UBSan, and fuzzes each format
# from its seed corpus (tests/fuzz/corpus/FORMAT):
#   tests/fuzz/run.sh [SECONDS_PER_FORMAT] [FORMAT...]     (default 180 s; all formats:
#   safetensors pytorch gguf npy tokenizer jpeg png)
# New interesting inputs go to build-fuzz/corpus/FORMAT; crashes to build-fuzz/crash-*.
# Needs clang and libclang-rt-14-dev (Debian).
set -eu
cd "$(dirname "$0")/../.."
seconds=${1:-180}
shift || true
formats=${*:-"safetensors pytorch gguf npy tokenizer jpeg png"}
out=build-fuzz
mkdir -p "$out"
sources=$(find csrc -name "*.c" | sort)
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Icsrc -I/usr/include/cjson -fopenmp"
declare -A ext=([safetensors]=.safetensors [pytorch]=.bin [gguf]=.gguf [npy]=.npy [tokenizer]=.model [jpeg]=.jpg [png]=.png)
for fmt in $formats; do
  bin="$out/fuzz_$fmt"
  # the vector kernels need their -m flags; everything else builds plain
  clang $flags -DFUZZ_EXT="\"${ext[$fmt]}\"" -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl \
    tests/fuzz/fuzz_file.c $sources -o "$bin" -lcjson -lstb -ljpeg -ldnnl -lopenblas -lm
  mkdir -p "$out/corpus/$fmt"
  echo "== fuzzing $fmt for $seconds s"
  "$bin" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$out/crash-$fmt-" "$out/corpus/$fmt" "tests/fuzz/corpus/$fmt" 2>&1 | grep -E "^#|Done|stat::|ERROR|SUMMARY" | tail -6
done
