"""The catalogue's Hessians (`dlnflow catalog`, docs/theory.md §6.6) against the papers' statements
at critical points, and the escape law they predict through `dlnflow run` and `dlnflow stats`."""
import math

import numpy as np

from .common import Claim

E = "Eftekhari (one-neuron layer)"
BAH = "Bah et al. (Riemannian flow)"
BW = "Bréchet et al. (Bures–Wasserstein)"


def experiment(problem, network, init="alpha = 1e-3"):
    return f"""name = "catalog"
[problem]
{problem}
[network]
{network}
[initialization]
{init}
[stop]
t_final = 1.0
"""


def by_label(group):
    return {c["label"]: c for c in group["critical_points"]}


def study_eftekhari(run, figdir):
    """docs/theory.md §6.3 and §9: balanced width-1 factors of σ_i u_i v_iᵀ have the eigenvalues
    m σ_i^{(N−2)/N}(σ_i ± σ_k) and N − 1 zeros; the origin is strict at N = 2, non-strict at N ≥ 3."""
    s = [3.0, 2.0, 1.0]
    parts, ok = [], True
    for N in (2, 3, 4):
        widths = [3] + [1] * (N - 1) + [3]
        got = run.catalog(f"hessian-e-{N}", experiment('loss = "matrix_approximation"\ntarget = [[3.0, 0, 0], [0, 2.0, 0], [0, 0, 1.0]]',
                                                      f"widths = {widths}"))
        pts = by_label(got[0])
        worst = 0.0
        for i in (2, 3):
            c = pts[f"J={{{i}}}"]
            si = s[i - 1]
            want = si ** ((N - 2) / N) * (s[0] - si)
            worst = max(worst, abs(c["rate"] - want) / want)
            ok = ok and c["kind"] == "strict saddle" and c["hessian_zero"] == N - 1 and c["hessian_negative"] == i - 1
        top, origin = pts["J={1}"], pts["J={}"]
        ok = ok and top["kind"] == "minimum" and top["hessian_zero"] == N - 1 and worst <= 1e-10
        if N == 2:
            ok = ok and origin["kind"] == "strict saddle" and abs(origin["rate"] - 3) <= 1e-12
            o = f"origin strict, λ₊ = {origin['rate']:.12g}"
        else:
            ok = ok and origin["kind"] == "non-strict saddle" and origin["order"] == N and origin["hessian_zero"] == len(
                origin["hessian_eigenvalues"]) and max(abs(x) for x in origin["hessian_eigenvalues"]) <= 1e-14
            o = f"origin non-strict, zero Hessian, order {origin['order']}"
        parts.append(f"N = {N}: λ₊ at σ₂, σ₃ within {worst:.0e}; {N - 1} zero modes; {o}")
    return [Claim(E, "Hessians at the critical points (width-1 layers; erratum: the origin is strict at N = 2)",
                  "`dlnflow catalog` of Z = diag(3, 2, 1), widths 3-1-…-1-3, N = 2, 3, 4",
                  "λ₊ = σ_i^{(N−2)/N}(σ₁ − σ_i) at σ_i u_i v_iᵀ (i − 1 negative directions), N − 1 zero modes, minimum at σ₁; "
                  "origin: strict (λ₊ = s_Z = 3) at N = 2, zero Hessian and order N at N ≥ 3",
                  "; ".join(parts), ok)]


