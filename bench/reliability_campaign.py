#!/usr/bin/env python3
"""The long reliability campaign of docs/reliability.md, with the figures it quotes:

  * signals: SIGINT, SIGTERM and SIGKILL at random times, >= 20 trials per signal and experiment
    (tests/cli/signal_campaign.py), every trial byte-identical to the uninterrupted run;
  * memory: a run of 10^6 trajectories x 100 record times, its peak RSS against the size of
    the trajectories.h5 it writes (the target: under 1 GB);
  * MPI: the same CPU-bound sweep on 1 and 2 ranks (one thread each, and the default threads),
    wall time and speedup, files identical;
  * fuzzing: scripts/fuzz.sh with >= 10^6 executions per target (skipped with --no-fuzz).

    bench/reliability_campaign.py --bin build/dlnflow [--trials 20] [--no-fuzz]

Writes bench/results/reliability-<machine>-<date>.json and prints a table per part.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak_rss(cmd, **kw):
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    _, status, usage = os.wait4(p.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(cmd)} exited {code}: {p.stderr.read().decode()}")
    return usage.ru_maxrss * 1024, time.time() - t0


def memory(bin_, work):
    exp = os.path.join(work, "million.toml")
    open(exp, "w").write("""name = "million"
[problem]
loss = "matrix_approximation"
target = [[3.0, 0.0], [0.0, 1.0]]
[network]
depth = 2
[initialization]
alpha = 1e-3
[integrator]
method = "euler"
dt = 0.01
[stop]
t_final = 0.5
[record]
grid = "uniform"
count = 100
[sweep]
seeds = 1000000
[run]
chunk_size = 1000
""")
    base, _ = peak_rss([bin_, "--version"])
    out = os.path.join(work, "million")
    peak, secs = peak_rss([bin_, "run", exp, "--out", out, "--quiet"])
    h5 = os.path.getsize(os.path.join(out, "trajectories.h5"))
    import h5py  # the file reads as documented
    with h5py.File(os.path.join(out, "trajectories.h5"), "r") as f:
        shape = f["points/0/loss"].shape
    shutil.rmtree(out)
    return {"trajectories": 1000000, "record_times": 100, "peak_rss_bytes": peak, "binary_rss_bytes": base,
            "trajectories_h5_bytes": h5, "loss_shape": list(shape), "seconds": round(secs, 1)}


def mpi(bin_, work):
    if not shutil.which("mpirun") or "MPI compiled: yes" not in subprocess.run([bin_, "info"], capture_output=True, text=True).stdout:
        return {"skipped": "no MPI in this build or no mpirun"}
    exp = os.path.join(work, "mpi.toml")
    open(exp, "w").write("""name = "mpi"
[problem]
loss = "matrix_approximation"
target = { generate = "low_rank", size = 10, spectrum = [4.0, 3.0, 2.0, 1.0] }
[network]
depth = 3
[initialization]
alpha = 1e-4
[integrator]
method = "dopri5"
rtol = 1e-9
[stop]
t_final = 300.0
[sweep]
seeds = 400
[run]
chunk_size = 2
""")
    out, rows = {}, []
    mpirun = ["mpirun", "--allow-run-as-root", "--oversubscribe"]
    for threads in ("1", "0"):
        for n in ("1", "2"):
            times = []
            for rep in range(3):  # median of three: the machine is shared
                d = os.path.join(work, f"mpi-{n}-{threads}")
                shutil.rmtree(d, ignore_errors=True)
                t0 = time.time()
                r = subprocess.run(mpirun + ["-np", n, bin_, "run", exp, "--out", d, "--quiet", "--threads", threads],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    sys.exit(r.stderr)
                times.append(time.time() - t0)
            rows.append({"ranks": int(n), "threads_per_rank": "1" if threads == "1" else "default",
                         "seconds_median_of_3": round(sorted(times)[1], 2), "seconds": [round(t, 2) for t in times]})
    ref = os.path.join(work, "mpi-1-1")
    identical = all(open(os.path.join(ref, f), "rb").read() == open(os.path.join(work, d, f), "rb").read()
                    for d in ("mpi-2-1", "mpi-1-0", "mpi-2-0") for f in ("summary.csv", "trajectories.h5"))
    out["runs"] = rows
    med = [r["seconds_median_of_3"] for r in rows]
    out["speedup_1_thread_per_rank"] = round(med[0] / med[1], 2)
    out["speedup_default_threads"] = round(med[2] / med[3], 2)
    out["identical_files"] = identical
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(SRC, "build", "dlnflow"))
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--fuzz-runs", type=int, default=1000000)
    ap.add_argument("--no-fuzz", action="store_true")
    ap.add_argument("--parts", nargs="+", default=["signals", "memory", "mpi", "fuzz"])
    a = ap.parse_args()
    bin_ = os.path.abspath(a.bin)
    work = tempfile.mkdtemp(prefix="dlnflow-campaign-")
    machine = f"{platform.machine()}-{os.cpu_count()}c-{socket.gethostname()}"
    result = {"machine": machine, "cpu_count": os.cpu_count(), "date": datetime.date.today().isoformat(),
              "binary": subprocess.run([bin_, "--version"], capture_output=True, text=True).stdout.strip()}
    try:
        if "signals" in a.parts:
            js = os.path.join(work, "signals.json")
            t0 = time.time()
            r = subprocess.run([sys.executable, os.path.join(SRC, "tests", "cli", "signal_campaign.py"), "--bin", bin_,
                                "--trials", str(a.trials), "--json", js])
            result["signals"] = {"ok": r.returncode == 0, "seconds": round(time.time() - t0), "rows": json.load(open(js))}
        if "memory" in a.parts:
            result["memory"] = memory(bin_, work)
            print(json.dumps(result["memory"], indent=2), flush=True)
        if "mpi" in a.parts:
            result["mpi"] = mpi(bin_, work)
            print(json.dumps(result["mpi"], indent=2), flush=True)
        if "fuzz" in a.parts and not a.no_fuzz:
            js = os.path.join(work, "fuzz.json")
            r = subprocess.run(["bash", os.path.join(SRC, "scripts", "fuzz.sh"), "--runs", str(a.fuzz_runs), "--seconds", "7200", "--json", js])
            result["fuzz"] = {"ok": r.returncode == 0, "targets": json.load(open(js)) if os.path.exists(js) else None}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(SRC, "bench", "results"), exist_ok=True)
    path = os.path.join(SRC, "bench", "results", f"reliability-{machine}-{result['date']}.json")
    if os.path.exists(path):  # parts run separately on one day end up in one file
        earlier = json.load(open(path))
        earlier.update(result)
        result = earlier
    json.dump(result, open(path, "w"), indent=2)
    print(f"wrote {path}")
    ok = all(result.get(k, {}).get("ok", True) for k in ("signals", "fuzz")) and result.get("mpi", {}).get("identical_files", True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
