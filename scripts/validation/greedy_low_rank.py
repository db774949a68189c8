"""Li, Luo, Lyu greedy-low-rank-learning studies (docs/theory.md §2.2, §7.1, §7.5).

dlnflow's `completion` loss is f(W) = 1/2 sum over Omega of (W_ij - M_ij)^2 with Omega listing
both (i, j) and (j, i): exactly the paper's f of Example 5.9. The paper's d = 20 experiments
observe each symmetric pair once (f_paper = 1/2 sum over pairs); with no diagonal entries observed
dlnflow's f is 2 f_paper, so its times are the paper's halved and its mu's doubled. Every
prediction below is computed from dlnflow's f."""
import math

import numpy as np

from .common import Claim, depth_of, plt, product, quad_log, save_figure, toml_matrix

GLRL = "Li, Luo, Lyu (greedy low-rank)"


def deep_escape_time(L, mu, w0, w1):
    """Time for a balanced scalar mode of depth L, dw/dt = L w^(2-2/L) (mu - w), to go from w0 to w1."""
    return quad_log(lambda w: 1.0 / (L * w ** (2 - 2 / L) * (mu - w)), w0, w1)


def example59(R=2.0):
    """Example 5.9's data: (M with zeros off Omega, mask, M_rank = x x^T, M_norm)."""
    M = np.array([[0, 0, 1, R], [0, 0, R, 0], [1, R, 0, 0], [R, 0, 0, 0]])
    x = np.array([1, R, 1, R])
    M_norm = np.array([[R, 1, 1, R], [1, R, R, 1], [1, R, R, 1], [R, 1, 1, R]])
    return M, (M != 0).astype(float), np.outer(x, x), M_norm


def study_escape_laws(run, figdir):
    """Thm 5.6 (depth 2) and Thm 6.2 (depth L >= 3) escape times from alpha I, full observation."""
    res = run.run("greedy-low-rank/escape_full_observation.toml")
    mus = (3.0, 2.0, 1.0)
    t1 = {(2, 1e-2): (0.950074, 1.323326, 2.297560), (2, 1e-4): (1.718153, 2.475859, 4.605120),
          (2, 1e-8): (3.253216, 4.778457, 9.210340)}
    got, worst, worst_t1 = {}, 0.0, 0.0
    for row in res.rows:
        L, a = depth_of(row), float(row["initialization.alpha"])
        got[(L, a)] = [float(row[f"t_comp{i}"]) for i in (1, 2, 3)]
        for i, mu in enumerate(mus):
            ref = deep_escape_time(L, mu, a, mu / 2)
            if L == 2:  # closed form ln((mu - alpha)/alpha)/(2 mu)
                worst_t1 = max(worst_t1, abs(ref - math.log((mu - a) / a) / (2 * mu)) / ref)
                if (L, a) in t1:
                    worst_t1 = max(worst_t1, abs(ref - t1[(L, a)][i]) / ref - 5e-7 / ref)
            worst = max(worst, abs(got[(L, a)][i] - ref) / ref)
    alphas = sorted({a for _, a in got}, reverse=True)
    # Depth 2: slope of t_i against ln(1/alpha) between the two smallest alphas is 1/(2 mu_i).
    a1, a2 = alphas[-2], alphas[-1]
    slope2 = [(got[(2, a2)][i] - got[(2, a1)][i]) / math.log(a1 / a2) * 2 * mus[i] for i in range(3)]
    # Depth L >= 3: t_i (L - 2) mu_i alpha^(1 - 2/L) -> 1 (the O(1) remainder shrinks relative to it).
    scaled = {L: [got[(L, a2)][i] * (L - 2) * mus[i] * a2 ** (1 - 2 / L) for i in range(3)] for L in (3, 4)}
    claims = [Claim(GLRL, "Thm 5.6 / Thm 6.2: escape times from αI (full observation)",
                    "f = ½‖W − diag(3,2,1)‖², W(0) = αI balanced, L = 2, 3, 4, α = 1e-2 … 1e-12, DP5 rtol 1e-12; "
                    "time for component i to reach μᵢ/2",
                    "t = ∫dw/(L w^(2−2/L)(μᵢ − w)) (quadrature; at L = 2 the closed form ln((μᵢ−α)/α)/(2μᵢ) and a reference table of the half-max times)",
                    f"max rel. error {worst:.1e} (≤ 1e-7); quadrature vs closed form/table: {worst_t1:.0e}",
                    worst <= 1e-7 and worst_t1 <= 1e-6),
              Claim(GLRL, "Thm 5.6 vs Thm 6.2: logarithmic escape at depth 2, polynomial α^−(1−2/L) at depth L ≥ 3",
                    f"same runs, α = {a1:g} → {a2:g}",
                    "L = 2: dt/d ln(1/α) = 1/(2μᵢ); L ≥ 3: t·(L−2)μᵢ·α^(1−2/L) → 1",
                    "L = 2: slope × 2μᵢ = " + ", ".join(f"{x:.6f}" for x in slope2) + "; "
                    + "; ".join(f"L = {L}: " + ", ".join(f"{x:.4f}" for x in v) for L, v in scaled.items()),
                    all(abs(x - 1) < 1e-6 for x in slope2) and all(abs(x - 1) < 0.02 for v in scaled.values() for x in v))]
    return claims


