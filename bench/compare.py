#!/usr/bin/env python3
"""dlnflow against the JAX, PyTorch and NumPy programs a researcher would write, on the same
machine, the same work, in one run (issue #6).

For every case (loss, width d, depth N, batch, RK4 or adaptive) it
  1. writes the problem data and a dlnflow experiment, and runs it once on the CPU with
     save_states = "endpoints": the proof run, whose initial states every side starts from;
  2. times dlnflow (CPU on all cores; on a GPU machine also the fused and the batched path) with
     one run of R + 1 identical sweep points: point 0 is the warm-up, the median of points
     1..R is the time (the manifest's per-chunk seconds, which cover the batch's integration,
     initial states and, on the GPU, the transfers); every trajectory's final loss must agree
     with the proof run's within the case's tolerance;
  3. runs every available baseline (bench/baselines/*_flow.py, each in its own process) from
     the proof run's initial states: its first call (compilation) must land on dlnflow's final
     states within the case's tolerance (1e-9 relative for RK4), else it is not timed; then
     the median of R timed calls (fewer once they took --max-repeat-seconds), each waiting for
     its device.
It writes bench/results/<machine>-<date>.json and .png and refreshes the table of
docs/performance.md (unless --no-doc).

    bench/compare.py [--quick] [--sides S ...] [--d D ...] [--repeats R]   (scripts/bench-compare.sh)
"""
import argparse
import csv
import datetime
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "baselines"))
from case import flops_per_rhs  # noqa: E402

DT = 2.0**-7  # a power of two: t_final = steps * dt is exact, so every side takes the same steps
TAU = 0.1
RTOL, ATOL = 1e-8, 1e-10
ADAPTIVE_T_FINAL = 1.0
RK4_TOLERANCE = 1e-9  # the issue's bar for float64 fixed-step RK4
ADAPTIVE_TOLERANCE = 100 * RTOL  # two error-controlled solvers at rtol 1e-8 over the same interval
BASELINES = {"numpy": "numpy_flow.py", "jax": "jax_flow.py", "pytorch": "torch_flow.py"}
ALL_SIDES = ["dlnflow-cpu", "dlnflow-gpu-fused", "dlnflow-gpu-batched", "numpy-cpu", "jax-cpu", "pytorch-cpu",
             "jax-gpu", "pytorch-gpu"]
# Spec-sheet FP64 peaks of the GPUs (vector units; tensor-core DMMA doubles it on Hopper).
GPU_FP64_PEAK = {"H200": 34000.0, "H100 PCIe": 25600.0, "H100": 34000.0, "A100": 9700.0}


def log(msg):
    print(f"[compare] {msg}", file=sys.stderr, flush=True)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def gpu_name(dlnflow):
    out = subprocess.run([dlnflow, "info"], capture_output=True, text=True).stdout
    m = re.search(r"^GPU devices: (\d+)(?: \((.*)\))?", out, re.M)
    return m.group(2) if m and int(m.group(1)) > 0 else None


def gpu_peak(name):
    for key, peak in GPU_FP64_PEAK.items():
        if name and key in name:
            return peak
    return None


