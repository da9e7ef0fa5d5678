"""Time NumPy against PyTorch side by side, in one process, interleaved, and report medians.

A ``Case`` builds, once, a NumPy callable (what ``numpy_attn.nn`` runs: the kernels), a PyTorch callable
for a device and, for an op with a fast twin, the same work done by the textbook functions
(``numpy_attn.functional``); each timed repeat runs them one after the other, so slow drifts of the
machine (frequency, other load) touch every side alike. The medians make the table; the ratio is NumPy /
PyTorch-CPU (below 1: NumPy is faster), and the textbook column shows what the kernels' tricks gain.
"""

import json
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch


@dataclass
class Case:
    name: str
    shape: str
    numpy: Callable[[], Callable[[], object]]  # () -> the callable to time
    torch: Callable[[str], Callable[[], object]]  # device -> the callable to time
    flops: float = 0.0  # floating-point operations of one call, to print the NumPy rate (0: not shown)
    textbook: Callable[[], Callable[[], object]] = None  # () -> the same work by the textbook functions
    max_repeats: int = 0  # cap on timed repeats and warm-ups for cases that take seconds (0: no cap)
    notes: dict = field(default_factory=dict)


def devices():
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


# Idle worker threads keep spinning for a while after a library's last parallel call (OpenBLAS's, under
# NumPy's matmul, for about 0.1 s), and on a 2-core machine they take a core from the other library's
# threads: a PyTorch BiLSTM step measured 126 ms straight after a NumPy matmul, 53 ms after a 0.3 s pause.
# So each timed call starts after a pause that lets the other side's threads go to sleep. The pause
# busy-waits on the timing thread: a training loop never leaves its core idle, and a core that slept
# 0.3 s on these VMs runs the next few milliseconds slower (a NumPy BiLSTM step measured 44.8 ms after
# time.sleep, 35.3 ms after a busy wait; PyTorch's 50.8 and 46.3).
SETTLE_S = 0.3


def _settle():
    end = time.perf_counter() + SETTLE_S
    while time.perf_counter() < end:
        pass


def _timed(fn, sync):
    _settle()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


MATMUL_N = 1024  # the reference product: (N, N) @ (N, N) in float32


def _reference_matmul():
    """This machine's NumPy float32 matrix-product rate, the yardstick of a case's GFLOP/s: timed in the
    same interleaved rounds as the case, so drifts of the machine touch both alike."""
    a, b = (np.random.default_rng(i).standard_normal((MATMUL_N, MATMUL_N)).astype(np.float32) for i in (0, 1))
    return lambda: a @ b


def measure(case, repeats=7, warmup=2):
    """{'numpy': [s, ...], 'textbook': [...], 'cpu': [...], 'cuda': [...], 'matmul': [...]}: wall seconds of
    each interleaved repeat; 'textbook' only for a case that has one, 'matmul' (the reference product) only
    for a case that counts its FLOPs."""
    fns = {"numpy": case.numpy()}
    if case.textbook is not None:
        fns["textbook"] = case.textbook()
    fns.update({d: case.torch(d) for d in devices()})
    if case.flops:
        fns["matmul"] = _reference_matmul()
    syncs = {k: (torch.cuda.synchronize if k == "cuda" else (lambda: None)) for k in fns}
    times = {k: [] for k in fns}
    for i in range(warmup + repeats):
        for k, fn in fns.items():
            t = _timed(fn, syncs[k])
            if i >= warmup:
                times[k].append(t)
    return times


def measure_row(case, repeats=7, warmup=2):
    """Measure one case: its row of the table (medians in ms, the ratio, the rates) with the raw times."""
    cap = case.max_repeats or repeats
    times = measure(case, min(repeats, cap), min(warmup, cap))
    med = {k: statistics.median(v) for k, v in times.items()}
    row = {"case": case.name, "shape": case.shape, "numpy_ms": med["numpy"] * 1e3,
           "torch_cpu_ms": med["cpu"] * 1e3, "ratio": med["numpy"] / med["cpu"],
           "repeats": len(times["numpy"]), "times_s": times, **case.notes}
    if "textbook" in med:
        row["textbook_ms"] = med["textbook"] * 1e3
        row["textbook_over_kernel"] = med["textbook"] / med["numpy"]
    if "cuda" in med:
        row["torch_cuda_ms"] = med["cuda"] * 1e3
    if case.flops:
        row["numpy_gflops"] = case.flops / med["numpy"] / 1e9
        row["matmul_gflops"] = 2 * MATMUL_N ** 3 / med["matmul"] / 1e9
        row["share_of_matmul"] = row["numpy_gflops"] / row["matmul_gflops"]
    return row


def run(cases, repeats=7, warmup=2, json_path=None, log=print, measure_case=measure_row):
    """Measure every case (``measure_case(case, repeats, warmup) -> row``), print a markdown table and
    optionally write the raw numbers as JSON."""
    rows = []
    for case in cases:
        row = measure_case(case, repeats, warmup)
        rows.append(row)
        log(_format_row(row))
    table = format_table(rows)
    log("\n" + table)
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows}, f, indent=1)
    return rows


def _format_row(row):
    return f"  {row['case']} {row['shape']}: numpy {row['numpy_ms']:.3f} ms, torch {row['torch_cpu_ms']:.3f} ms"


def format_table(rows):
    cuda = any("torch_cuda_ms" in r for r in rows)
    rate = any("numpy_gflops" in r for r in rows)
    head = ["case", "shape", "NumPy ms", "PyTorch CPU ms", "ratio", "textbook ms", "textbook / NumPy"]
    head += ["PyTorch CUDA ms"] if cuda else []
    head += ["NumPy GFLOP/s", "matmul GFLOP/s", "share"] if rate else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["case"], r["shape"], f"{r['numpy_ms']:.3f}", f"{r['torch_cpu_ms']:.3f}", f"{r['ratio']:.2f}"]
        cells += [f"{r['textbook_ms']:.3f}", f"{r['textbook_over_kernel']:.2f}"] if "textbook_ms" in r else ["", ""]
        if cuda:
            cells.append(f"{r['torch_cuda_ms']:.3f}" if "torch_cuda_ms" in r else "")
        if rate:
            cells += ([f"{r['numpy_gflops']:.1f}", f"{r['matmul_gflops']:.1f}", f"{r['share_of_matmul']:.0%}"]
                      if "numpy_gflops" in r else ["", "", ""])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
