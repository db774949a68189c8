#!/usr/bin/env python3
"""The stiff saddle-to-saddle benchmark of issue #15 (docs/benchmarks.md, docs/numerics.md).

The case: target { generate = "low_rank", size = 10, spectrum = [4, 3, 2, 1] }, Gaussian start of
scale alpha (end to end), depths 3 and 4, one event per singular value crossing half its target
value (the last one terminal), rtol 1e-9, atol 1e-14, 32 seeds per point. In one run, with one
binary, on the same initial states:

  * sweep: alpha = 1e-1 ... 1e-8 (8 values, log-spaced), dopri5 against auto, wall time per
    point and the ratio; every escape time of both against a tight dopri5 reference (rtol 1e-11,
    atol 1e-16), whose worst relative difference is reported;
  * beyond: auto alone at alpha = 1e-12 ... 1e-24 (depth 3; 1e-20 at depth 4), against dopri5 extrapolated
    from its measured time per step and the step count it would need (steps on a plateau grow
    like alpha^-(1 - 2/N), so the 1e-8 count times (1e-8 / alpha)^(1 - 2/N));
  * the cost per trajectory of auto from alpha = 1e-4 to 1e-24 (steps, seconds), which issue #15
    asks to grow at most logarithmically in 1/alpha.

  * --accuracy (instead of the above): how accurate auto's escape times are at rtol 1e-9 and
    1e-11 for these Gaussian starts far below what dopri5 can check, against auto itself at
    rtol 1e-13, atol 1e-24 (where that takes hours, at depth 4 below 1e-16 and depth 3 below
    1e-20, against rtol 1e-11); 4 seeds. (dopri5 at rtol 1e-9 agrees with that reference to
    1.3e-10 at depth 4, alpha = 1e-12, in 4.3 million steps a trajectory.) Below some alpha the
    escape times stop converging as rtol shrinks: float64 roundoff, not the integrator, decides
    them there (docs/numerics.md, "Limits").

    bench/stiff_switching.py --bin build/dlnflow [--seeds 32] [--threads 2] [--quick] [--backend gpu]
    bench/stiff_switching.py --bin build/dlnflow --accuracy [--seeds 4]

(--backend gpu: every run on the fused GPU path, the tight reference included; what
scripts/gpu-check.sh runs on a GPU machine, as --quick.)

Writes bench/results/stiff-<machine>-<date>.json and prints the tables docs/benchmarks.md quotes.
"""
import argparse
import csv
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEVELS = [2.0, 1.5, 1.0, 0.5]


def experiment(method, depth, alpha, seeds, rtol=1e-9, atol=1e-14):
    events = "".join(
        f'[[events]]\nname = "escape{i + 1}"\nkind = "singular_value"\nindex = {i + 1}\nlevel = {lv}\n'
        f'crossing = "up"\n{"terminal = true" if i == 3 else ""}\n'
        for i, lv in enumerate(LEVELS))
    return f"""name = "stiff-{method}-N{depth}-a{alpha:g}"
[problem]
loss = "matrix_approximation"
target = {{ generate = "low_rank", size = 10, spectrum = [4.0, 3.0, 2.0, 1.0] }}
[network]
parametrization = "deep"
depth = {depth}
width = 10
[initialization]
kind = "gaussian"
alpha = {alpha!r}
scale_on = "end_to_end"
[integrator]
method = "{method}"
rtol = {rtol!r}
atol = {atol!r}
[stop]
t_final = 1e40
{events}
[sweep]
seeds = {seeds}
seed = 2026
"""


BACKEND = "auto"