def study_counterexample(run, figdir):
    """Example 5.9 / Prop. B.2 (depth 2) and Thm 6.4 (depth 4): alpha sweep 1e-1 ... 1e-16."""
    M, mask, M_rank, M_norm = example59()
    mu = np.sort(np.linalg.eigvalsh(mask * M))[::-1]      # -grad f(0) = P_Omega(M)
    res = run.run("greedy-low-rank/counterexample.toml")
    data = {2: {}, 4: {}}
    for row in res.rows:
        W = product(res.point(int(row["point"])))[0]
        s = np.linalg.svd(W, compute_uv=False)
        data[depth_of(row)][float(row["initialization.alpha"])] = dict(
            nuc=float(s.sum()), d_rank=float(np.linalg.norm(W - M_rank)), d_norm=float(np.linalg.norm(W - M_norm)),
            l2=float(s[1]), f=float(row["final_loss"]))
    nuc_rank, nuc_norm = np.linalg.svd(M_rank, compute_uv=False).sum(), np.linalg.svd(M_norm, compute_uv=False).sum()
    feas = max(0.5 * np.sum(mask * (M_rank - M) ** 2), 0.5 * np.sum(mask * (M_norm - M) ** 2))
    alphas = sorted(data[2])
    small = [a for a in alphas if a <= 1e-10]
    slope2 = np.polyfit(np.log(small), np.log([data[2][a]["d_rank"] for a in small]), 1)[0]
    leak = 1 - mu[1] / mu[0]
    claims = [Claim(GLRL, "Example 5.9 / Prop. B.2: gradient flow from small αI ends at M_rank, not the min-nuclear-norm M_norm (depth 2)",
                    "4×4 completion, R = 2, Ω = {(1,3),(1,4),(2,3)} and transposes, W = W₂W₁ from αI, α = 1e-1 … 1e-16, until f < 1e-20",
                    f"−∇f(0) eigenvalues ±(1 ± √(1+4R²))/2 with μ₁ − μ₂ = 1; ‖M_rank‖_* = 2R² + 2 = 10 > 4R = 8 = ‖M_norm‖_*; "
                    f"‖W∞ − M_rank‖ → 0 like α^(1−μ₂/μ₁) = α^{leak:.4f}",
                    f"μ = {', '.join(f'{m:.10f}' for m in mu)}; f(M_rank), f(M_norm) ≤ {feas:.0e}; "
                    f"α = 1e-2: ‖W∞‖_* = {data[2][1e-2]['nuc']:.4f} (near M_norm); α = 1e-16: ‖W∞‖_* = {data[2][1e-16]['nuc']:.6f}, "
                    f"‖W∞ − M_rank‖ = {data[2][1e-16]['d_rank']:.2e}; log-slope over α ≤ 1e-10: {slope2:.4f}",
                    abs(mu[0] - mu[1] - 1) < 1e-12 and abs(nuc_rank - 10) < 1e-12 and abs(nuc_norm - 8) < 1e-12
                    and feas == 0 and data[2][1e-16]["d_rank"] < 1e-3 and abs(slope2 - leak) < 0.01)]
    # Depth 4: reference values (5 digits) where the f < 1e-20 stop (distance ~1e-9) is negligible.
    t8 = {1e-2: (0.36023, 9.3887e-2), 1e-3: (2.6355e-2, 7.3289e-3), 1e-4: (2.3637e-3, 6.7898e-4), 1e-6: (2.2584e-5, 6.5838e-6)}
    worst = max(max(abs(data[4][a]["d_rank"] - d) / d, abs(data[4][a]["l2"] - l) / l) for a, (d, l) in t8.items())
    mid = [a for a in alphas if 1e-8 <= a <= 1e-4]
    slope4 = np.polyfit(np.log(mid), np.log([data[4][a]["l2"] for a in mid]), 1)[0]
    claims.append(Claim(GLRL, "Thm 6.4: at depth 4 the distance to M_rank is O(α)",
                        "same problem, W = W₄W₃W₂W₁ from αI",
                        "‖W∞ − M_rank‖ ≈ 22.8α and λ₂ ≈ 6.56α (reference table), slope 1 in α",
                        f"α = 1e-2: ‖·‖_* = {data[4][1e-2]['nuc']:.6f}; ‖W∞ − M_rank‖/α at 1e-4, 1e-6: "
                        f"{data[4][1e-4]['d_rank'] / 1e-4:.2f}, {data[4][1e-6]['d_rank'] / 1e-6:.2f}; max rel. deviation from the table {worst:.1e} (≤ 1e-3); "
                        f"log-slope of λ₂ over 1e-8 … 1e-4: {slope4:.4f}",
                        worst <= 1e-3 and abs(slope4 - 1) < 0.01))
    figure = ""
    if figdir:
        fig, axes = plt().subplots(1, 2, figsize=(8, 3.3))
        for L, c in ((2, "C0"), (4, "C1")):
            a = sorted(data[L])
            axes[0].semilogx(a, [data[L][x]["nuc"] for x in a], c + "o-", ms=3, label=f"depth {L}")
            axes[1].loglog(a, [data[L][x]["d_rank"] for x in a], c + "o-", ms=3, label=f"‖W∞ − M_rank‖, depth {L}")
            axes[1].loglog(a, [data[L][x]["d_norm"] for x in a], c + "s--", ms=3, label=f"‖W∞ − M_norm‖, depth {L}")
        axes[0].axhline(10, color="0.5", lw=0.8)
        axes[0].axhline(8, color="0.5", lw=0.8, ls=":")
        axes[0].set_xlabel("α")
        axes[0].set_ylabel("‖W∞‖_* (10 = M_rank, 8 = M_norm)")
        axes[1].set_xlabel("α")
        axes[1].legend(fontsize=6)
        fig.suptitle("Example 5.9 (R = 2), dlnflow", fontsize=9)
        figure = save_figure(fig, figdir, "glrl_counterexample")
    claims[0].figure = figure
    return claims


