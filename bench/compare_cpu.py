#!/usr/bin/env python3
"""Runs the dlnflow CPU throughput benchmark and the NumPy baseline in one run on this machine
and writes bench/results/cpu-<host>-<date>.{json,md} with the ratio per configuration."""
import argparse
import datetime
import json
import os
import platform
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


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
    proc = subprocess.run([sys.executable, os.path.join(HERE, "baselines", "numpy_flow.py"),
                           "--seconds", str(args.numpy_seconds)], check=True, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        r = json.loads(line)
        np_rows[(r["loss"], r["d"], r["N"])] = r

    rows = []
    for key in sorted(dl, key=lambda k: (k[0], k[1], k[2])):
        b, nrow = dl[key], np_rows.get(key)
        rows.append({"loss": key[0], "d": key[1], "N": key[2], "batch": 1000,
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
        f.write(f"# CPU throughput, RK4, batch 1000, all {cores} cores\n\n")
        f.write(f"{meta['cpu']}; measured FP64 peak of one core: {peak:.1f} GFLOP/s; NumPy {meta['numpy']}; "
                f"{stamp}; `scripts/bench-cpu.sh`.\n\n")
        f.write("| loss | d | N | dlnflow traj-steps/s | dlnflow GFLOP/s | per-core % of peak | NumPy traj-steps/s | NumPy GFLOP/s | dlnflow / NumPy |\n")
        f.write("|---|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write(f"| {r['loss']} | {r['d']} | {r['N']} | {r['dlnflow_traj_steps_per_s']:.3g} | {r['dlnflow_GFLOPs']:.2f} | "
                    f"{100 * r['dlnflow_GFLOPs_per_core_vs_peak']:.1f}% | {r['numpy_traj_steps_per_s']:.3g} | "
                    f"{r['numpy_GFLOPs']:.2f} | {r['speedup_vs_numpy']:.1f}x |\n")
    print(open(base + ".md").read())


if __name__ == "__main__":
    main()
