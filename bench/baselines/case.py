"""What every baseline shares: reading a benchmark case that bench/compare.py wrote (the problem
data, dlnflow's initial and final states), checking a baseline's final states against dlnflow's,
timing it, and printing one JSON line for compare.py.

A case folder holds case.json (loss, d, N, batch, method, dt, steps or t_final, tolerances),
the problem's data (target.npy or sigma0.npy, the same files dlnflow's experiment reads) and
proof/trajectories.h5, dlnflow's run of the same case with save_states = "endpoints".

A baseline is a function prepare(case, device) -> solve, where solve() integrates every
trajectory from case["initial"] and returns (final factors as a list of N arrays (B, d, d),
RHS evaluations per trajectory or None), having waited for the device. The first call is the
warm-up (compilation) and the proof: if its states differ from dlnflow's by more than the
case's tolerance, the baseline is reported as disagreeing and is not timed.
"""
import argparse
import json
import os
import statistics
import time

import numpy as np


def flops_per_rhs(d, n, bw):
    """FLOPs of one evaluation of the flow's right-hand side, all factors d x d. The chain
    rule costs 3(N-1) d x d products (forward prefix, backward pass, per-factor gradient), 2d^3
    each. The square loss 1/2||W - T||^2 adds no product. The smooth BW gradient adds five
    products and one symmetric eigendecomposition, counted as 9d^3 (LAPACK's tridiagonal
    reduction plus back-transformation), so 19d^3 in all."""
    return 6.0 * (n - 1) * d**3 + (19.0 * d**3 if bw else 0.0)


def load(folder):
    import h5py

    with open(os.path.join(folder, "case.json")) as f:
        case = json.load(f)
    bw = case["loss"] == "bw"
    case["data"] = np.load(os.path.join(folder, "sigma0.npy" if bw else "target.npy"))
    with h5py.File(os.path.join(folder, "proof", "trajectories.h5"), "r") as f:
        g = f["points/0"]
        n = case["N"]
        case["initial"] = [np.ascontiguousarray(g[f"initial_state/W{j}"][()]) for j in range(1, n + 1)]
        case["dlnflow_final"] = [g[f"final_state/W{j}"][()] for j in range(1, n + 1)]
    return case


def sigma0_sqrt(sigma0):
    lam, v = np.linalg.eigh(sigma0)
    return (v * np.sqrt(np.maximum(lam, 0.0))) @ v.T


def as_numpy(x):
    """A NumPy copy of a NumPy, JAX or (CPU or CUDA) PyTorch array."""
    return x.cpu().numpy() if hasattr(x, "cpu") and hasattr(x, "numpy") else np.asarray(x)


def relative_difference(final, reference):
    """Largest over trajectories of ||X - X_ref||_F / ||X_ref||_F, all factors stacked."""
    num = sum(np.sum((as_numpy(a) - b) ** 2, axis=(1, 2)) for a, b in zip(final, reference))
    den = sum(np.sum(b**2, axis=(1, 2)) for b in reference)
    return float(np.max(np.sqrt(num / den)))


def run(name, version, prepare, argv=None):
    ap = argparse.ArgumentParser(description=f"the {name} baseline on one case of bench/compare.py")
    ap.add_argument("case", help="the case folder bench/compare.py wrote")
    ap.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-seconds", type=float, default=60.0,
                    help="stop repeating once the timed calls took this long (at least one is timed)")
    args = ap.parse_args(argv)
    case = load(args.case)
    out = {"baseline": name, "version": version, "device": args.device, "loss": case["loss"], "d": case["d"],
           "N": case["N"], "batch": case["batch"], "method": case["method"]}
    try:
        solve = prepare(case, args.device)
        t0 = time.perf_counter()
        final, evals = solve()
        out["first_call_s"] = time.perf_counter() - t0  # compilation included
    except Exception as e:  # a baseline that cannot run this case is reported, not timed
        out.update(status="failed", error=f"{type(e).__name__}: {e}")
        print(json.dumps(out), flush=True)
        return
    out["rel_diff"] = relative_difference(final, case["dlnflow_final"])
    out["tolerance"] = case["tolerance"]
    if not out["rel_diff"] <= case["tolerance"]:
        out["status"] = "disagrees"
        print(json.dumps(out), flush=True)
        return
    seconds = []
    while len(seconds) < args.repeats and (not seconds or sum(seconds) < args.max_seconds):
        t0 = time.perf_counter()
        solve()
        seconds.append(time.perf_counter() - t0)
    out["status"] = "ok"
    out["seconds"] = seconds
    out["median_s"] = statistics.median(seconds)
    out["rhs_per_trajectory"] = float(np.mean(evals)) if evals is not None else 4.0 * case["steps"]
    print(json.dumps(out), flush=True)