# ---- GLRL and gradient flow on the d = 20 instance ------------------------------------------------

def d20_problem():
    import os
    from .common import EXAMPLES
    from .glrl_algorithm import Completion
    folder = os.path.join(EXAMPLES, "greedy-low-rank")
    return Completion(np.load(os.path.join(folder, "target.npy")), np.load(os.path.join(folder, "mask.npy")),
                      ("target.npy", "mask.npy")), folder


def study_glrl_algorithm(run, figdir):
    """Algorithms 1 and 2 as a reference implementation; optimality certificates (Lemmas A.1, A.2)."""
    from .glrl_algorithm import Completion, glrl, top_direction
    claims = []
    M, mask, M_rank, _ = example59()
    ex = Completion(M, mask)
    pts, _ = glrl(run, ex, name="glrl_ex59")
    d_rank, mu_end = float(np.linalg.norm(pts[-1] - M_rank)), top_direction(ex, pts[-1])[0]
    claims.append(Claim(GLRL, "Alg. 1 on Example 5.9: GLRL exits after one phase at M_rank",
                        "R = 2, ε = 1e-7, each phase one dlnflow run (W = UUᵀ, k = r) to ‖∇‖ < 1e-11",
                        "one phase; W̄₁ = M_rank = xxᵀ, x = (1, R, 1, R); λ₁(−∇f(W̄₁)) = 0 (Lemma A.2: a PSD minimizer)",
                        f"{len(pts) - 1} phase(s); ‖W̄₁ − M_rank‖ = {d_rank:.1e}; λ₁(−∇f(W̄₁)) = {mu_end:.1e}",
                        len(pts) == 2 and d_rank <= 1e-8 and abs(mu_end) <= 1e-8))
    P, folder = d20_problem()
    runs = {L: glrl(run, P, depth=L, name=f"glrl_d20_L{L}", data_dir=folder) for L in (2, 3)}
    pts, dirs = runs[2]
    cert = []
    for r in range(1, len(pts)):
        W = pts[r]
        crit = float(np.linalg.norm(P.grad(W) @ W))
        rank = int(np.sum(np.linalg.eigvalsh(W) > 1e-6 * np.abs(W).max()))
        if r < len(pts) - 1:
            mu_next, u_next = dirs[r]
            cert.append((rank == r and crit <= 1e-8 and mu_next > 0 and abs(u_next @ W @ u_next) <= 1e-8,
                         f"W̄{r}: rank {rank}, ‖∇f W‖ = {crit:.0e}, λ₁(−∇f) = {mu_next:.4f}, ⟨W̄{r}, u{r + 1}u{r + 1}ᵀ⟩ = {u_next @ W @ u_next:.0e}"))
        else:
            mu_end = top_direction(P, W)[0]
            cert.append((rank == r and crit <= 1e-8 and mu_end <= 1e-7,
                         f"W̄{r}: rank {rank}, ‖∇f W‖ = {crit:.0e}, λ₁(−∇f) = {mu_end:.0e}"))
    same = max(float(np.linalg.norm(a - b)) for a, b in zip(runs[2][0], runs[3][0])) if len(runs[3][0]) == len(pts) else math.inf
    recovered = float(np.linalg.norm(pts[-1] - P.M))
    claims.append(Claim(GLRL, "Algs. 1 and 2 on the d = 20 rank-3 completion: greedy phases and their certificates (Lemmas A.1, A.2)",
                        "examples/greedy-low-rank target.npy / mask.npy, ε = 1e-7, depth 2 (Alg. 1) and depth 3 (Alg. 2)",
                        "W̄ᵣ of rank r with ∇f(W̄ᵣ)W̄ᵣ = 0 (Lemma A.1), λ₁(−∇f(W̄ᵣ)) > 0 and ⟨W̄ᵣ, u_{r+1}u_{r+1}ᵀ⟩ = 0 (eq. 29) "
                        "before the last phase, λ₁ ≤ 0 after it (Lemma A.2)",
                        f"{len(pts) - 1} phases, μ = {', '.join(f'{m:.4f}' for m, _ in dirs)}; " + "; ".join(c[1] for c in cert)
                        + f"; ‖W̄_K − W*‖ = {recovered:.1e}; Alg. 2 (L = 3) critical points within {same:.1e} of Alg. 1's",
                        all(c[0] for c in cert) and same <= 1e-6))
    return claims


