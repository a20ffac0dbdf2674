#!/usr/bin/env bash
# The memory bound of issue 14: the weight-only commands (fit, quantize, dequantize and
# report --weights-only) stream a sharded checkpoint larger than the memory they are allowed, one
# shard mapped and one tensor converted at a time. Each runs in a memory cgroup limited to
# LIMIT_MIB (default 1024) on a generated Llama of SHARDS layers, one layer's seven f32 linears of
# ROWS × COLS per shard (default 4 × 7 × 8192²: 7 GiB, largest tensor 256 MiB). It must exit 0
# without the OOM killer, and its peak anonymous memory (RssAnon, sampled every 20 ms: the
# memory that is really the process's; the mapped checkpoint's pages are page cache, which the
# cgroup reclaims) must stay under PERCENT (default 150) % of the largest tensor, or REPORT_PERCENT
# (default 350) % for the report, which holds the tensor it analyses, the seed tensor (kept
# for the theory), a dequantized copy and the fit's work at once. Prints a row of figures per command.
#
# Needs root for the cgroup (v1 memory controller, or v2 with memory enabled) and about twice
# the checkpoint's size free under WORK (default /var/tmp). BIN overrides the binary (default: a
# release build of xtask). Not run by CI: it writes gigabytes.
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARDS=${SHARDS:-4} ROWS=${ROWS:-8192} COLS=${COLS:-8192}
LIMIT_MIB=${LIMIT_MIB:-1024} PERCENT=${PERCENT:-150} REPORT_PERCENT=${REPORT_PERCENT:-350} WORK=${WORK:-/var/tmp}
if [ -z "${BIN:-}" ]; then
  cargo build --release -p xtask
  BIN=target/release/xtask
fi
tensor_mib=$((ROWS * COLS * 4 / 1048576))
work=$(mktemp -d "$WORK/quantbound-memory.XXXXXX")
trap 'rm -rf "$work"' EXIT
python3 scripts/memory/make_checkpoint.py "$work/dense" --shards "$SHARDS" --rows "$ROWS" --cols "$COLS"

# A fresh memory cgroup of LIMIT_MIB; prints its folder.
make_cgroup() {
  local name="quantbound-memory-$$-$1"
  if [ -w /sys/fs/cgroup/memory ]; then
    mkdir "/sys/fs/cgroup/memory/$name"
    echo $((LIMIT_MIB * 1048576)) >"/sys/fs/cgroup/memory/$name/memory.limit_in_bytes"
    echo "/sys/fs/cgroup/memory/$name"
  elif grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    mkdir "/sys/fs/cgroup/$name"
    echo $((LIMIT_MIB * 1048576)) >"/sys/fs/cgroup/$name/memory.max"
    echo "/sys/fs/cgroup/$name"
  else
    echo "no writable memory cgroup (v1 /sys/fs/cgroup/memory or v2 with the memory controller)" >&2
    exit 1
  fi
}

status_kib() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status" 2>/dev/null || true; }

failed=0
run() {
  local label=$1 percent=$2
  shift 2
  local cg
  cg=$(make_cgroup "$label")
  # Drop the page cache (where allowed), so that the checkpoint's pages are read, and charged,
  # inside the cgroup rather than left over from the last run.
  sync
  echo 1 >/proc/sys/vm/drop_caches 2>/dev/null || true
  local start=$SECONDS
  bash -c 'echo $$ >"$1/cgroup.procs"; shift; exec "$@"' _ "$cg" "$@" >"$work/$label.log" 2>&1 &
  local pid=$! anon=0 hwm=0 a h
  while kill -0 "$pid" 2>/dev/null; do
    a=$(status_kib "$pid" RssAnon) h=$(status_kib "$pid" VmHWM)
    [ -n "$a" ] && [ "$a" -gt "$anon" ] && anon=$a
    [ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm=$h
    sleep 0.02
  done
  local code=0
  wait "$pid" || code=$?
  local kills
  kills=$(cat "$cg/memory.oom_control" "$cg/memory.events" 2>/dev/null | awk '$1 == "oom_kill" { print $2; exit }' || true)
  rmdir "$cg"
  printf '%-11s %6s %8s %11s MiB %8s MiB %10s\n' "$label" "$code" $((SECONDS - start)) $((anon / 1024)) $((hwm / 1024)) "${kills:-0}"
  if [ "$code" -ne 0 ]; then
    tail -n 5 "$work/$label.log" >&2
    failed=1
  elif [ $((anon / 1024)) -gt $((percent * tensor_mib / 100)) ]; then
    echo "$label: peak RssAnon $((anon / 1024)) MiB is more than $percent % of the largest tensor ($tensor_mib MiB)" >&2
    failed=1
  fi
}

echo "limit ${LIMIT_MIB} MiB; checkpoint $(du -sm "$work/dense" | cut -f1) MiB in $SHARDS shards; largest tensor $tensor_mib MiB"
printf '%-11s %6s %8s %14s %12s %10s\n' command exit "seconds" "peak RssAnon" "peak VmHWM" "OOM kills"
run fit "$PERCENT" "$BIN" fit --input "$work/dense" --json "$work/fit.json"
run quantize "$PERCENT" "$BIN" quantize --input "$work/dense" --output "$work/nf4" --double-quant
run dequantize "$PERCENT" "$BIN" dequantize --input "$work/nf4" --output "$work/dequantized"
run report "$REPORT_PERCENT" "$BIN" report --weights-only --model "$work/dense" --layer 0 --formats nf4,fp4 \
  --out "$work/report"
[ "$failed" -eq 0 ] && echo "memory bound: every command finished within ${LIMIT_MIB} MiB"
exit "$failed"
