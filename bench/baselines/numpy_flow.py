#!/usr/bin/env python3
"""The RK4 gradient flow of a deep linear network, batched over trajectories, written as a
capable researcher would with NumPy: (B, d, d) stacks, np.matmul, batched np.linalg.eigh.

Same problems and FLOP counts as bench/flow_throughput.cpp (see bench/flop_counts.hpp).
Prints one JSON object per configuration: trajectory-steps/s and GFLOP/s.
"""
import argparse
import json
import time

import numpy as np


def flops_per_step(d, n, bw):
    chain = 3.0 * (n - 1) * 2.0 * d**3
    loss = 21.0 * d**3 if bw else 2.0 * d**3
    return 4.0 * (chain + loss)


def make_problem(bw, d, rng):
    if bw:
        a = rng.standard_normal((d, d))
        s0 = a @ a.T / d + 0.1 * np.eye(d)
        lam, v = np.linalg.eigh(s0)
        return {"s0": s0, "s0h": (v * np.sqrt(lam)) @ v.T, "tau": 0.1}
    return {"cxx": np.eye(d), "cyx": rng.standard_normal((d, d))}


def loss_grad(w, prob):
    if "cxx" in prob:  # square loss 1/2 ||Y - W X||^2 through C_xx, C_yx
        return w @ prob["cxx"] - prob["cyx"]
    m = prob["s0h"] @ w  # smooth Bures-Wasserstein loss
    a = m @ m.transpose(0, 2, 1) + prob["tau"] * prob["s0"]
    lam, v = np.linalg.eigh(a)
    a_inv_sqrt = (v / np.sqrt(lam)[:, None, :]) @ v.transpose(0, 2, 1)
    t = prob["s0h"] @ a_inv_sqrt @ prob["s0h"]
    return 2.0 * (w - t @ w)


def rhs(ws, prob):
    prefix = [ws[0]]
    for w in ws[1:]:
        prefix.append(w @ prefix[-1])
    back = loss_grad(prefix[-1], prob)
    out = [None] * len(ws)
    for j in range(len(ws) - 1, -1, -1):
        out[j] = -(back @ prefix[j - 1].transpose(0, 2, 1)) if j > 0 else -back
        if j > 0:
            back = ws[j].transpose(0, 2, 1) @ back
    return out


def rk4_step(ws, h, prob):
    k1 = rhs(ws, prob)
    k2 = rhs([w + 0.5 * h * k for w, k in zip(ws, k1)], prob)
    k3 = rhs([w + 0.5 * h * k for w, k in zip(ws, k2)], prob)
    k4 = rhs([w + h * k for w, k in zip(ws, k3)], prob)
    return [w + (h / 6.0) * (a + 2 * b + 2 * c + e) for w, a, b, c, e in zip(ws, k1, k2, k3, k4)]


def run(bw, d, n, batch, seconds):
    rng = np.random.default_rng(7)
    prob = make_problem(bw, d, rng)
    ws = [rng.standard_normal((batch, d, d)) / np.sqrt(d) for _ in range(n)]
    ws = rk4_step(ws, 1e-3, prob)  # warm-up
    steps, t0 = 0, time.perf_counter()
    while True:
        ws = rk4_step(ws, 1e-3, prob)
        steps += 1
        elapsed = time.perf_counter() - t0
        if elapsed > seconds:
            break
    rate = batch * steps / elapsed
    return {"loss": "bw" if bw else "square", "d": d, "N": n, "batch": batch, "steps": steps,
            "traj_steps_per_s": rate, "GFLOPs": rate * flops_per_step(d, n, bw) / 1e9,
            "numpy": np.__version__}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=1.0, help="timed seconds per configuration")
    ap.add_argument("--d", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    ap.add_argument("--N", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--loss", choices=["square", "bw"], nargs="+", default=["square", "bw"])
    args = ap.parse_args()
    for loss in args.loss:
        for d in args.d:
            for n in args.N:
                print(json.dumps(run(loss == "bw", d, n, args.batch, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