def run(bin_, work, threads, method, depth, alpha, seeds, **tol):
    name = f"{method}-{tol.get('rtol', 1e-9):g}-N{depth}-a{alpha:g}"
    path = os.path.join(work, name + ".toml")
    out = os.path.join(work, name)
    open(path, "w").write(experiment(method, depth, alpha, seeds, **tol))
    t0 = time.perf_counter()
    p = subprocess.run([bin_, "run", path, "--out", out, "--threads", str(threads), "--quiet", "--backend", BACKEND],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{bin_} run {path} exited {p.returncode}: {p.stderr}")
    rows = list(csv.DictReader(open(os.path.join(out, "summary.csv"))))
    shutil.rmtree(out)
    escapes = [[float(r[f"t_escape{i + 1}"]) for i in range(4)] for r in rows]
    ok = all(r["status"] == "event_stop" for r in rows) and all(math.isfinite(t) for e in escapes for t in e)
    steps = [int(r["steps"]) for r in rows]
    res = {"method": method, "depth": depth, "alpha": alpha, "seconds": wall, "trajectories": len(rows),
           "all_escaped": ok, "steps_median": sorted(steps)[len(steps) // 2], "steps_total": sum(steps),
           "escapes": escapes}
    if "switches" in rows[0]:
        res["switches_median"] = sorted(int(r["switches"]) for r in rows)[len(rows) // 2]
        res["implicit_time_fraction"] = sum(float(r["implicit_time"]) for r in rows) / sum(float(r["t_end"]) for r in rows)
    return res


def worst_rel(a, ref):
    return max(abs(x - y) / abs(y) for ea, er in zip(a, ref) for x, y in zip(ea, er))


# depth: (alpha, ...); rtol 1e-13 is the reference down to the last but one, rtol 1e-11 at the last
ACCURACY_ALPHAS = {3: [1e-12, 1e-16, 1e-20, 1e-24], 4: [1e-10, 1e-12, 1e-16, 1e-20]}
TOLERANCES = {1e-9: 1e-14, 1e-11: 1e-20, 1e-13: 1e-24}  # rtol: atol


def accuracy(a, work, seeds):
    """Escape times of auto against its own tight runs (see the module docstring)."""
    rows = []
    points = [(depth, alpha, alpha == alphas[-1]) for depth, alphas in ACCURACY_ALPHAS.items() for alpha in alphas]
    for depth, alpha, last in points:
        rtols = [1e-9, 1e-11] if last else [1e-9, 1e-11, 1e-13]
        runs = {rt: run(a.bin, work, a.threads, "auto", depth, alpha, seeds, rtol=rt, atol=TOLERANCES[rt])
                for rt in rtols}
        ref = runs[rtols[-1]]
        for rt in rtols[:-1]:
            r = runs[rt]
            row = {"depth": depth, "alpha": alpha, "rtol": rt, "atol": TOLERANCES[rt], "reference_rtol": rtols[-1],
                   "worst_vs_reference": worst_rel(r["escapes"], ref["escapes"]),
                   "steps_median": r["steps_median"], "seconds": r["seconds"],
                   "reference_steps_median": ref["steps_median"], "reference_seconds": ref["seconds"],
                   "all_escaped": r["all_escaped"] and ref["all_escaped"]}
            rows.append(row)
            print(f"N={depth} alpha={alpha:.0e} rtol={rt:.0e}: worst escape vs rtol {rtols[-1]:.0e} "
                  f"{row['worst_vs_reference']:.1e} ({r['steps_median']} steps, {r['seconds']:.2f} s; reference "
                  f"{ref['steps_median']} steps, {ref['seconds']:.1f} s)", flush=True)
    print("\n| N | alpha | rtol | worst escape vs reference | reference rtol | steps | reference steps |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['depth']} | {r['alpha']:.0e} | {r['rtol']:.0e} | {r['worst_vs_reference']:.1e} | "
              f"{r['reference_rtol']:.0e} | {r['steps_median']} | {r['reference_steps_median']} |")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(SRC, "build", "dlnflow"))
    ap.add_argument("--seeds", type=int, default=None, help="seeds per point (default 32; 4 with --quick or --accuracy)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="4 seeds, alpha down to 1e-6 and 1e-16 (a smoke run)")
    ap.add_argument("--out", default=None, help="JSON file (default bench/results/stiff-<machine>-<date>.json)")
    ap.add_argument("--backend", choices=["auto", "cpu", "gpu"], default="auto", help="dlnflow run --backend")
    ap.add_argument("--accuracy", action="store_true",
                    help="only the escape-time accuracy of auto far below dopri5's reach (depth 3 to 1e-24, 4 to 1e-20)")
    a = ap.parse_args()
    global BACKEND
    BACKEND = a.backend
    machine = f"{platform.machine()}-{os.cpu_count()}c"
    if a.accuracy:
        seeds = a.seeds or 4
        work = tempfile.mkdtemp(prefix="dlnflow-stiff-")
        try:
            rows = accuracy(a, work, seeds)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        out = a.out or os.path.join(SRC, "bench", "results", f"stiff-accuracy-{machine}-{datetime.date.today()}.json")
        json.dump({"machine": platform.platform(), "cpus": os.cpu_count(), "threads": a.threads, "seeds": seeds,
                   "backend": a.backend, "command": " ".join(sys.argv),
                   "date": datetime.datetime.now().isoformat(timespec="seconds"), "accuracy": rows},
                  open(out, "w"), indent=1)
        print(f"\nwrote {out}")
        return
    seeds = a.seeds or (4 if a.quick else 32)
    sweep = [10.0 ** -k for k in range(1, 7 if a.quick else 9)]
    # Depth 4 stops at 1e-20: at 1e-24 a Gaussian start costs 17-26 s per trajectory and its
    # escape times lose accuracy (docs/numerics.md, "Limits"; --accuracy); the structured start of
    # examples/stiff/escape_full_observation.toml goes to 1e-24 at both depths.
    beyond = {3: [1e-12, 1e-16] if a.quick else [1e-12, 1e-16, 1e-20, 1e-24],
              4: [1e-12, 1e-16] if a.quick else [1e-12, 1e-16, 1e-20]}
    work = tempfile.mkdtemp(prefix="dlnflow-stiff-")
    rows, cost = [], []
    try:
        for depth in (3, 4):
            for alpha in sweep:
                dp = run(a.bin, work, a.threads, "dopri5", depth, alpha, seeds)
                au = run(a.bin, work, a.threads, "auto", depth, alpha, seeds)
                ref = run(a.bin, work, a.threads, "dopri5", depth, alpha, seeds, rtol=1e-11, atol=1e-16)
                row = {"depth": depth, "alpha": alpha, "dopri5_s": dp["seconds"], "auto_s": au["seconds"],
                       "speedup": dp["seconds"] / au["seconds"], "dopri5_steps": dp["steps_median"],
                       "auto_steps": au["steps_median"], "auto_switches": au["switches_median"],
                       "auto_implicit_time_fraction": au["implicit_time_fraction"],
                       "all_escaped": dp["all_escaped"] and au["all_escaped"] and ref["all_escaped"],
                       "auto_vs_ref": worst_rel(au["escapes"], ref["escapes"]),
                       "dopri5_vs_ref": worst_rel(dp["escapes"], ref["escapes"]),
                       "dopri5_s_per_step": dp["seconds"] / dp["steps_total"]}
                rows.append(row)
                print(f"N={depth} alpha={alpha:.0e}: dopri5 {dp['seconds']:.2f} s ({dp['steps_median']} steps), "
                      f"auto {au['seconds']:.2f} s ({au['steps_median']} steps, {au['switches_median']} switches): "
                      f"{row['speedup']:.1f}x; escapes vs rtol 1e-11: auto {row['auto_vs_ref']:.1e}, "
                      f"dopri5 {row['dopri5_vs_ref']:.1e}", flush=True)
                if alpha <= 1e-4:
                    cost.append({"depth": depth, "alpha": alpha, "seconds_per_trajectory": au["seconds"] / seeds,
                                 "steps_median": au["steps_median"], "all_escaped": au["all_escaped"]})
            last = rows[-1]
            for alpha in beyond[depth]:
                au = run(a.bin, work, a.threads, "auto", depth, alpha, seeds)
                growth = (last["alpha"] / alpha) ** (1 - 2 / depth)
                dp_steps = last["dopri5_steps"] * growth
                dp_s = dp_steps * seeds * last["dopri5_s_per_step"]
                cost.append({"depth": depth, "alpha": alpha, "seconds_per_trajectory": au["seconds"] / seeds,
                             "steps_median": au["steps_median"], "all_escaped": au["all_escaped"],
                             "seconds": au["seconds"], "dopri5_extrapolated_s": dp_s,
                             "speedup_vs_extrapolated": dp_s / au["seconds"]})
                print(f"N={depth} alpha={alpha:.0e}: auto {au['seconds']:.2f} s for {seeds} trajectories "
                      f"({au['steps_median']} steps, all escaped: {au['all_escaped']}); dopri5 extrapolated "
                      f"{dp_s:.3g} s ({dp_steps:.3g} steps): {dp_s / au['seconds']:.3g}x", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("\n| N | alpha | dopri5 s | auto s | speedup | dopri5 steps | auto steps | switches | auto vs ref |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['depth']} | {r['alpha']:.0e} | {r['dopri5_s']:.2f} | {r['auto_s']:.2f} | {r['speedup']:.1f}x | "
              f"{r['dopri5_steps']} | {r['auto_steps']} | {r['auto_switches']} | {r['auto_vs_ref']:.1e} |")
    print("\n| N | alpha | auto s / trajectory | auto steps | all escaped |")
    print("|---|---|---|---|---|")
    for c in cost:
        print(f"| {c['depth']} | {c['alpha']:.0e} | {c['seconds_per_trajectory']:.3f} | {c['steps_median']} | "
              f"{c['all_escaped']} |")
    out = a.out or os.path.join(SRC, "bench", "results", f"stiff-{machine}-{datetime.date.today()}.json")
    json.dump({"machine": platform.platform(), "cpus": os.cpu_count(), "threads": a.threads, "seeds": seeds,
               "backend": a.backend,
               "command": " ".join(sys.argv), "date": datetime.datetime.now().isoformat(timespec="seconds"),
               "sweep": rows, "cost": cost}, open(out, "w"), indent=1)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