def symmetric_text(problem, U, times, name):
    return f"""name = "{name}"

[problem]
{problem.toml()}

[network]
parametrization = "symmetric"
k = {U.shape[1]}

[initialization]
kind = "user"
U = {toml_matrix(U)}

[integrator]
method = "dopri5"
rtol = 1e-12
atol = 1e-60

[stop]
t_final = {float(max(times))!r}

[record]
grid = "list"
times = [{", ".join(repr(float(t)) for t in times)}]
save_states = "recorded"
"""


def study_gf_vs_glrl(run, figdir):
    """Thm 5.6 / Lemma E.6 / Figs. 1, 2, 4, 5 on the d = 20 instance."""
    from .glrl_algorithm import glrl, top_direction
    P, folder = d20_problem()
    critical, dirs = glrl(run, P, name="glrl_ref", data_dir=folder)
    mu1, u1 = top_direction(P, np.zeros_like(P.M))
    mu2 = float(np.sort(np.linalg.eigvalsh(-P.grad(np.zeros_like(P.M))))[-2])
    claims = []
    # Escape-time slope at depth 2.
    res = run.run("greedy-low-rank/completion.toml", name="glrl_t13", replace={
        'axes."initialization.alpha" = { from = 1e-12, to = 1e-2, count = 6, spacing = "log" }':
            'axes."initialization.alpha" = [1e-8, 1e-12, 1e-16, 1e-20, 1e-24]', "seeds = 8": "seeds = 1"})
    t_esc = {float(r["initialization.alpha"]): float(r["t_rank1"]) for r in res.rows}
    a = sorted(t_esc)
    slopes = [(t_esc[x] - t_esc[y]) / math.log(y / x) * 2 * mu1 for x, y in zip(a, a[1:])]
    claims.append(Claim(GLRL, "Thm 5.6: depth-2 escape time grows like ln(1/α)/(2μ₁) on a generic completion",
                        "d = 20 instance, W = UUᵀ, U = √α G (one G for every α), α = 1e-8 … 1e-24; time σ₁ reaches 1",
                        f"dt/d ln(1/α) = 1/(2μ₁), μ₁ = λ₁(−∇f(0)) = {mu1:.6f}",
                        "slope × 2μ₁ between consecutive α (largest first): " + ", ".join(f"{s:.6f}" for s in reversed(slopes)),
                        abs(slopes[0] - 1) <= 1e-3))
    # Lemma E.6 vs Thm 5.6 (Fig. 4): distance to the GLRL phase-1 trajectory at shifted times.
    shifts = np.array([-0.2, 0.0, 0.2, 0.4])
    eps_ref = 1e-48
    T = lambda inner: math.log(1 / inner) / (2 * mu1)
    ref = run.run_text("glrl_t14_ref", symmetric_text(P, math.sqrt(eps_ref) * u1[:, None], T(eps_ref) + shifts, "t14-ref"), folder)
    W_ref = product(ref.point(0), "states")[0]
    G = np.random.default_rng(14).standard_normal((20, 20))
    B = G @ G.T / np.linalg.norm(G @ G.T)
    eps_list = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6] if run.full else [1e-2, 1e-4, 1e-6]
    dist = {"rank-1": [], "random": []}
    for e in eps_list:
        for kind, U, inner in (("rank-1", math.sqrt(e) * u1[:, None], e),
                               ("random", math.sqrt(e) * np.linalg.cholesky(B + 1e-300 * np.eye(20)), e * float(u1 @ B @ u1))):
            r = run.run_text(f"glrl_t14_{kind}_{e:g}", symmetric_text(P, U, T(inner) + shifts, f"t14-{kind}"), folder)
            W = product(r.point(0), "states")[0]
            dist[kind].append(float(np.max(np.linalg.norm(W - W_ref, axis=(1, 2)))))
    s1 = np.polyfit(np.log(eps_list), np.log(dist["rank-1"]), 1)[0]
    s2 = np.polyfit(np.log(eps_list), np.log(dist["random"]), 1)[0]
    bound = (mu1 - mu2) / (3 * mu1 - mu2)
    claims.append(Claim(GLRL, "Lemma E.6 vs Thm 5.6 (Fig. 4): a rank-1 start follows the GLRL trajectory to O(ε), a random one only to ε^γ",
                        f"d = 20 instance, ‖W(0)‖ = ε ∈ {{{', '.join(f'{e:g}' for e in eps_list)}}}: ε u₁u₁ᵀ vs ε·(random PSD); reference ε = 1e-48 along u₁; "
                        "distance at the shifted times ln(1/⟨W(0), u₁u₁ᵀ⟩)/(2μ₁) + {−0.2, 0, 0.2, 0.4}",
                        f"rank-1: slope 1 in ε; random: slope ≥ (μ₁−μ₂)/(3μ₁−μ₂) = {bound:.4f} (Thm 5.6), ≈ (μ₁−μ₂)/(2μ₁) = "
                        f"{(mu1 - mu2) / (2 * mu1):.4f} expected for generic starts",
                        "rank-1: " + ", ".join(f"{x:.2e}" for x in dist["rank-1"]) + f" (slope {s1:.3f}); random: "
                        + ", ".join(f"{x:.2e}" for x in dist["random"]) + f" (slope {s2:.3f})",
                        abs(s1 - 1) <= 0.05 and s2 >= bound - 0.01 and dist["random"][-1] > 100 * dist["rank-1"][-1]))
    # Figs. 2 and 5: how close gradient flow passes to the GLRL critical points, and where it ends.
    shallow = run.run("greedy-low-rank/completion.toml", name="glrl_fig2_depth2", replace={
        'axes."initialization.alpha" = { from = 1e-12, to = 1e-2, count = 6, spacing = "log" }':
            'axes."initialization.alpha" = [1e-3, 1e-6, 1e-9, 1e-12]', "count = 60": 'count = 200\nsave_states = "recorded"'},
        reduce={"seeds = 8": "seeds = 2"})
    deep = run.run("greedy-low-rank/completion_deep.toml", name="glrl_fig2_deep",
                   reduce={"axes.\"initialization.alpha\" = [1e-3, 1e-6]": "axes.\"initialization.alpha\" = [1e-6]"})
    near, test = {}, {}
    for res in (shallow, deep):
        for row in res.rows:
            g = res.point(int(row["point"]))
            L = 2 if "network.widths" not in row else depth_of(row)
            a = float(row["initialization.alpha"])
            Ws = product(g, "states")
            for Wt in Ws:
                gap = max(float(np.min(np.linalg.norm(Wt - critical[r], axis=(1, 2)))) for r in (1, 2))
                near.setdefault((L, a), []).append(gap)
                test.setdefault((L, a), []).append(float(np.sum((Wt[-1] - P.M) ** 2)) / 400)
    med = {k: float(np.median(v)) for k, v in near.items()}
    a2 = sorted({a for L, a in med if L == 2}, reverse=True)
    decreasing = all(med[(2, x)] > med[(2, y)] for x, y in zip(a2, a2[1:]))
    deeper = all(med[(L, 1e-6)] < 0.1 * med[(2, 1e-6)] for L in (3, 4) if (L, 1e-6) in med)
    claims.append(Claim(GLRL, "Fig. 2: gradient flow passes by the GLRL critical points W̄₁, W̄₂; depth ≥ 3 passes much closer",
                        "d = 20 instance; depth 2: W = UUᵀ, U = √α G, α = 1e-3 … 1e-12; depths 3, 4: W(0) = αI; 200 recorded states",
                        "max over r ∈ {1, 2} of min_t ‖W(t) − W̄ᵣ‖ shrinks as α → 0, only slowly at depth 2 (which passes W̄₁ "
                        "but may leave it along another direction than GLRL's: Def. H.1 is an assumption); at depth ≥ 3 it is "
                        "O(α), at least 10× smaller at the same α, and the flow recovers W* (Fig. 5)",
                        "; ".join(f"L = {L}, α = {a:g}: {v:.2e}" for (L, a), v in sorted(med.items(), key=lambda kv: (kv[0][0], -kv[0][1])))
                        + "; test loss ‖W∞ − W*‖²/d²: " + "; ".join(f"L = {L}, α = {a:g}: {np.median(v):.1e}" for (L, a), v in sorted(test.items(), key=lambda kv: (kv[0][0], -kv[0][1]))),
                        decreasing and deeper))
    figure = ""
    if figdir:
        fig, axes = plt().subplots(1, 2, figsize=(8, 3.3))
        for L, c in ((2, "C0"), (3, "C1"), (4, "C2")):
            pts = sorted((a, v) for (l, a), v in med.items() if l == L)
            if pts:
                axes[0].loglog([p[0] for p in pts], [p[1] for p in pts], c + "o-", label=f"depth {L}")
                axes[1].loglog([p[0] for p in pts], [np.median(test[(L, p[0])]) for p in pts], c + "o-", label=f"depth {L}")
        axes[0].set_xlabel("α")
        axes[0].set_ylabel("max_r min_t ‖W(t) − W̄ᵣ‖ (GLRL points)")
        axes[1].set_xlabel("α")
        axes[1].set_ylabel("test loss ‖W(t_end) − W*‖²/d²")
        axes[0].legend(fontsize=7)
        fig.suptitle("d = 20 rank-3 completion: gradient flow against GLRL (Figs. 2, 5)", fontsize=9)
        figure = save_figure(fig, figdir, "glrl_gf_vs_glrl")
    claims[-1].figure = figure
    return claims


