#!/usr/bin/env python3
"""The gradient flow of a deep linear network written as a capable researcher would with
PyTorch: plain batched float64 tensors (B, d, d), torch.matmul, batched torch.linalg.eigh for
the BW loss, classical RK4 in eager mode. (torch.func.vmap of the one-trajectory flow produces
the same batched kernels; PyTorch ships no adaptive ODE solver.)

    torch_flow.py CASE [--device cpu|gpu] [--repeats R]     one case of bench/compare.py
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import case as bench_case  # noqa: E402


def loss_grad(w, prob):
    if "target" in prob:  # 1/2 ||W - T||^2
        return w - prob["target"]
    m = prob["s0h"] @ w  # smooth Bures-Wasserstein B^2(W W^T + tau I, Sigma0)
    a = m @ m.transpose(-1, -2) + prob["tau"] * prob["s0"]
    lam, v = torch.linalg.eigh(a)
    t = prob["s0h"] @ ((v / torch.sqrt(lam).unsqueeze(-2)) @ v.transpose(-1, -2)) @ prob["s0h"]
    return 2.0 * (w - t @ w)


def rhs(ws, prob):
    prefix = [ws[0]]
    for w in ws[1:]:
        prefix.append(w @ prefix[-1])
    back = loss_grad(prefix[-1], prob)
    out = [None] * len(ws)
    for j in range(len(ws) - 1, -1, -1):
        out[j] = -(back @ prefix[j - 1].transpose(-1, -2)) if j > 0 else -back
        if j > 0:
            back = ws[j].transpose(-1, -2) @ back
    return out


def rk4_step(ws, h, prob):
    k1 = rhs(ws, prob)
    k2 = rhs([w + 0.5 * h * k for w, k in zip(ws, k1)], prob)
    k3 = rhs([w + 0.5 * h * k for w, k in zip(ws, k2)], prob)
    k4 = rhs([w + h * k for w, k in zip(ws, k3)], prob)
    return [w + (h / 6.0) * (a + 2 * b + 2 * c + e) for w, a, b, c, e in zip(ws, k1, k2, k3, k4)]


def prepare(case, device):
    if case["method"] != "rk4":
        raise RuntimeError("PyTorch ships no adaptive ODE solver")
    if device == "gpu" and not torch.cuda.is_available():
        raise RuntimeError("torch.cuda.is_available() is false")
    dev = torch.device("cuda" if device == "gpu" else "cpu")
    if device == "cpu":
        torch.set_num_threads(os.cpu_count())
    put = lambda x: torch.as_tensor(x, dtype=torch.float64, device=dev)  # noqa: E731
    if case["loss"] == "bw":
        prob = {"s0": put(case["data"]), "s0h": put(bench_case.sigma0_sqrt(case["data"])), "tau": case["tau"]}
    else:
        prob = {"target": put(case["data"])}
    ws0 = [put(w) for w in case["initial"]]

    @torch.no_grad()
    def solve():
        ws = ws0
        for _ in range(case["steps"]):
            ws = rk4_step(ws, case["dt"], prob)
        if device == "gpu":
            torch.cuda.synchronize()
        return ws, None

    return solve


if __name__ == "__main__":
    bench_case.run("pytorch", f"torch {torch.__version__}", prepare)
