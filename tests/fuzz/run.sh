#!/usr/bin/env bash
# Builds the parsers once with clang's libFuzzer, AddressSanitizer and UBSan, and fuzzes each format
# from its seed corpus (tests/fuzz/corpus/FORMAT):
#   tests/fuzz/run.sh [SECONDS_PER_FORMAT] [FORMAT...]     (default 180 s; all formats:
#   safetensors pytorch gguf npy tokenizer jpeg png wav flac ogg mp4 pickle)
# New interesting inputs go to build-fuzz/corpus/FORMAT; crashes to build-fuzz/crash-*. Prints one
# line per format, "ok: FORMAT ..." or "FAILED: FORMAT ...", and exits non-zero on a failure.
# Needs clang and libclang-rt-14-dev (Debian).
set -u
cd "$(dirname "$0")/../.."
seconds=${1:-180}
shift || true
formats=${*:-"safetensors pytorch gguf npy tokenizer jpeg png wav flac ogg mp4 pickle"}
out=build-fuzz
mkdir -p "$out"
bin="$out/fuzz_file"
sources=$(find csrc -name "*.c" | sort)
# the vector kernels need their -m flags; everything else builds plain
if [ ! -x "$bin" ] || [ -n "$(find csrc tests/fuzz/fuzz_file.c -newer "$bin" -name '*.[ch]' | head -1)" ]; then
  echo "== building $bin"
  clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Icsrc -I/usr/include/cjson -fopenmp \
    -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx512bf16 \
    tests/fuzz/fuzz_file.c $sources -o "$bin" \
    -lcjson -lstb -ljpeg -ldnnl -lopenblas -lsndfile -lavformat -lavcodec -lswscale -lavutil -lm || exit 1
fi
declare -A ext=([safetensors]=.safetensors [pytorch]=.bin [gguf]=.gguf [npy]=.npy [tokenizer]=.model [jpeg]=.jpg
  [png]=.png [wav]=.wav [flac]=.flac [ogg]=.ogg [mp4]=.mp4 [pickle]=.p)
status=0
for fmt in $formats; do
  mkdir -p "$out/corpus/$fmt"
  log="$out/fuzz_$fmt.log"
  LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp LOCUS_FUZZ_EXT=${ext[$fmt]} "$bin" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=4096 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$out/crash-$fmt-" "$out/corpus/$fmt" "tests/fuzz/corpus/$fmt" >"$log" 2>&1
  rc=$?
  runs=$(grep -o "stat::number_of_executed_units: [0-9]*" "$log" | grep -o "[0-9]*$")
  if [ $rc -eq 0 ]; then
    echo "ok: fuzzing $fmt for $seconds s (${runs:-?} inputs, no crash, leak or hang)"
  else
    echo "FAILED: fuzzing $fmt (exit $rc); $log:"
    grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -5
    status=1
  fi
done
exit $status