def study_bah(run, figdir):
    """docs/theory.md §6.5: the autoencoder saddle e2 e2ᵀ has μ₊ = 0.5413812651 in either
    parametrization, and starts ε away leave it after ln(1/ε)/μ₊ + O(1): the slope `stats` fits."""
    l1, l2 = 3.0, 2.0
    mu = (math.sqrt((l2 - l1) ** 2 + 4 * l1 * l1) - (l2 + l1)) / 2
    text = run.text("bah-riemannian/saddle_escape_epsilon.toml")
    rates = {}
    for param, net in (("deep", "widths = [3, 1, 3]"),
                       ("end_to_end", 'parametrization = "end_to_end"\ndepth = 2\nrank_cap = 1')):
        got = run.catalog(f"hessian-bah-{param}", text.replace("widths = [3, 1, 3]", net))
        rates[param] = by_label(got[0])["J={2}"]["rate"]
    res = run.run("bah-riemannian/saddle_escape_epsilon.toml", reduce={"seeds = 32": "seeds = 16"})
    fit = next(f for f in run.stats(res)["fits"] if f["law"] == "escape")
    lo, hi = fit["interval"]
    ok = all(abs(r - mu) <= 1e-10 for r in rates.values()) and abs(fit["theory"] - 1 / mu) <= 1e-9 and lo <= 1 / mu <= hi
    return [Claim(BAH, "Prop 30 with §6.5: the saddle e₂e₂ᵀ is strict with rate μ₊; starts ε away leave after ln(1/ε)/μ₊",
                  "autoencoder XXᵀ = diag(3,2,1), r = 1, N = 2: `dlnflow catalog` (deep and end-to-end); `dlnflow run` from "
                  f"critical point J={{2}} + ε·Gaussian, ε = 1e-10 … 1e-2, {len(res.rows) // 5} seeds per ε; "
                  "`dlnflow stats` fit of the median time to L¹ = 1.75",
                  f"μ₊ = {mu:.10f}; slope 1/μ₊ = {1 / mu:.6f} inside the fit's 90% interval",
                  f"λ₊ = {rates['deep']:.10f} (deep), {rates['end_to_end']:.10f} (end-to-end); fitted slope "
                  f"{fit['slope']:.4f} [{lo:.4f}, {hi:.4f}], theory from the catalogue {fit['theory']:.6f}", ok)]


def study_bw(run, figdir):
    """[BW] (docs/theory.md §6.2): L¹_τ has Hessian eigenvalues 2(1 − √(λ_i/τ)) at W = 0 (Σ₀ = diag(4, 1),
    τ = 0.25: −6, −2, each m times); non-optimal J are saddles (Prop D.8, Thm 4.4): strict, or, at the
    greedy sets J = {1..k}, non-strict of order 2N (the loss is critical in W too)."""
    one = run.catalog("hessian-bw-1", experiment('loss = "bures_wasserstein"\nsigma0 = [[4.0, 0.0], [0.0, 1.0]]\ntau = 0.25',
                                                 "widths = [2, 2]"))
    origin = by_label(one[0])["J={}"]
    ev = sorted(origin["hessian_eigenvalues"])
    ok = max(abs(a - b) for a, b in zip(ev, [-6, -6, -2, -2])) <= 1e-12 and abs(origin["rate"] - 6) <= 1e-12
    got = run.catalog("hessian-bw-tau", run.text("bures-wasserstein/critical_values_tau.toml"))
    pts = got[0]["critical_points"]
    N = got[0]["depth"]
    best = min(c["loss"] for c in pts)
    greedy = {"J={}", "J={1}", "J={1,2}", "J={1,2,3}"}
    kinds = {"strict": 0, "non-strict": 0}
    for c in pts:
        if c["loss"] == best:
            ok = ok and c["kind"] == "minimum"
        elif c["label"] in greedy:
            ok = ok and c["kind"] == "non-strict saddle" and c["order"] == 2 * N
            kinds["non-strict"] += 1
        else:
            ok = ok and c["kind"] == "strict saddle" and c["rate"] > 0
            kinds["strict"] += 1
    return [Claim(BW, "Hessian of L¹_τ at W = 0, and every non-optimal critical point a saddle (Prop D.8, Thm 4.4)",
                  "`dlnflow catalog`: Σ₀ = diag(4, 1), τ = 0.25, depth 1; examples/bures-wasserstein/critical_values_tau.toml "
                  f"(spectrum 4, 3, 2, 1, τ = 0.25, widths 4-4-4, {len(pts)} points)",
                  "eigenvalues 2(1 − √(λ_i/τ)) = −6, −2 (each twice) at W = 0; one minimum; greedy J = {1..k} non-strict of "
                  "order 2N, every other J strict",
                  f"W = 0: {', '.join(f'{x:.12g}' for x in ev)}; {kinds['strict']} strict, {kinds['non-strict']} non-strict "
                  f"(order {2 * N}), 1 minimum", ok)]


STUDIES = {
    "hessian-eftekhari": study_eftekhari,
    "hessian-bah": study_bah,
    "hessian-bw": study_bw,
}
