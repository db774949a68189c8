// Greedy low-rank learning (Li, Luo, Lyu; cases of docs/theory.md §10): incremental learning in
// full observation, time-shifted limits, the Riccati closed form, the deep limiting curve,
// Example 5.9's counterexample, the Jacobian at the origin, the SVD-form kernel K^(L) and
// optimality certificates.
#include "helpers.hpp"

namespace dlnflow {
namespace {

using testing::diag;
using testing::mat;

// Full observation f = 1/2 ||W - W*||^2 with W = U U^T (symmetric factorization, U in R^{3x3}).
Problem full_observation() { return Problem(matrix_approximation_loss(diag({3, 2, 1})), SymmetricFactorization{3, 3}); }

double sigma(double mu, double alpha, double t) { return alpha * mu / (alpha + (mu - alpha) * std::exp(-2 * mu * t)); }

TEST(GreedyLowRank, T1_FullObservationClosedFormAndEscapeTimes) {
  const Problem p = full_observation();
  const double mu[3] = {3, 2, 1};
  const double table[5][3] = {{0.950074, 1.323326, 2.297560},
                              {1.718153, 2.475859, 4.605120},
                              {3.253216, 4.778457, 9.210340},
                              {6.323329, 9.383627, 18.420681},
                              {12.463556, 18.593968, 36.841361}};
  const double alphas[5] = {1e-2, 1e-4, 1e-8, 1e-16, 1e-32};
  for (int a = 0; a < 5; ++a) {
    const double alpha = alphas[a];
    SolveOptions o = testing::dopri(45.0, 1e-12);
    o.record.times = log_grid(1e-2, 45.0, 30);
    for (int i = 0; i < 3; ++i) o.events.push_back({EventKind::SingularValue, i + 1, mu[i] / 2, Crossing::Up, false});
    const auto r = integrate(p, initial_state(p, ScaledIdentityInit{alpha, ScaleOn::EndToEnd}, 0, 0), o);
    ASSERT_EQ(r.status, Status::Completed);
    for (int i = 0; i < 3; ++i) {
      const double exact = std::log((mu[i] - alpha) / alpha) / (2 * mu[i]);
      EXPECT_NEAR(r.event_times[i], exact, 1e-9 * exact) << "alpha " << alpha << " mode " << i;
      EXPECT_NEAR(r.event_times[i], table[a][i], 1e-6);
    }
    for (const auto& s : r.samples)
      for (int i = 0; i < 3; ++i) EXPECT_NEAR(s.spectrum(i) / sigma(mu[i], alpha, s.t), 1.0, 1e-10) << s.t;
    if (alpha <= 1e-8) {  // escape-time offset t_i - log(1/alpha)/(2 mu_i) -> log(mu_i)/(2 mu_i)
      EXPECT_NEAR(r.event_times[0] - std::log(1 / alpha) / 6, std::log(3.0) / 6, 1e-5);
      EXPECT_NEAR(r.event_times[1] - std::log(1 / alpha) / 4, std::log(2.0) / 4, 1e-5);
    }
  }
}

TEST(GreedyLowRank, T2_TimeShiftedLimitTrajectory) {
  const Problem p = full_observation();
  const double ts[5] = {-1, -0.5, 0, 0.5, 1};
  const double lim[5] = {0.0024767058, 0.0489743060, 0.75, 2.6101455197, 2.9778558996};
  for (double alpha : {1e-4, 1e-8}) {
    const double T = std::log(1 / alpha) / 6;
    SolveOptions o = testing::dopri(T + 1, 1e-12);
    for (double t : ts) o.record.times.push_back(T + t);
    const auto r = integrate(p, initial_state(p, ScaledIdentityInit{alpha, ScaleOn::EndToEnd}, 0, 0), o);
    EXPECT_NEAR(r.samples[2].spectrum(0), 3 / (4 - alpha), 1e-10);  // exact at finite alpha
    EXPECT_NEAR(r.samples[2].spectrum(1) / (2 * alpha / (alpha + (2 - alpha) * std::pow(alpha, 2.0 / 3))), 1.0, 1e-4);
    if (alpha == 1e-8) {
      EXPECT_NEAR(r.samples[2].spectrum(1), 2.1521e-3, 1e-7);
      EXPECT_NEAR(r.samples[2].spectrum(2), 4.6416e-6, 1e-9);
      for (int k = 0; k < 5; ++k) EXPECT_NEAR(r.samples[k].spectrum(0), lim[k], 5e-8) << ts[k];  // O(alpha) away
    }
  }
}

TEST(GreedyLowRank, T3_RiccatiClosedFormNonCommutingStart) {
  const Problem p = full_observation();
  const Mat W0 = 1e-6 * mat(3, 3, {1, 0.5, 0.2, 0.5, 2, -0.3, 0.2, -0.3, 1.5});
  const Vec mu = Vec((Vec(3) << 3, 2, 1).finished());
  SolveOptions o = testing::dopri(12, 1e-12);
  o.record.times = {2, 4, 6, 8, 12};
  const auto r = integrate(p, initial_state(p, BalancedInit{W0}, 0, 0), o);
  Model m(p);
  const Mat W0inv = W0.inverse();
  for (const auto& s : r.samples) {
    const Vec e = (-mu * s.t).array().exp();
    const Vec integral = ((1 - (-2 * mu * s.t).array().exp()) / mu.array()).matrix();
    const Mat Wt = (e.asDiagonal() * W0inv * e.asDiagonal() + Mat(integral.asDiagonal())).inverse();
    // Eigenvalues of W(t) equal those of the closed form (the recorded spectrum).
    const Vec ev = sym_eig(Wt).values;
    EXPECT_LT((s.spectrum - ev).cwiseAbs().maxCoeff(), 1e-9) << s.t;
  }
  const auto r2 = integrate(p, initial_state(p, BalancedInit{W0}, 0, 0), testing::dopri(2, 1e-12));
  const Mat W2 = m.end_to_end(r2.final_state);
  EXPECT_NEAR(W2(0, 0), 0.15432481, 1e-8);
  EXPECT_NEAR(W2(1, 1), 0.00590606, 1e-8);
  EXPECT_NEAR(W2(2, 2), 0.00008177, 1e-8);
  EXPECT_NEAR(W2(0, 1), 1.041573e-2, 1e-8);
  const auto r6 = integrate(p, initial_state(p, BalancedInit{W0}, 0, 0), testing::dopri(6, 1e-12));
  EXPECT_NEAR(m.end_to_end(r6.final_state)(2, 2), 0.18216632, 1e-8);
}

// W*(t) of the deep limit: t = -1/(2 mu M) + atanh(M / sqrt(mu)) / (2 mu^{3/2}), W = M^2.
TEST(GreedyLowRank, T5_DeepLimitCurveDepthFour) {
  const double mu = 3;
  const Problem p(matrix_approximation_loss(diag({mu})), DeepFactorization{{1, 1, 1, 1, 1}});
  const double expected[3] = {2.0905655445, 2.0845108419};
  int k = 0;
  for (double alpha : {1e-4, 1e-8}) {
    const double shift = std::pow(alpha, -0.5) / (2 * mu);
    SolveOptions o = testing::dopri(shift, 1e-13);
    const auto r = integrate(p, initial_state(p, ScaledIdentityInit{alpha, ScaleOn::EndToEnd}, 0, 0), o);
    EXPECT_NEAR(testing::final_W(p, r)(0, 0), expected[k++], 1e-7) << alpha;
  }
  // The limit value at t = 0 from the implicit relation, by bisection: 2.0844496142.
  auto t_of = [&](double M) { return -1 / (2 * mu * M) + std::atanh(M / std::sqrt(mu)) / (2 * std::pow(mu, 1.5)); };
  double lo = 1e-3, hi = std::sqrt(mu) - 1e-12;
  for (int i = 0; i < 200; ++i) (t_of(0.5 * (lo + hi)) < 0 ? lo : hi) = 0.5 * (lo + hi);
  EXPECT_NEAR(lo * lo, 2.0844496142, 1e-9);
  EXPECT_NEAR(expected[1] - lo * lo, 0.612 * 1e-4, 0.01e-4);  // O(alpha^{1/2}) convergence
}

struct Counterexample {
  explicit Counterexample(double R) {
    M << 0, 0, 1, R, 0, 0, R, 0, 1, R, 0, 0, R, 0, 0, 0;
    loss.target = M;
    loss.omega = {{0, 2}, {0, 3}, {1, 2}, {2, 0}, {2, 1}, {3, 0}};
    Mnorm << R, 1, 1, R, 1, R, R, 1, 1, R, R, 1, R, 1, 1, R;
    Vec x(4);
    x << 1, R, 1, R;
    Mrank = x * x.transpose();
  }
  Mat M = Mat(4, 4), Mnorm = Mat(4, 4), Mrank;
  CompletionLoss loss;
};

TEST(GreedyLowRank, T6_Example59Counterexample) {
  for (double R : {2.0, 5.0, 10.0, 100.0}) {
    Counterexample c(R);
    const Problem p(c.loss, SymmetricFactorization{4, 4});
    Model m(p);
    Mat G;
    m.loss_and_gradient(Mat::Zero(4, 4), G);
    const Vec ev = sym_eig(-G).values;
    const double l1 = (1 + std::sqrt(1 + 4 * R * R)) / 2, l2 = (1 - std::sqrt(1 + 4 * R * R)) / 2;
    EXPECT_NEAR(ev(0), l1, 1e-12);
    EXPECT_NEAR(ev(1), -l2, 1e-12);
    EXPECT_NEAR(ev(0) - ev(1), 1.0, 1e-12);
    EXPECT_NEAR(m.loss(c.Mrank), 0.0, 0.0);
    EXPECT_NEAR(m.loss(c.Mnorm), 0.0, 0.0);
    EXPECT_NEAR(thin_svd(c.Mnorm).s.sum(), 4 * R, 1e-10 * R);
    EXPECT_NEAR(thin_svd(c.Mrank).s.sum(), 2 * R * R + 2, 1e-10 * R * R);
    m.loss_and_gradient(c.Mrank, G);
    EXPECT_EQ(G.norm(), 0.0);  // -grad f(M_rank) = 0: GLRL stops after one phase
  }
  EXPECT_NEAR(thin_svd(Counterexample(100).Mrank).s.sum(), 20002, 1e-8);
  Counterexample c(2);
  EXPECT_NEAR((c.Mrank - c.Mnorm).norm(), 5.656854, 1e-6);
  // GLRL phase 1 from eps u1 u1^T (U = sqrt(eps) u1, one column), at shifted times.
  const Problem p(c.loss, SymmetricFactorization{4, 1});
  Model m(p);
  Mat G;
  m.loss_and_gradient(Mat::Zero(4, 4), G);
  const SymEig e = sym_eig(-G);
  Vec u1 = e.vectors.col(0);
  if (u1(0) < 0) u1 = -u1;
  EXPECT_NEAR(u1(0), 0.557345, 1e-6);
  EXPECT_NEAR(u1(1), 0.435162, 1e-6);
  const double eps = 1e-12, T = std::log(1 / eps) / (2 * e.values(0));
  const double ts[6] = {-1, 0, 1, 2, 5, 10};
  const double xy[6][2] = {{0.042995196, 0.033573729}, {0.512310577, 0.407597635}, {1.207736484, 1.326162653},
                           {1.134819426, 1.619161547}, {1.041096137, 1.883848065}, {1.008174967, 1.976742274}};
  SolveOptions o = testing::dopri(T + 10, 1e-12);
  for (double t : ts) o.record.times.push_back(T + t);
  const auto r = integrate(p, pack_state(p, {Mat(std::sqrt(eps) * u1)}), o);
  for (int k = 0; k < 6; ++k) {
    // W = w w^T with w = (x, y, x, y): its eigenvalue is ||w||^2 = 2 (x^2 + y^2).
    const double lam = r.samples[k].spectrum(0);  // = ||w||^2 = 2 (x^2 + y^2)
    EXPECT_NEAR(lam, 2 * (xy[k][0] * xy[k][0] + xy[k][1] * xy[k][1]), 1e-6) << ts[k];
  }
  const Mat Wend = m.end_to_end(r.final_state);
  EXPECT_NEAR(std::sqrt(Wend(0, 0)), 1.008174967, 1e-7);
  EXPECT_NEAR(std::sqrt(Wend(1, 1)), 1.976742274, 1e-7);
}

// Jacobian of g(W) = -(W S + S W), S = sym grad f(W), at W = 0 on symmetric matrices.
TEST(GreedyLowRank, T10_JacobianSpectrumAtOrigin) {
  Counterexample c(2);
  const Problem p(c.loss, SymmetricFactorization{4, 4});
  Model m(p);
  auto g = [&](const Mat& W) {
    Mat G;
    m.loss_and_gradient(W, G);
    const Mat S = 0.5 * (G + G.transpose());
    return Mat(-(W * S + S * W));
  };
  // Basis of symmetric 4x4 matrices (orthonormal in the Frobenius product).
  std::vector<Mat> basis;
  for (int i = 0; i < 4; ++i)
    for (int j = i; j < 4; ++j) {
      Mat B = Mat::Zero(4, 4);
      B(i, j) = B(j, i) = i == j ? 1.0 : 1 / std::sqrt(2.0);
      basis.push_back(B);
    }
  Mat J(10, 10);
  const double h = 1e-6;
  for (int b = 0; b < 10; ++b) {
    const Mat d = (g(h * basis[b]) - g(-h * basis[b])) / (2 * h);
    for (int a = 0; a < 10; ++a) J(a, b) = d.cwiseProduct(basis[a]).sum();
  }
  const Vec ev = testing::sorted_eigenvalues(J);
  const double expected[10] = {-5.1231056, -4.1231056, -3.1231056, -1.0, 0, 0, 1.0, 3.1231056, 4.1231056, 5.1231056};
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(ev(i), expected[i], 1e-6);
}

TEST(GreedyLowRank, T12_SvdFormKernel) {
  const double K12[] = {1, 1.5, 1.810660, 1.981955, 2.071646, 2.140690};
  const double K11[] = {1, 2, 2.828427, 3.363586, 3.668016, 3.914288};
  const int L[] = {1, 2, 4, 8, 16, 64};
  for (int i = 0; i < 6; ++i) {
    // K^(L) = k_L / L, the kernel of the SVD form (19).
    EXPECT_NEAR(balanced_weight(2, 1, L[i]) / L[i], K12[i], 1e-6) << L[i];
    EXPECT_NEAR(balanced_weight(2, 2, L[i]) / L[i], K11[i], 1e-6) << L[i];
    EXPECT_NEAR(balanced_weight(1, 1, L[i]) / L[i], 1.0, 1e-15);
  }
  // Corollary D.2: K^(L) -> the log-mean 3/ln 4, at rate O(1/L) (at L = 64, K_12 is still 0.023 below it).
  const double kstar = 3 / std::log(4.0);
  const double gap1k = (kstar - balanced_weight(2, 1, 1024) / 1024) * 1024;
  const double gap4k = (kstar - balanced_weight(2, 1, 4096) / 4096) * 4096;
  EXPECT_GT(gap4k, 0.0);
  EXPECT_NEAR(gap4k / gap1k, 1.0, 1e-3);
  // L = 2, symmetric PSD W: the balanced flow equals -(W G + G W).
  const Mat A = gaussian_matrix(4, 4, 3, 0, 0);
  const Mat W = A * A.transpose();
  Mat Gs = gaussian_matrix(4, 4, 3, 0, 1);
  Gs = 0.5 * (Gs + Gs.transpose());
  EXPECT_LT(testing::max_abs_diff(balanced_operator(W, Gs, 2, 4), Mat(psd_sqrt(W * W) * Gs + Gs * psd_sqrt(W * W))), 1e-12);
  EXPECT_LT(testing::max_abs_diff(balanced_operator(W, Gs, 2, 4), Mat(W * Gs + Gs * W)), 1e-12);
}

TEST(GreedyLowRank, T15_OptimalityCertificates) {
  Counterexample c(2);
  const Problem p(c.loss, SymmetricFactorization{4, 4});
  SolveOptions o = testing::dopri(400, 1e-11, 1e-14);
  o.stop.grad_norm_below = 1e-10;
  o.stop.grad_min_time = 10;
  const auto r = integrate(p, initial_state(p, ScaledIdentityInit{1e-3, ScaleOn::EndToEnd}, 0, 0), o);
  EXPECT_EQ(r.status, Status::GradConverged);
  Model m(p);
  const Mat W = m.end_to_end(r.final_state);
  Mat G;
  m.loss_and_gradient(W, G);
  const Mat S = 0.5 * (G + G.transpose());
  EXPECT_LT((S * W).norm(), 1e-9);                      // critical point (Lemma A.1)
  EXPECT_GE(sym_eig(S).values.minCoeff(), -1e-9);      // global minimizer on the PSD cone (Lemma A.2)
  EXPECT_LT(r.final_loss, 1e-18);
  // The origin is not a minimizer: lambda_1(-grad f(0)) > 0, so GLRL takes a first phase.
  m.loss_and_gradient(Mat::Zero(4, 4), G);
  EXPECT_GT(sym_eig(-G).values(0), 0.0);
}

}  // namespace
}  // namespace dlnflow