def cpu_peak(dlnflow):
    """FP64 peak of all cores: one core's, measured by flow_throughput's FMA probe, times the cores."""
    probe = os.path.join(os.path.dirname(os.path.abspath(dlnflow)), "bench", "flow_throughput")
    if not os.path.exists(probe):
        return None, f"not measured ({probe} not built)"
    r = subprocess.run([probe, "--benchmark_filter=BM_Fp64PeakOneCore", "--benchmark_format=json"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, "not measured (probe failed)"
    one = json.loads(r.stdout)["benchmarks"][0]["GFLOPs"]
    return one * os.cpu_count(), f"measured: {one:.1f} GFLOP/s per core x {os.cpu_count()} cores"


def module_version(module):
    r = subprocess.run([sys.executable, "-c", f"import {module}; print({module}.__version__)"],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


# ---------------------------------------------------------------- cases


def make_cases(args, gpu):
    """The headline RK4 case (d = 16, N = 4, batch 1e4), the adaptive solve at d = 16, N = 4 (batch
    1000 by default: a vmapped adaptive solve in JAX is the slowest side by far) and the RK4 sweep
    over d."""
    batch = args.batch or (10000 if gpu else 1000)
    cases = []
    for loss in args.loss:
        if not args.quick:
            cases.append({"loss": loss, "d": 16, "N": 4, "batch": args.headline_batch, "method": "rk4", "headline": True})
            cases.append({"loss": loss, "d": 16, "N": 4, "batch": args.adaptive_batch, "method": "dopri5",
                          "headline": False})
        for d in args.d:
            c = {"loss": loss, "d": d, "N": args.N, "batch": batch, "method": "rk4", "headline": False}
            if not any(all(o[k] == c[k] for k in ("loss", "d", "N", "batch", "method")) for o in cases):
                cases.append(c)
    for c in cases:
        bw = c["loss"] == "bw"
        c["id"] = f"{c['loss']}-d{c['d']}-N{c['N']}-B{c['batch']}-{c['method']}"
        c["tau"] = TAU
        if c["method"] == "rk4":
            per_step = 4 * flops_per_rhs(c["d"], c["N"], bw) * c["batch"]
            budget = args.gflop_per_repeat * 1e9
            c["steps"] = args.steps or int(min(2000, max(10, round(budget / per_step))))
            c["dt"] = DT
            c["t_final"] = c["steps"] * DT
            c["tolerance"] = RK4_TOLERANCE
        else:
            c.update(t_final=ADAPTIVE_T_FINAL, rtol=RTOL, atol=ATOL, tolerance=ADAPTIVE_TOLERANCE)
    return cases


def write_case(c, folder):
    os.makedirs(folder, exist_ok=True)
    d = c["d"]
    rng = np.random.default_rng(20261122 + d)
    if c["loss"] == "bw":
        a = rng.standard_normal((d, d))
        np.save(os.path.join(folder, "sigma0.npy"), a @ a.T / d + TAU * np.eye(d))
    else:
        np.save(os.path.join(folder, "target.npy"), rng.standard_normal((d, d)))
    with open(os.path.join(folder, "case.json"), "w") as f:
        json.dump({k: v for k, v in c.items() if k not in ("id", "headline")}, f, indent=1)


def experiment(c, points, save_states):
    """The case as a dlnflow experiment; `points` identical sweep points (common random numbers:
    every point starts from the same states)."""
    bw = c["loss"] == "bw"
    problem = (f'loss = "bures_wasserstein"\nsigma0 = "sigma0.npy"\ntau = {c["tau"]!r}' if bw else
               'loss = "matrix_approximation"\ntarget = "target.npy"')
    if c["method"] == "rk4":
        integrator, key, value = f'method = "rk4"\ndt = {c["dt"]!r}', "integrator.dt", c["dt"]
    else:
        integrator = f'method = "dopri5"\nrtol = {c["rtol"]!r}\natol = {c["atol"]!r}'
        key, value = "integrator.rtol", c["rtol"]
    axes = f'axes."{key}" = {[value] * points!r}\n' if points > 1 else ""
    return f"""name = "compare-{c['id']}"
[problem]
{problem}
[network]
depth = {c['N']}
width = {c['d']}
[initialization]
kind = "gaussian"
scale_on = "factors"
alpha = {float(1.0 / np.sqrt(c['d']))!r}
[integrator]
{integrator}
max_steps = 10000000
[stop]
t_final = {c['t_final']!r}
[record]
grid = "list"
times = []
save_states = "{save_states}"
[sweep]
seeds = {c['batch']}
seed = 2026
{axes}[run]
chunk_size = {c['batch']}
"""


def run_dlnflow(args, folder, name, toml_text, extra):
    path = os.path.join(folder, name + ".toml")
    with open(path, "w") as f:
        f.write(toml_text)
    out = os.path.join(folder, name)
    r = subprocess.run([args.dlnflow, "run", path, "--out", out, "--overwrite", "--quiet", *extra],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"dlnflow run {' '.join(extra)} exited {r.returncode}: {r.stderr.strip()[-400:]}")
    return out


def final_losses(out):
    with open(os.path.join(out, "summary.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    points = sorted({int(r["point"]) for r in rows})
    return {p: np.array([float(r["final_loss"]) for r in rows if int(r["point"]) == p]) for p in points}


def time_dlnflow(args, c, folder, side, proof_losses):
    import h5py

    extra = {"dlnflow-cpu": ["--backend", "cpu"],
             "dlnflow-gpu-fused": ["--backend", "gpu", "--gpu-path", "fused"],
             "dlnflow-gpu-batched": ["--backend", "gpu", "--gpu-path", "batched"]}[side]
    out = run_dlnflow(args, folder, side, experiment(c, args.repeats + 1, "none"), extra)
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    per_point = {}
    for ch in manifest["chunks"]:
        per_point.setdefault(ch["point"], ch["seconds"])  # a point's chunks run as one batch (one chunk here)
    seconds = [per_point[p] for p in range(1, args.repeats + 1)]
    losses = final_losses(out)
    ref = proof_losses[0]
    rel = max(float(np.max(np.abs(losses[p] - ref) / np.maximum(np.abs(ref), 1e-300))) for p in losses)
    with h5py.File(os.path.join(out, "trajectories.h5"), "r") as f:
        evals = float(np.mean(f["points/1/rhs_evaluations"][()]))
    res = {"side": side, "seconds": seconds, "median_s": statistics.median(seconds), "warmup_s": per_point[0],
           "rhs_per_trajectory": evals, "rel_diff": rel, "tolerance": c["tolerance"],
           "device": manifest.get("device"), "note": "final loss per trajectory against the proof run"}
    res["status"] = "ok" if rel <= c["tolerance"] else "disagrees"
    shutil.rmtree(out, ignore_errors=True)
    return res


def time_baseline(args, c, folder, side):
    name, device = side.rsplit("-", 1)
    cmd = [sys.executable, os.path.join(HERE, "baselines", BASELINES[name]), folder, "--device", device,
           "--repeats", str(args.repeats), "--max-seconds", str(args.max_repeat_seconds)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.baseline_timeout)
    except subprocess.TimeoutExpired:
        return {"side": side, "status": "failed", "error": f"timed out after {args.baseline_timeout} s"}
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        return {"side": side, "status": "failed", "error": (r.stderr.strip().splitlines() or ["no output"])[-1][-300:]}
    res = json.loads(lines[-1])
    res["side"] = side
    return res


def add_rates(c, res, peaks):
    if res.get("status") != "ok":
        return
    bw = c["loss"] == "bw"
    traj_per_s = c["batch"] / res["median_s"]
    res["traj_per_s"] = traj_per_s
    if c["method"] == "rk4":
        res["traj_steps_per_s"] = traj_per_s * c["steps"]
    # RK4: the four evaluations per step every side must do; an extra one a side spends (dlnflow's
    # final gradient norm) is its overhead, not counted work. Adaptive: each side's own count.
    evals = 4.0 * c["steps"] if c["method"] == "rk4" else res["rhs_per_trajectory"]
    res["GFLOPs"] = traj_per_s * evals * flops_per_rhs(c["d"], c["N"], bw) / 1e9
    peak = peaks["gpu" if "gpu" in res["side"] else "cpu"]
    res["fraction_of_peak"] = res["GFLOPs"] / peak if peak else None


# ---------------------------------------------------------------- outputs


def rate(res):
    return res.get("traj_steps_per_s") or res.get("traj_per_s")


def fmt(x, spec=".3g"):
    return "—" if x is None else format(x, spec)


def headline_speedups(results):
    """The issue's targets, on the headline RK4 cases: fused vs JAX vmap on the GPU, fused vs the
    best baseline of any kind, dlnflow CPU vs the best CPU baseline."""
    out = []
    for r in results:
        c = r["case"]
        if not (c["headline"] and c["method"] == "rk4"):
            continue
        ok = {s["side"]: rate(s) for s in r["sides"] if s.get("status") == "ok"}
        base = {k: v for k, v in ok.items() if not k.startswith("dlnflow")}
        cpu_base = {k: v for k, v in base.items() if k.endswith("-cpu")}
        row = {"case": c["id"]}
        if "dlnflow-cpu" in ok and cpu_base:
            best = max(cpu_base, key=cpu_base.get)
            row["cpu_vs_best_cpu_baseline"] = (ok["dlnflow-cpu"] / cpu_base[best], best)
        if "dlnflow-gpu-fused" in ok and "jax-gpu" in ok:
            row["fused_vs_jax_gpu"] = (ok["dlnflow-gpu-fused"] / ok["jax-gpu"], "jax-gpu")
        if "dlnflow-gpu-fused" in ok and base:
            best = max(base, key=base.get)
            row["fused_vs_best_baseline"] = (ok["dlnflow-gpu-fused"] / base[best], best)
        out.append(row)
    return out


def write_markdown(meta, results, speedups, png_path):
    L = []
    L.append(f"Measured {meta['date']} on **{meta['machine']}**: {meta['cpu']} ({meta['cores']} cores; FP64 peak "
             f"{fmt(meta['cpu_peak_GFLOPs'], '.0f')} GFLOP/s, {meta['cpu_peak_note']}); GPU: "
             f"{meta['gpu'] or 'none (every GPU column unmeasured)'}"
             + (f" (FP64 peak {meta['gpu_peak_GFLOPs']:.0f} GFLOP/s, spec sheet, non-tensor)" if meta['gpu'] else "")
             + ".")
    L.append("")
    L.append("Versions: " + "; ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".")
    cut = meta.get("max_repeat_seconds")
    L.append(f"Command: `{meta['command']}` (git {meta['git']}). Repeats: median of {meta['repeats']} after a warm-up"
             + (f" (a baseline stops once its timed calls took {cut:g} s)" if cut else "") + ".")
    L.append("")
    if speedups:
        L.append("**Against the targets of issue #6** (headline cases: d = 16, N = 4, batch 1e4, float64, RK4, "
                 "same steps):")
        L.append("")
        for s in speedups:
            parts = []
            for key, label, target in (("cpu_vs_best_cpu_baseline", "dlnflow CPU / best CPU baseline", 1.0),
                                       ("fused_vs_jax_gpu", "GPU fused / JAX vmap on the GPU", 100.0),
                                       ("fused_vs_best_baseline", "GPU fused / best baseline", 20.0)):
                if key in s:
                    v, who = s[key]
                    parts.append(f"{label} ({who}) = **{v:.1f}×** (target ≥ {target:g}×: "
                                 f"{'met' if v >= target else 'not met'})")
                else:
                    parts.append(f"{label}: unmeasured")
            L.append(f"- `{s['case']}`: " + "; ".join(parts) + ".")
        L.append("")
    L.append("| case | steps | side | traj-steps/s (RK4) or traj/s (adaptive) | RHS/traj | GFLOP/s | % of FP64 peak "
             "| × dlnflow CPU | rel. diff vs dlnflow | note |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        c = r["case"]
        ref = next((rate(s) for s in r["sides"] if s["side"] == "dlnflow-cpu" and s.get("status") == "ok"), None)
        for s in r["sides"]:
            ok = s.get("status") == "ok"
            pct = s.get("fraction_of_peak")
            note = "" if ok else f"{s.get('status')}: {s.get('error', '')}".strip()
            if s.get("status") == "disagrees":
                note = f"disagrees ({s['rel_diff']:.1e} > {s['tolerance']:g}): not timed"
            L.append(f"| {c['id']} | {c.get('steps', '—')} | {s['side']} | {fmt(rate(s)) if ok else '—'} | "
                     f"{fmt(s.get('rhs_per_trajectory'), '.0f') if ok else '—'} | {fmt(s.get('GFLOPs')) if ok else '—'} | "
                     f"{fmt(100 * pct, '.1f') + '%' if ok and pct else '—'} | "
                     f"{fmt(rate(s) / ref, '.2f') if ok and ref else '—'} | {fmt(s.get('rel_diff'), '.1e')} | "
                     f"{note.replace('|', '/')} |")
    if png_path:
        L.append("")
        L.append(f"![throughput against d, and the headline speedups]({png_path})")
    return "\n".join(L) + "\n"


def write_figure(path, results):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing: no figure")
        return False
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    for ax, loss in zip(axes[:2], ("square", "bw")):
        series = {}
        for r in results:
            c = r["case"]
            if c["loss"] != loss or c["method"] != "rk4" or c["batch"] != r["sweep_batch"]:
                continue
            for s in r["sides"]:
                if s.get("status") == "ok":
                    series.setdefault(s["side"], []).append((c["d"], s["traj_steps_per_s"]))
        for side, pts in sorted(series.items()):
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=side)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("d (all widths)")
        ax.set_ylabel("trajectory-steps / s")
        ax.set_title(f"{loss} loss, RK4, N = 4")
        ax.grid(True, which="both", alpha=0.3)
        if series:
            ax.legend(fontsize=7)
    ax = axes[2]
    labels, values = [], []
    for r in results:
        c = r["case"]
        if not (c["headline"] and c["method"] == "rk4"):
            continue
        ok = {s["side"]: rate(s) for s in r["sides"] if s.get("status") == "ok"}
        for mine in (k for k in ok if k.startswith("dlnflow")):
            for other in (k for k in ok if not k.startswith("dlnflow")):
                labels.append(f"{c['loss']}: {mine} / {other}")
                values.append(ok[mine] / ok[other])
    ax.barh(range(len(values)), values)
    ax.set_yticks(range(len(values)), labels, fontsize=7)
    ax.set_xscale("log")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlabel("speedup (ratio of trajectory-steps/s, same run)")
    ax.set_title("d = 16, N = 4, batch 1e4, RK4")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def update_doc(doc, table):
    begin, end = "<!-- compare.py table: begin -->", "<!-- compare.py table: end -->"
    with open(doc) as f:
        text = f.read()
    if begin not in text or end not in text:
        raise SystemExit(f"{doc} has no {begin} ... {end} markers")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(doc, "w") as f:
        f.write(head + begin + "\n" + table + end + tail)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dlnflow", help="the dlnflow binary (default: build-gpu/, build-bench/ or build/, the first found)")
    ap.add_argument("--sides", nargs="+", choices=ALL_SIDES, default=ALL_SIDES,
                    help="what to run (default: everything available; GPU sides need a GPU)")
    ap.add_argument("--loss", nargs="+", choices=["square", "bw"], default=["square", "bw"])
    ap.add_argument("--d", type=int, nargs="+", default=[4, 8, 16, 32], help="widths of the RK4 sweep")
    ap.add_argument("--N", type=int, default=4, help="depth of the RK4 sweep")
    ap.add_argument("--batch", type=int, help="batch of the RK4 sweep (default 1000; 10000 with a GPU)")
    ap.add_argument("--headline-batch", type=int, default=10000)
    ap.add_argument("--adaptive-batch", type=int, default=1000)
    ap.add_argument("--steps", type=int, help="RK4 steps of every case (default: from --gflop-per-repeat)")
    ap.add_argument("--gflop-per-repeat", type=float,
                    help="counted work of one timed RK4 repeat (default 20 GFLOP; 100 with a GPU); steps in [10, 2000]")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-repeat-seconds", type=float, default=60.0,
                    help="a baseline stops repeating once its timed calls took this long (at least one is timed)")
    ap.add_argument("--baseline-timeout", type=float, default=1800)
    ap.add_argument("--quick", action="store_true", help="only the RK4 sweep (no headline batch-1e4 case, no adaptive solve)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "performance.md"))
    ap.add_argument("--no-doc", action="store_true", help="leave docs/performance.md alone")
    ap.add_argument("--keep", help="keep the case folders here (default: a temporary folder, removed)")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 unless every side ran and agreed, 77 if a side asked for cannot run here (tests)")
    ap.add_argument("--render", metavar="JSON",
                    help="run nothing: redraw the PNG and the docs table from a results file (e.g. one a GPU machine wrote)")
    args = ap.parse_args()
    if args.render:
        render(args, args.render)
        return

    if args.dlnflow is None:  # build-gpu/ only where it finds a GPU: elsewhere it may be a stale pack
        for b in ("build-gpu", "build-bench", "build"):
            binary = os.path.join(ROOT, b, "dlnflow")
            if os.access(binary, os.X_OK) and (b != "build-gpu" or gpu_name(binary)):
                args.dlnflow = binary
                break
        else:
            raise SystemExit("no dlnflow binary found; build it (scripts/bench-compare.sh does) or pass --dlnflow")
    try:
        import h5py  # noqa: F401
    except ImportError:
        raise SystemExit("bench/compare.py needs h5py to read dlnflow's states (pip install h5py)")
    gpu = gpu_name(args.dlnflow)
    if args.gflop_per_repeat is None:
        args.gflop_per_repeat = 100.0 if gpu else 20.0
    versions = {"numpy": np.__version__}
    for m, label in (("jax", "jax"), ("diffrax", "diffrax"), ("torch", "pytorch")):
        versions[label] = module_version(m) or "not installed"
    sides, missing = [], []
    for s in args.sides:
        name = s.split("-")[0]
        if "gpu" in s and not gpu:
            missing.append(f"{s} (no GPU)")  # reported as unmeasured, not as failed
        elif name in ("jax", "pytorch") and versions[name] == "not installed":
            missing.append(f"{s} ({name} not installed; scripts/bench-compare.sh installs it)")
        else:
            sides.append(s)
    if missing:
        log("skipped: " + ", ".join(missing))
        if args.strict:  # the test's mode: a side asked for and not runnable is a skip, never a pass
            print("skipped: " + ", ".join(missing))
            sys.exit(77)
    cpu_peak_value, cpu_peak_note = cpu_peak(args.dlnflow)
    peaks = {"cpu": cpu_peak_value, "gpu": gpu_peak(gpu)}
    cases = make_cases(args, gpu)
    log(f"dlnflow {args.dlnflow}; GPU: {gpu or 'none'}; sides: {' '.join(sides)}; {len(cases)} cases")

    work = args.keep or tempfile.mkdtemp(prefix="dlnflow-compare-")
    results = []
    t_start = time.time()
    for i, c in enumerate(cases):
        folder = os.path.join(work, c["id"])
        write_case(c, folder)
        t0 = time.time()
        run_dlnflow(args, folder, "proof", experiment(c, 1, "endpoints"), ["--backend", "cpu"])
        proof_losses = final_losses(os.path.join(folder, "proof"))
        entry = {"case": c, "sweep_batch": args.batch or (10000 if gpu else 1000), "sides": []}
        for s in sides:
            if c["method"] != "rk4" and s.split("-")[0] in ("numpy", "pytorch"):
                continue  # neither ships an adaptive solver
            try:
                res = time_dlnflow(args, c, folder, s, proof_losses) if s.startswith("dlnflow") else \
                    time_baseline(args, c, folder, s)
            except RuntimeError as e:
                res = {"side": s, "status": "failed", "error": str(e)}
            add_rates(c, res, peaks)  # for the log line; render() recomputes
            entry["sides"].append(res)
            log(f"{c['id']}: {s}: {res.get('status')} "
                + (f"{rate(res):.3g}/s, {res['GFLOPs']:.2f} GFLOP/s, rel diff {res['rel_diff']:.1e}"
                   if res.get("status") == "ok" else res.get("error", f"rel diff {res.get('rel_diff')}")))
        results.append(entry)
        log(f"case {i + 1}/{len(cases)} done in {time.time() - t0:.0f} s")
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)

    date = datetime.date.today().isoformat()
    host = socket.gethostname().split(".")[0]
    machine = (re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-") if gpu else "cpu") + f"-{os.cpu_count()}c-{host}"
    git = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    argv = " ".join(sys.argv[1:])
    meta = {"date": date, "machine": machine, "cpu": cpu_model(), "cores": os.cpu_count(), "gpu": gpu,
            "cpu_peak_GFLOPs": cpu_peak_value, "cpu_peak_note": cpu_peak_note, "gpu_peak_GFLOPs": peaks["gpu"],
            "versions": versions, "git": git or "unknown", "repeats": args.repeats,
            "max_repeat_seconds": args.max_repeat_seconds, "dlnflow": args.dlnflow,
            "command": "bench/compare.py" + (f" {argv}" if argv else ""), "seconds": time.time() - t_start,
            "gpu_sides": "measured" if gpu else "unmeasured: no GPU on this machine"}
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"{machine}-{date}.json")
    with open(path, "w") as f:
        json.dump({"meta": meta, "speedups": headline_speedups(results), "results": results}, f, indent=1)
    render(args, path)
    statuses = [s.get("status") for r in results for s in r["sides"]]
    if "disagrees" in statuses:
        log("a side disagrees with dlnflow's states: see the table")
        sys.exit(1)
    if args.strict and any(st != "ok" for st in statuses):
        log("--strict: a side did not run: see the table")
        sys.exit(1)


def render(args, path):
    """The PNG beside the results file, the table on stdout and in docs/performance.md."""
    with open(path) as f:
        data = json.load(f)
    meta, results = data["meta"], data["results"]
    peaks = {"cpu": meta["cpu_peak_GFLOPs"], "gpu": meta["gpu_peak_GFLOPs"]}
    for r in results:
        for side in r["sides"]:
            add_rates(r["case"], side, peaks)
    data["speedups"] = headline_speedups(results)
    with open(path, "w") as f:  # the derived numbers follow this script's definitions; raw timings stay
        json.dump(data, f, indent=1)
    png = os.path.splitext(path)[0] + ".png"
    drawn = write_figure(png, results)
    rel_png = os.path.relpath(png, os.path.dirname(os.path.abspath(args.doc))) if drawn else None
    table = write_markdown(meta, results, headline_speedups(results), rel_png)
    print(table)
    if not args.no_doc:
        update_doc(args.doc, table)
        log(f"refreshed {args.doc}")
    log(f"wrote {path}" + (f" and {png}" if drawn else "") + f" (the run took {meta['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
