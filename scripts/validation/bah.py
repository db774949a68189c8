"""Bah, Rauhut, Terstiege, Westdickenberg studies (docs/theory.md §3.2, §6.1, §6.5, §7.3)."""
import math

import numpy as np

from .common import Claim, fmt, product

BAH = "Bah et al. (Riemannian flow)"


def study_factor_vs_e2e(run, figdir):
    """Cor 8: the product of the per-factor flow equals the Riemannian end-to-end flow (regression and
    rank-deficient autoencoder)."""
    claims = []
    XA = np.array([[1, 0, 1, 0], [0, 1, 1, 0], [1, 0, 0, 1]], float)
    lam = np.array([2 + math.sqrt(2), 2.0, 2 - math.sqrt(2)])
    u = np.array([[math.sqrt(2) / 2, 0.5, 0.5], [0, 1 / math.sqrt(2), -1 / math.sqrt(2)]])
    P12 = u.T @ u
    cases = {
        "tc4": dict(ref={0.5: np.array([[0.537796038451, 0.496648065465, 0.0839397627280],
                                        [0.321189163645, 0.505013605576, 0.121933905759]])},
                    limit=np.array([[-1, 1.5, 1.5], [0.5, 0.75, -0.75]]), limit_name="W* = YXᵀ(XXᵀ)⁻¹", label="regression",
                    setup="regression X_A, Y_A, N = 3, widths (3,2,2,2), balanced start, t ≤ 20"),
        "tc5": dict(ref={1.0: np.array([[0.6040977952561, 0.4603669371989, 0.09405241836703],
                                        [0.4380216018741, 0.3342131269434, 0.05851567261904],
                                        [0.1041434802955, 0.04626793206232, 0.8005917182243]])},
                    limit=P12, limit_name="P₁₂ = u₁u₁ᵀ + u₂u₂ᵀ", label="rank-deficient autoencoder",
                    setup="autoencoder X_A, N = 3, widths (3,2,2,3), rank-2 start in R^3×3, t ≤ 40"),
    }
    for name, c in cases.items():
        fac = run.run(f"bah-riemannian/{name}_factors.toml")
        e2e = run.run(f"bah-riemannian/{name}_end_to_end.toml")
        gf, ge = fac.point(0), e2e.point(0)
        t = gf["time"][()]
        Wf, We = product(gf, "states")[0], ge["states/W"][0]
        agree = float(np.max(np.abs(Wf - We)))
        worst_ref = max(float(np.max(np.abs(Wf[list(t).index(tt)] - R))) for tt, R in c["ref"].items())
        dist_limit = float(np.linalg.norm(Wf[-1] - c["limit"]))
        rank_ok = bool(np.all(gf["spectrum"][0, :, 1] > 1e-3))
        text = (f"max |W_factors − W_e2e| over t ∈ {{{', '.join(f'{x:g}' for x in t)}}} = {agree:.1e}; "
                f"vs reference at t = {list(c['ref'])[0]:g}: {worst_ref:.1e}; ‖W(t_end) − limit‖ = {dist_limit:.1e}")
        ok = agree <= 1e-9 and worst_ref <= 1e-9 and dist_limit <= 1e-6 and rank_ok
        if name == "tc5":
            # docs/theory.md §6.5: the slowest rate at the optimum is the pair (i = 2, k = 3):
            # |mu| = ((l2 + l3) - sqrt((l2 - l3)^2 + 4 l3^2))/2.
            i, k = lam[1], lam[2]
            rate = ((i + k) - math.sqrt((i - k) ** 2 + 4 * k * k)) / 2
            d = [float(np.linalg.norm(Wf[list(t).index(x)] - P12)) for x in (20.0, 40.0)]
            measured_rate = math.log(d[0] / d[1]) / 20
            text += f"; decay rate of ‖W − P₁₂‖ on [20, 40] = {measured_rate:.5f} (docs/theory.md §6.5: {rate:.6f})"
            ok = ok and abs(measured_rate - rate) <= 1e-3 * rate
        claims.append(Claim(BAH, f"Cor 8: per-factor flow = Riemannian end-to-end flow from a balanced start ({c['label']})",
                            c["setup"] + "; DP5 rtol 1e-12, both parametrizations",
                            f"identical W(t) (both to 1e-9), the reference RK4 value, rank kept, limit {c['limit_name']}",
                            text, ok))
    return claims


