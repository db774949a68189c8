#!/usr/bin/env python3
"""Runs the dlnflow CPU throughput benchmark and the NumPy baseline in one run on this machine
and writes bench/results/cpu-<host>-<date>.{json,md} with the ratio per configuration."""
import argparse
import datetime
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "baselines"))
from compare import cpu_model  # noqa: E402
from numpy_flow import rk4_step  # noqa: E402


def flops_per_step(d, n, bw):
    """bench/flop_counts.hpp: the chain's 3(N-1) products, plus 2d^3 (square loss through C_xx)
    or 21d^3 (BW gradient, the eigendecomposition counted as 9d^3), four RHS per RK4 step."""
    return 4.0 * (3.0 * (n - 1) * 2.0 * d**3 + (21.0 * d**3 if bw else 2.0 * d**3))


def numpy_synthetic(bw, d, n, batch, seconds):
    """The NumPy baseline on flow_throughput's problems (bench/bench_problems.hpp's kind, not its
    exact draws): RK4 steps of dt = 1e-3 on unit-scale factors for `seconds` after a warm-up."""
    rng = np.random.default_rng(7)
    if bw:
        a = rng.standard_normal((d, d))
        s0 = a @ a.T / d + 0.1 * np.eye(d)
        lam, v = np.linalg.eigh(s0)
        prob = {"s0": s0, "s0h": (v * np.sqrt(lam)) @ v.T, "tau": 0.1}
    else:
        prob = {"cxx": np.eye(d), "cyx": rng.standard_normal((d, d))}
    ws = [rng.standard_normal((batch, d, d)) / np.sqrt(d) for _ in range(n)]
    ws = rk4_step(ws, 1e-3, prob)
    steps, t0 = 0, time.perf_counter()
    while True:
        ws = rk4_step(ws, 1e-3, prob)
        steps += 1
        elapsed = time.perf_counter() - t0
        if elapsed > seconds:
            break
    rate = batch * steps / elapsed
    return {"traj_steps_per_s": rate, "GFLOPs": rate * flops_per_step(d, n, bw) / 1e9, "numpy": np.__version__}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--binary", required=True, help="path to the built flow_throughput")
    ap.add_argument("--numpy-seconds", type=float, default=1.0)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()

    raw = subprocess.run([args.binary, "--benchmark_format=json"], check=True, capture_output=True, text=True).stdout
    gb = json.loads(raw)
    peak = next(b["GFLOPs"] for b in gb["benchmarks"] if b["name"].startswith("BM_Fp64PeakOneCore"))
    cores = os.cpu_count()
    dl = {}
    for b in gb["benchmarks"]:
        if b["name"].startswith("BM_RK4"):
            loss, d, n = b["label"].split()
            dl[(loss, int(d[2:]), int(n[2:]))] = b
    np_rows = {}
    for loss in ("square", "bw"):
        for d in (4, 8, 16, 32, 64):
            for n in (2, 4, 8):
                np_rows[(loss, d, n)] = numpy_synthetic(loss == "bw", d, n, 1000, args.numpy_seconds)

    rows = []
    for key in sorted(dl, key=lambda k: (k[0], k[1], k[2])):
        b, nrow = dl[key], np_rows.get(key)
        rows.append({"loss": key[0], "d": key[1], "N": key[2], "batch": int(b["batch"]), "steps": int(b["steps"]),
                     "dlnflow_traj_steps_per_s": b["traj_steps_per_s"], "dlnflow_GFLOPs": b["GFLOPs"],
                     "dlnflow_GFLOPs_per_core_vs_peak": b["GFLOPs"] / cores / peak,
                     "numpy_traj_steps_per_s": nrow["traj_steps_per_s"] if nrow else None,
                     "numpy_GFLOPs": nrow["GFLOPs"] if nrow else None,
                     "speedup_vs_numpy": b["traj_steps_per_s"] / nrow["traj_steps_per_s"] if nrow else None})
    stamp = datetime.date.today().isoformat()
    host = socket.gethostname().split(".")[0]
    meta = {"date": stamp, "host": host, "cpu": cpu_model(), "cores": cores,
            "fp64_peak_one_core_GFLOPs_measured": peak, "numpy": next(iter(np_rows.values()))["numpy"],
            "command": "scripts/bench-cpu.sh", "context": gb.get("context", {})}
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, f"cpu-{host}-{stamp}")
    with open(base + ".json", "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    with open(base + ".md", "w") as f:
        f.write(f"# CPU throughput, RK4, all {cores} cores: dlnflow on batch × steps as listed (up to 1000 "
                "trajectories, at least 20 steps), NumPy on a batch of 1000\n\n")
        f.write(f"{meta['cpu']}; measured FP64 peak of one core: {peak:.1f} GFLOP/s; NumPy {meta['numpy']}; "
                f"{stamp}; `scripts/bench-cpu.sh`.\n\n")
        f.write("| loss | d | N | batch × steps | dlnflow traj-steps/s | dlnflow GFLOP/s | per-core % of peak | NumPy traj-steps/s | NumPy GFLOP/s | dlnflow / NumPy |\n")
        f.write("|---|---|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write(f"| {r['loss']} | {r['d']} | {r['N']} | {r['batch']} × {r['steps']} | "
                    f"{r['dlnflow_traj_steps_per_s']:.3g} | {r['dlnflow_GFLOPs']:.2f} | "
                    f"{100 * r['dlnflow_GFLOPs_per_core_vs_peak']:.1f}% | {r['numpy_traj_steps_per_s']:.3g} | "
                    f"{r['numpy_GFLOPs']:.2f} | {r['speedup_vs_numpy']:.1f}x |\n")
    print(open(base + ".md").read())


if __name__ == "__main__":
    main()
