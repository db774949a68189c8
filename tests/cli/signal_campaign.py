#!/usr/bin/env python3
"""Interrupt and resume under fire: runs of an experiment are hit by SIGINT, SIGTERM or SIGKILL
at random times (while computing, while resuming, while the data files are written, sometimes
twice), resumed until complete, and the final summary.csv and trajectories.h5 are compared byte
for byte with an uninterrupted run's. The oracle is that uninterrupted run: every trajectory
depends only on its seed, and the data files are assembled from checkpoints, so nothing an
interrupt does may change a single byte.

    tests/cli/signal_campaign.py --bin build/dlnflow --trials 20            # the long campaign
    tests/cli/signal_campaign.py --bin build/dlnflow --trials 2 --quick     # CI (ctest reliability.Signals)

Exit 0 when every trial ended identical to the reference; prints one line per signal and
experiment, and with --json the figures docs/reliability.md quotes.
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A sweep with diverging points (alpha = 1e3) and one without, both long enough to be hit in
# every phase: many small chunks, and data files with a dense record grid.
def experiments(quick):
    base = open(os.path.join(SRC, "tests", "cli", "sweep.toml")).read()
    seeds = 24 if quick else 60
    common = base.replace("seeds = 5", f"seeds = {seeds}").replace("chunk_size = 3", "chunk_size = 2").replace(
        "count = 12", "count = 400")
    calm = common.replace("axes.initialization.alpha = [1e-3, 1e-1, 1e3]", "axes.initialization.alpha = [1e-3, 1e-1]")
    return {"diverging": common, "calm": calm}


def run(bin_, exp, out, resume):
    args = [bin_, "run", exp, "--out", out, "--quiet", "--threads", "1"]
    if resume:
        args.append("--resume")
    return subprocess.Popen(args, stderr=subprocess.PIPE, text=True)


def same(a, b):
    for name in ("summary.csv", "trajectories.h5"):
        with open(os.path.join(a, name), "rb") as fa, open(os.path.join(b, name), "rb") as fb:
            if fa.read() != fb.read():
                return False
    return True


def chunks_on_disk(out):
    d = os.path.join(out, "chunks")
    return sum(1 for f in os.listdir(d) if f.endswith(".bin")) if os.path.isdir(d) else 0


def trial(bin_, exp, ref, seconds, chunks, sig, rng, work):
    """One folder driven to completion through signals; returns (identical, stages hit, signals)."""
    out = os.path.join(work, "out")
    shutil.rmtree(out, ignore_errors=True)
    stages, sent, attempt = set(), 0, 0
    while True:
        p = run(bin_, exp, out, resume=os.path.exists(out))  # killed before the folder appeared: start again
        if rng.random() < 0.3:
            # Aimed at the final writes: as soon as the last checkpoint is on disk.
            while p.poll() is None and chunks_on_disk(out) < chunks:
                time.sleep(0.0005)
        else:
            try:
                p.wait(timeout=rng.uniform(0.0, 1.3 * seconds))
            except subprocess.TimeoutExpired:
                pass
        if p.poll() is None:
            final = chunks_on_disk(out) == chunks  # every chunk computed: the data files are being written
            p.send_signal(sig)
            sent += 1
            stages.add("final writes" if final else "resume" if attempt > 0 else "first run")
            if sig != signal.SIGKILL and rng.random() < 0.3:  # a second signal exits at once
                time.sleep(rng.uniform(0.0, 0.05))
                if p.poll() is None:
                    p.send_signal(sig)
                    stages.add("second signal")
        err = p.communicate(timeout=600)[1]
        if p.returncode == 0:
            break
        if p.returncode not in (130, -signal.SIGKILL, -signal.SIGINT, -signal.SIGTERM):
            raise RuntimeError(f"run exited {p.returncode}: {err}")
        attempt += 1
        if attempt > 200:
            raise RuntimeError("no progress after 200 attempts")
    return same(ref, out), stages, sent


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("DLNFLOW_BIN", os.path.join(SRC, "build", "dlnflow")))
    ap.add_argument("--trials", type=int, default=20, help="trials per signal and experiment")
    ap.add_argument("--signals", nargs="+", default=["INT", "TERM", "KILL"])
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--quick", action="store_true", help="smaller experiments (CI)")
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="dlnflow-signals-")
    figures, ok = [], True
    try:
        for name, text in experiments(a.quick).items():
            exp = os.path.join(work, f"{name}.toml")
            open(exp, "w").write(text)
            ref = os.path.join(work, f"ref-{name}")
            t0 = time.time()
            r = subprocess.run([a.bin, "run", exp, "--out", ref, "--quiet", "--threads", "1"], capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"reference run failed: {r.stderr}")
            seconds = time.time() - t0
            chunks = len(json.load(open(os.path.join(ref, "manifest.json")))["chunks"])
            for s in a.signals:
                sig = getattr(signal, "SIG" + s)
                identical, stages, sent = 0, set(), 0
                for _ in range(a.trials):
                    same_bytes, hit, n = trial(a.bin, exp, ref, seconds, chunks, sig, rng, work)
                    identical += same_bytes
                    stages |= hit
                    sent += n
                ok &= identical == a.trials
                line = {"experiment": name, "signal": "SIG" + s, "trials": a.trials, "identical": identical,
                        "signals_sent": sent, "stages_hit": sorted(stages), "reference_seconds": round(seconds, 2)}
                figures.append(line)
                print(f"{name:9s} SIG{s:4s}: {identical}/{a.trials} trials identical to the uninterrupted run, "
                      f"{sent} signals, hit: {', '.join(sorted(stages))}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if a.json:
        json.dump(figures, open(a.json, "w"), indent=2)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