def study_autoencoder(run, figdir):
    """Theorem 31: almost every balanced start reaches the global minimum."""
    res = run.run("bah-riemannian/autoencoder.toml", reduce={"seeds = 1000": "seeds = 100"})
    parts, ok = [], True
    for g in res.points():
        cp = g["critical_points"]
        labels = [x.decode() if isinstance(x, bytes) else x for x in cp.attrs["labels"]]
        losses = cp["loss"][()]
        best = int(np.argmin(losses))
        nearest, dist = cp["final_nearest"][()], cp["final_distance"][()]
        at_min = int(np.sum((nearest == best) & (dist <= 1e-6)))
        n = len(nearest)
        parts.append(f"{at_min}/{n} at {labels[best]} (loss {losses[best]:.6f})")
        ok = ok and at_min == n
    return [Claim(BAH, "Thm 31: balanced starts reach the global minimum of the autoencoder (all but a null set)",
                  f"X: 4×40 Gaussian, widths 4-2-4 and 4-2-2-4, {n} balanced random starts each (W₀ = 0.1·G), t ≤ 50",
                  "every trajectory ends at the top-2 eigenprojector (distance ≤ 1e-6)",
                  "N = 2: " + parts[0] + "; N = 3: " + parts[1], ok)]


def study_remark33(run, figdir):
    res = run.run("bah-riemannian/remark33.toml")
    g = res.point(0)
    t, W = g["time"][()], product(g, "states")[0]
    worst_loss, worst_W = 0.0, 0.0
    for ti, Wi, L in zip(t, W, g["loss"][0]):
        a2 = 1.0 / (2 * math.exp(6 * ti) - 1)
        exact = np.zeros((3, 3))
        exact[0, 0] = -a2
        worst_W = max(worst_W, float(np.max(np.abs(Wi - exact))))
        worst_loss = max(worst_loss, abs(L - 0.5 * (3 * (1 + a2) ** 2 + 3)))
    table = {0.25: 3.4003781078526107, 0.5: 3.077564724809981, 1.0: 3.0037250519441043, 2.0: 3.0000092163610006}
    spec_ok = all(abs(g["loss"][0][list(t).index(k)] - v) <= 1e-11 for k, v in table.items())
    return [Claim(BAH, "Remark 33: a balanced start violating (47) converges to the saddle 0 (exact trajectory)",
                  "autoencoder, XXᵀ = diag(3,2,1), N = 2, r = 1, W₁ = e₁ᵀ, W₂ = −e₁, t ≤ 10",
                  "W(t) = −e₁e₁ᵀ/(2e^(6t) − 1) → 0, L¹ = ½[3(1 + α₁²)² + 3] → 3 (not the minimum 1.5)",
                  f"max |W − exact| = {worst_W:.1e}, max |L¹ − exact| = {worst_loss:.1e} at t = 0.25 … 10; "
                  f"reference table matched: {spec_ok}", worst_W <= 1e-11 and worst_loss <= 1e-11 and spec_ok)]