def study_escape_direction(run, figdir):
    """Lemma J.2: at depth 4 a general small start escapes along e2, not along v1 = e1."""
    res = run.run("greedy-low-rank/escape_direction.toml")
    text = run.text("greedy-low-rank/escape_direction.toml")
    W0 = np.array(eval(text[text.index("\nW0 = ") + 6:].split("\n")[0]))
    mus = np.diag(np.array(eval(text[text.index("\ntarget = ") + 10:].split("\n")[0])))
    w = np.diag(W0)
    t_pred = [deep_escape_time(4, mus[i], w[i], 0.45) if mus[i] > 0.45 else math.inf for i in range(10)]
    blowup = 1 / (2 * mus * np.sqrt(w))
    t_meas = float(res.rows[0]["t_escape"])
    W = product(res.point(0))[0]
    lam, V = np.linalg.eigh(0.5 * (W + W.T))
    align = abs(V[0, -1])                  # |<e1, top eigenvector>|
    rel = abs(t_meas - t_pred[1]) / t_pred[1]
    # Plateaus of 1e7 time units: DP5 at rtol 1e-11 keeps the event time to ~1e-8 relative here
    # (the escape amplifies the phase error by the growth over the last decades only).
    return [Claim(GLRL, "Lemma J.2: at depth 4 the escape direction need not be v₁",
                  "f = ½‖W − Q‖², −∇f(0) = Q = diag(2, 0.9, …, 0.1), L = 4, diagonal W(0): W₂₂ = 16α, others α·U[0.9, 1.1], α = 1e-16; "
                  "stop when σ₁ = 0.45",
                  f"coordinate 2 escapes first: blow-up 1/(2μ₂√W₂₂(0)) = {blowup[1]:.7g} vs coordinate 1 at {blowup[0]:.4g}; "
                  f"exact time to 0.45: {t_pred[1]:.10g}; top eigenvector e₂, ⊥ v₁ = e₁",
                  f"t = {t_meas:.10g} (rel. error {rel:.1e}); |⟨e₁, u₁(W)⟩| = {align:.1e}",
                  rel <= 1e-6 and t_pred[1] < t_pred[0] and align <= 1e-6 and abs(blowup[1] / 1.388889e7 - 1) < 1e-6)]


STUDIES = {
    "glrl-escape-laws": study_escape_laws,
    "glrl-escape-direction": study_escape_direction,
    "glrl-counterexample": study_counterexample,
    "glrl-algorithm": study_glrl_algorithm,
    "glrl-gf-vs-glrl": study_gf_vs_glrl,
}
