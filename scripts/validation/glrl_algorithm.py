"""Greedy Low-Rank Learning (Li, Luo, Lyu, Algorithms 1 and 2; docs/theory.md §7.5) as a reference
implementation whose inner loop is the dlnflow command: phase r starts from the previous critical
point plus a rank-one step along the top eigenvector u_r of -grad f, and runs gradient flow to a
stationary point (the paper's GD with eta -> 0). Depth 2 is Algorithm 1 (U in R^{d x r},
W = U U^T, loss 1/2 f(U U^T)); depth L >= 3 is Algorithm 2 (W = U_1 ... U_L with the block start,
loss f(U_1 ... U_L)). Only the completion loss is needed here: grad f = P_Omega(W - M)."""
import math

import numpy as np

from .common import product, toml_matrix


class Completion:
    """f(W) = 1/2 sum over the mask of (W - M)^2; `files` names the .npy files holding M and the
    mask (relative to the runner's data folder), else they are written inline."""

    def __init__(self, M, mask, files=None):
        self.M, self.mask, self.files = M, mask, files

    def grad(self, W):
        return self.mask * (W - self.M)

    def loss(self, W):
        return 0.5 * float(np.sum(self.mask * (W - self.M) ** 2))

    def toml(self):
        if self.files:
            return f'loss = "completion"\ntarget = "{self.files[0]}"\nmask = "{self.files[1]}"'
        return f'loss = "completion"\ntarget = {toml_matrix(self.M)}\nmask = {toml_matrix(self.mask)}'


def top_direction(problem, W):
    """(mu, u): the top eigenpair of -grad f(W) (grad f is symmetric here)."""
    lam, V = np.linalg.eigh(-problem.grad(W))
    return float(lam[-1]), V[:, -1]


def glrl(run, problem, depth=2, eps=1e-7, tol=1e-7, max_phases=None, name="glrl", data_dir=None):
    """Runs GLRL; returns the critical points [W_0 = 0, W_1, ...] and per phase (mu_r, u_r)."""
    d = problem.M.shape[0]
    W = np.zeros((d, d))
    points, directions = [W], []
    factors = None                     # dlnflow order: W1 (r x d), ..., WN (d x r); U for depth 2
    scale = max(1.0, float(np.abs(problem.M).max()))
    for r in range(1, (max_phases or d) + 1):
        mu, u = top_direction(problem, W)
        if mu <= tol * scale:          # Lemma A.2: W is a minimizer over the PSD cone
            break
        directions.append((mu, u))
        if depth == 2:
            col = math.sqrt(eps) * u[:, None]
            factors = col if factors is None else np.hstack([factors, col])
            network = f'parametrization = "symmetric"\nk = {r}'
            init = f'kind = "user"\nU = {toml_matrix(factors)}'
            t_escape = math.log(1 / eps) / (2 * mu)
        else:
            e = eps ** (1.0 / depth)
            if factors is None:
                factors = [e * u[None, :]] + [np.array([[e]]) for _ in range(depth - 2)] + [e * u[:, None]]
            else:                      # Algorithm 2's blocks: U_L gains a row, U_1 a column, U_k a diagonal entry
                first, middle, last = factors[0], factors[1:-1], factors[-1]
                first = np.vstack([first, e * u[None, :]])
                middle = [np.block([[Uk, np.zeros((r - 1, 1))], [np.zeros((1, r - 1)), np.array([[e]])]]) for Uk in middle]
                last = np.hstack([last, e * u[:, None]])
                factors = [first] + middle + [last]
            network = f"widths = {[d] + [r] * (depth - 1) + [d]}"
            init = 'kind = "user"\n' + "\n".join(f"W{j + 1} = {toml_matrix(F)}" for j, F in enumerate(factors))
            t_escape = eps ** (-(1 - 2 / depth)) / ((depth - 2) * mu)
        text = f"""name = "{name}-phase{r}"
description = "GLRL phase {r} (depth {depth}, eps = {eps:g})"

[problem]
{problem.toml()}

[network]
{network}

[initialization]
{init}

[integrator]
method = "dopri5"
rtol = 1e-11
atol = 1e-30

[stop]
t_final = {max(1e4, 100 * t_escape)!r}
grad_norm_below = 1e-11
grad_min_time = {2 * t_escape!r}

[record]
count = 20
save_states = "final"
"""
        res = run.run_text(f"{name}_phase{r}", text, data_dir)
        g = res.point(0)
        if depth == 2:
            factors = g["final_state/U"][0]
        else:
            factors = [g[f"final_state/W{j + 1}"][0] for j in range(depth)]
        W = product(g)[0]
        points.append(W)
    return points, directions