def study_nonbalanced(run, figdir):
    res = run.run("bah-riemannian/nonbalanced.toml", reduce={"seeds = 20": "seeds = 6"})
    g = res.point(0)
    W1, W2 = g["states/W1"][()], g["states/W2"][()]
    P = np.diag([1.0, 1.0, 0.0, 0.0])
    worst_limit, worst_gap, worst_cons, smallest = 0.0, 0.0, 0.0, math.inf
    for i in range(W1.shape[0]):
        D0 = W2[i, 0].T @ W2[i, 0] - W1[i, 0] @ W1[i, 0].T
        D1 = W2[i, -1].T @ W2[i, -1] - W1[i, -1] @ W1[i, -1].T
        worst_cons = max(worst_cons, float(np.max(np.abs(D1 - D0))))
        delta = np.linalg.eigvalsh(D0)
        predicted = math.sqrt(float(np.sum(np.sqrt(delta ** 2 + 4) - 2)))
        gap = float(np.linalg.norm(W2[i, -1] - W1[i, -1].T))
        worst_gap = max(worst_gap, abs(gap - predicted))
        smallest = min(smallest, gap)
        worst_limit = max(worst_limit, float(np.linalg.norm(W2[i, -1] @ W1[i, -1] - P)))
    n = W1.shape[0]
    return [Claim(BAH, "Fig. 3 (the paper's §7) refuted: non-balanced starts keep W₂ − W₁ᵀ ≠ 0, fixed by the conservation law",
                  f"autoencoder, XXᵀ = diag(4, 2.25, 1, 0.25), widths 4-2-4, {n} unbalanced Gaussian starts (entries N(0, 0.25)), t = 400",
                  "W → top-2 projector, D = W₂ᵀW₂ − W₁W₁ᵀ conserved, ‖W₂ − W₁ᵀ‖² → Σᵢ(√(δᵢ² + 4) − 2) > 0 (δᵢ = eig D(0)), "
                  "not 0 as the paper's Fig. 3 shows",
                  f"max ‖W − P‖ = {worst_limit:.1e}; max |ΔD| = {worst_cons:.1e}; max |‖W₂ − W₁ᵀ‖ − predicted| = {worst_gap:.1e}; "
                  f"smallest ‖W₂ − W₁ᵀ‖ = {smallest:.3f}",
                  worst_limit <= 1e-8 and worst_cons <= 1e-10 and worst_gap <= 1e-8 and smallest > 0.01)]


def study_saddle_escape(run, figdir):
    res = run.run("bah-riemannian/saddle_escape.toml")
    l1, l2 = 3.0, 2.0
    mu = (math.sqrt((l2 - l1) ** 2 + 4 * l1 * l1) - (l2 + l1)) / 2
    got = {}
    for row in res.rows:
        v = eval(row["initialization.W0"])
        eps = math.asin(math.sqrt(v[0][0]))
        got[float(f"{eps:.0e}")] = float(row["t_escape"])
    eps = sorted(got, reverse=True)
    slopes = [(got[b] - got[a]) / math.log(a / b) for a, b in zip(eps, eps[1:])]
    return [Claim(BAH, "Prop 30 (rate: docs/theory.md §6.5): escape from a strict saddle takes ln(1/ε)/μ₊",
                  "autoencoder, XXᵀ = diag(3,2,1), N = 2, r = 1, start v vᵀ with v = (sin ε, cos ε, 0) at the saddle e₂e₂ᵀ, "
                  "ε = 1e-3 … 1e-9; time to L¹ = 1.75",
                  f"t(ε) = ln(1/ε)/μ₊ + const, μ₊ = (√((λ₂−λ₁)² + 4λ₁²) − (λ₁+λ₂))/2 = {mu:.10f}: slope 1/μ₊ = {1 / mu:.6f}",
                  "t = " + ", ".join(fmt(got[e], 8) for e in eps) + "; slopes per ln(1/ε): "
                  + ", ".join(f"{s:.6f}" for s in slopes),
                  abs(slopes[-1] * mu - 1) <= 1e-4)]


STUDIES = {
    "bah-factor-vs-e2e": study_factor_vs_e2e,
    "bah-autoencoder": study_autoencoder,
    "bah-remark33": study_remark33,
    "bah-nonbalanced": study_nonbalanced,
    "bah-saddle-escape": study_saddle_escape,
}
