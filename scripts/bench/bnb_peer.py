"""Time bitsandbytes' CPU quantize_4bit and dequantize_4bit on the shapes of our criterion bench,
so the two can be compared in one sitting (the VM drifts between a fast and a slow state).

Not part of CI. Ran with: Python 3.11.7, torch 2.15.0, bitsandbytes 0.50.2, numpy 2.4.6, in a
scratch venv:  python3 -m venv /tmp/qbvenv && /tmp/qbvenv/bin/pip install torch==2.15.0 \
bitsandbytes==0.50.2 numpy && /tmp/qbvenv/bin/python scripts/bench/bnb_peer.py

Prints medians in ms and throughput in GB/s (input bytes for quantize, output bytes for
dequantize, as in benches/codebook.rs).
"""
import statistics
import time

import ctypes as ct

import torch
import bitsandbytes.functional as F
from bitsandbytes.cextension import lib
from bitsandbytes.functional import get_ptr

torch.set_num_threads(2)
N = 4096 * 4096


def median_ms(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    g = torch.Generator().manual_seed(1)
    w32 = torch.randn(4096, 4096, generator=g) * 0.02
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpu {torch.backends.cpu.get_cpu_capability()}")
    for dtype in (torch.float32, torch.bfloat16):
        w = w32.to(dtype)
        nbytes = w.numel() * w.element_size()
        for qt in ("nf4", "fp4"):
            for dq in (False, True):
                label = f"{dtype} {qt}{'_dq' if dq else ''}"
                ms = median_ms(lambda: F.quantize_4bit(w, blocksize=64, quant_type=qt, compress_statistics=dq), 7)
                print(f"quantize   {label:24s} {ms:8.2f} ms  {nbytes / ms / 1e6:7.2f} GB/s")
                packed, state = F.quantize_4bit(w, blocksize=64, quant_type=qt, compress_statistics=dq)
                out = torch.empty_like(w)
                absmax = F.dequantize_blockwise(state.absmax, state.state2) + state.offset if dq else state.absmax
                # bnb's C kernel (the one its CPU backend calls) into a reused buffer, as
                # backends/cpu/ops.py calls it, then the public API with a fresh allocation.
                kernel = getattr(lib, f"cdequantize_blockwise_cpu_{qt}_{'fp32' if dtype == torch.float32 else 'bf16'}")
                a = packed.reshape(4096, 2048)
                reused = lambda: kernel(get_ptr(a), get_ptr(absmax), get_ptr(out), ct.c_longlong(64),
                                        ct.c_longlong(4096), ct.c_longlong(4096))
                ms = median_ms(reused, 31)
                print(f"dequantize {label:24s} {ms:8.2f} ms  {nbytes / ms / 1e6:7.2f} GB/s  (reused buffer)")
                ms = median_ms(lambda: F.dequantize_4bit(packed, state), 15)
                print(f"dequantize {label:24s} {ms:8.2f} ms  {nbytes / ms / 1e6:7.2f} GB/s  (API, fresh output)")


if __name__ == "__main__":
    main()
