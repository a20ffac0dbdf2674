#!/usr/bin/env bash
# The fuzz smoke run of issue 14: every cargo-fuzz target of fuzz/ for about FUZZ_SECONDS (30)
# seconds, starting from its committed seeds in fuzz/corpus/<target>/ (and, for the file readers,
# the malformed-input corpus of tests/data/malformed/). New inputs go to a temporary folder, so
# the repo is left as it was. A crash, a timeout (10 s for one input) or an input that needs
# more than 2 GiB fails the run; libFuzzer prints the input, and the artifact is in
# fuzz/artifacts/<target>/. Needs the nightly toolchain (for -Zsanitizer flags) and cargo-fuzz,
# which this script installs from crates.io when it is missing.
#
# The sanitizer is off (-s none): the targets' oracles are panics, debug assertions, overflow
# checks and, for the kernels, a bit-for-bit comparison with the scalar reference, and without
# AddressSanitizer each target runs several times as many inputs in its half minute. The seed
# is fixed (FUZZ_SEED, 1), so a run explores the same inputs in the same order on every machine,
# as far as its time allows: a failure here reproduces with the same seed.
set -euo pipefail
cd "$(dirname "$0")/../../fuzz"
seconds=${FUZZ_SECONDS:-30}
seed=${FUZZ_SEED:-1}

rustup toolchain list | grep -q '^nightly' || { echo "fuzz smoke: no nightly toolchain (rustup toolchain list)" >&2; exit 1; }
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
cargo +nightly fuzz build -s none

malformed=../tests/data/malformed
declare -A extra=(
  [gguf]="$malformed"
  [gguf_tokenizer]=""
  [bnb_state]=""
  [config]="$malformed/control/tiny"
  [checkpoint]=""
  [kernels]=""
)
for target in gguf gguf_tokenizer bnb_state config checkpoint kernels; do
  work=$(mktemp -d)
  mkdir -p "corpus/$target"
  log="$work.log"
  status=0
  # shellcheck disable=SC2086 # the extra seed folders are a word list
  cargo +nightly fuzz run -s none "$target" "$work" "corpus/$target" ${extra[$target]} -- \
    -seed="$seed" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 ||
    status=$?
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" | sed "s/^/$target: /" || true
  rm -rf "$work"
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log" >&2
    echo "fuzz smoke: $target failed (exit $status); its input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  rm -f "$log"
done
echo "fuzz smoke: every target ran ${seconds} s without a crash"
