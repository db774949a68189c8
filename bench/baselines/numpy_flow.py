#!/usr/bin/env python3
"""The gradient flow of a deep linear network written as a capable researcher would with NumPy:
(B, d, d) stacks of factors, np.matmul, batched np.linalg.eigh for the BW loss, classical RK4.

    numpy_flow.py CASE [--repeats R]     one case of bench/compare.py (fixed-step RK4 only)

bench/compare_cpu.py also imports rk4_step for its synthetic problems (issue #2's table).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import case as bench_case  # noqa: E402


def loss_grad(w, prob):
    """dL/dW for a stack W (B, rows, cols)."""
    if "target" in prob:  # 1/2 ||W - T||^2
        return w - prob["target"]
    if "cxx" in prob:  # 1/2 ||Y - W X||^2 through C_xx, C_yx
        return w @ prob["cxx"] - prob["cyx"]
    m = prob["s0h"] @ w  # smooth Bures-Wasserstein B^2(W W^T + tau I, Sigma0)
    a = m @ m.transpose(0, 2, 1) + prob["tau"] * prob["s0"]
    lam, v = np.linalg.eigh(a)
    a_inv_sqrt = (v / np.sqrt(lam)[:, None, :]) @ v.transpose(0, 2, 1)
    t = prob["s0h"] @ a_inv_sqrt @ prob["s0h"]
    return 2.0 * (w - t @ w)


def rhs(ws, prob):
    """-dL/dW_j for every factor: forward prefix products, then one backward pass."""
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


def problem_of(case):
    if case["loss"] == "bw":
        return {"s0": case["data"], "s0h": bench_case.sigma0_sqrt(case["data"]), "tau": case["tau"]}
    return {"target": case["data"]}


def prepare(case, device):
    if device != "cpu":
        raise RuntimeError("NumPy runs on the CPU only")
    if case["method"] != "rk4":
        raise RuntimeError("no adaptive NumPy solver (NumPy has none; SciPy's solve_ivp is not batched)")
    prob = problem_of(case)

    def solve():
        ws = case["initial"]
        for _ in range(case["steps"]):
            ws = rk4_step(ws, case["dt"], prob)
        return ws, None

    return solve


if __name__ == "__main__":
    bench_case.run("numpy", f"numpy {np.__version__}", prepare)
