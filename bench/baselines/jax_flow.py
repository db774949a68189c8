#!/usr/bin/env python3
"""The gradient flow of a deep linear network written as a capable researcher would with JAX:
the flow of ONE trajectory, float64 enabled, jax.vmap over the batch, jax.jit-compiled;
classical RK4 as a lax.scan over the steps, and an adaptive solve with diffrax's Dopri5 and a
PID step-size controller. The BW loss uses jnp.linalg.eigh, which vmap batches.

    jax_flow.py CASE [--device cpu|gpu] [--repeats R]     one case of bench/compare.py
"""
import os
import sys

if "--device" in sys.argv and sys.argv[sys.argv.index("--device") + 1] == "cpu":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # never touch a GPU for a CPU measurement
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import case as bench_case  # noqa: E402


def loss_grad(w, prob):
    if "target" in prob:  # 1/2 ||W - T||^2
        return w - prob["target"]
    m = prob["s0h"] @ w  # smooth Bures-Wasserstein B^2(W W^T + tau I, Sigma0)
    a = m @ m.T + prob["tau"] * prob["s0"]
    lam, v = jnp.linalg.eigh(a)
    t = prob["s0h"] @ ((v / jnp.sqrt(lam)) @ v.T) @ prob["s0h"]
    return 2.0 * (w - t @ w)


def rhs(ws, prob):
    prefix = [ws[0]]
    for w in ws[1:]:
        prefix.append(w @ prefix[-1])
    back = loss_grad(prefix[-1], prob)
    out = [None] * len(ws)
    for j in range(len(ws) - 1, -1, -1):
        out[j] = -(back @ prefix[j - 1].T) if j > 0 else -back
        if j > 0:
            back = ws[j].T @ back
    return tuple(out)


def rk4_step(ws, h, prob):
    k1 = rhs(ws, prob)
    k2 = rhs(tuple(w + 0.5 * h * k for w, k in zip(ws, k1)), prob)
    k3 = rhs(tuple(w + 0.5 * h * k for w, k in zip(ws, k2)), prob)
    k4 = rhs(tuple(w + h * k for w, k in zip(ws, k3)), prob)
    return tuple(w + (h / 6.0) * (a + 2 * b + 2 * c + e) for w, a, b, c, e in zip(ws, k1, k2, k3, k4))


def rk4_solve(ws, prob, dt, steps):
    ws, _ = lax.scan(lambda y, _: (rk4_step(y, dt, prob), None), ws, None, length=steps)
    return ws


def adaptive_solve(ws, prob, t_final, rtol, atol):
    import diffrax

    sol = diffrax.diffeqsolve(diffrax.ODETerm(lambda t, y, args: rhs(y, args)), diffrax.Dopri5(), t0=0.0,
                              t1=t_final, dt0=None, y0=ws, args=prob,
                              stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol), max_steps=1_000_000)
    return tuple(y[-1] for y in sol.ys), sol.stats["num_steps"]


def prepare(case, device):
    dev = jax.devices(device)[0]
    put = lambda x: jax.device_put(jnp.asarray(x), dev)  # noqa: E731
    if case["loss"] == "bw":
        prob = {"s0": put(case["data"]), "s0h": put(bench_case.sigma0_sqrt(case["data"])), "tau": put(case["tau"])}
    else:
        prob = {"target": put(case["data"])}
    ws0 = tuple(put(w) for w in case["initial"])
    if case["method"] == "rk4":
        f = jax.jit(jax.vmap(rk4_solve, in_axes=(0, None, None, None)), static_argnums=3)
        dt = put(case["dt"])

        def solve():
            out = jax.block_until_ready(f(ws0, prob, dt, case["steps"]))
            return out, None
    else:
        f = jax.jit(jax.vmap(adaptive_solve, in_axes=(0, None, None, None, None)), static_argnums=(2, 3, 4))

        def solve():
            out, steps = jax.block_until_ready(f(ws0, prob, case["t_final"], case["rtol"], case["atol"]))
            # Dopri5 is FSAL: six new evaluations per attempted step, two for the first step size.
            return out, 6.0 * jax.device_get(steps) + 2.0

    return solve


if __name__ == "__main__":
    try:
        import diffrax

        version = f"jax {jax.__version__}, diffrax {diffrax.__version__}"
    except ImportError:
        version = f"jax {jax.__version__} (no diffrax: no adaptive solve)"
    bench_case.run("jax-vmap", version, prepare)
