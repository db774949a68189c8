// Bures-Wasserstein loss (Brechet et al.), loss-level cases of docs/theory.md §10: distances,
// gradients, critical points (Thm 4.2, 4.4), corrected identities (Lemma C.2, eq. (10),
// Lemma 3.3) and curvature (Prop D.8).
#include "helpers.hpp"

namespace dlnflow {
namespace {

using testing::diag;
using testing::mat;

// N = 1 problem (W itself is the state) with W of size n x m.
Problem bw(const Mat& S0, double tau, Index m) {
  return Problem(BuresWassersteinLoss{S0, tau}, DeepFactorization{{static_cast<int>(m), static_cast<int>(S0.rows())}});
}

struct LG {
  double L;
  Mat G;
};
LG eval(const Mat& S0, double tau, const Mat& W) {
  const Problem p = bw(S0, tau, W.cols());
  Model m(p);
  LG r;
  r.L = m.loss_and_gradient(W, r.G);
  return r;
}

const Mat S3 = mat(3, 3, {3, 1, 0, 1, 2, 0.5, 0, 0.5, 1});
const Mat W34 = mat(3, 4, {1.0, 0.2, 0.0, 0.1, 0.3, 0.9, 0.2, 0.0, 0.0, 0.1, 0.7, 0.3});

TEST(BuresWasserstein, TC1_NonCommuting2x2) {
  const Mat S = mat(2, 2, {2, 1, 1, 1}), S0 = diag({1, 4});
  const double expected = 8 - 2 * std::sqrt(10.0);
  EXPECT_NEAR(bures_wasserstein_sq(S, S0), 1.675444679663241, 1e-13);
  EXPECT_NEAR(bures_wasserstein_sq(S, S0), expected, 1e-13);
  EXPECT_NEAR(bures_wasserstein_sq(S0, S), expected, 1e-13);
  // tr M^{1/2} = sqrt(tr M + 2 sqrt(det M)) for 2x2 PSD M.
  const Mat M = mat(2, 2, {2, 6, 6, 20});
  EXPECT_NEAR(psd_sqrt(M).trace(), std::sqrt(M.trace() + 2 * std::sqrt(M.determinant())), 1e-13);
}

TEST(BuresWasserstein, TC2_CommutingHellinger) {
  EXPECT_NEAR(bures_wasserstein_sq(Mat::Identity(2, 2), diag({1, 2})), 0.171572875253810, 1e-14);
}

TEST(BuresWasserstein, TC3_NotTranslationInvariant) {
  const Mat I = Mat::Identity(2, 2);
  const double a = bures_wasserstein_sq(2 * I, diag({2, 3})) - bures_wasserstein_sq(I, diag({1, 2}));
  EXPECT_NEAR(a, -0.0705523608201661, 1e-13);
  const Mat R0 = diag({1, 2}), R = mat(2, 2, {1, 1, 1, 2});
  const double l = bures_wasserstein_sq(R * R, R0 * R0);
  const double ls = bures_wasserstein_sq((R + I) * (R + I), (R0 + I) * (R0 + I));
  EXPECT_NEAR(l, 1.80196097281443, 1e-13);
  EXPECT_NEAR(ls, 1.92319037918941, 1e-13);
  EXPECT_NEAR(ls - l, 0.121229406374975, 1e-13);
}

// W_J with (W_J)_{j, c} = sqrt(lambda_j - tau) for the c-th element j of J.
Mat critical_W(const Vec& lambda, const std::vector<int>& J, double tau, Index m) {
  Mat W = Mat::Zero(lambda.size(), m);
  for (std::size_t c = 0; c < J.size(); ++c) W(J[c], c) = std::sqrt(lambda(J[c]) - tau);
  return W;
}

std::vector<std::vector<int>> all_subsets(int n) {
  std::vector<std::vector<int>> out;
  for (int mask = 0; mask < (1 << n); ++mask) {
    std::vector<int> J;
    for (int i = 0; i < n; ++i)
      if (mask & (1 << i)) J.push_back(i);
    out.push_back(J);
  }
  return out;
}

TEST(BuresWasserstein, TC4_Theorem42CriticalValues) {
  const Vec lambda = Vec((Vec(4) << 4, 3, 2, 1).finished());
  const Mat S0 = lambda.asDiagonal();
  const Mat Q = testing::mat(4, 4, {0.5, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, -0.5, 0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5});
  for (const auto& J : all_subsets(4)) {
    double expected = 0;  // sum of the discarded eigenvalues, not squared
    for (int i = 0; i < 4; ++i)
      if (std::find(J.begin(), J.end(), i) == J.end()) expected += lambda(i);
    const Mat W = critical_W(lambda, J, 0.0, 4);
    const LG r = eval(S0, 0.0, W);
    EXPECT_NEAR(r.L, expected, 1e-12) << "J of size " << J.size();
    EXPECT_LT(r.G.norm(), 1e-12);
    const LG rq = eval(S0, 0.0, W * Q);  // V -> QV: still critical, same value
    EXPECT_NEAR(rq.L, expected, 1e-12);
    EXPECT_LT(rq.G.norm(), 1e-12);
  }
  EXPECT_NEAR(eval(S0, 0, critical_W(lambda, {0}, 0, 4)).L, 6, 1e-12);
  EXPECT_NEAR(eval(S0, 0, critical_W(lambda, {1, 3}, 0, 4)).L, 6, 1e-12);  // J = {2,4} (1-based)
  EXPECT_NEAR(eval(S0, 0, critical_W(lambda, {0, 3}, 0, 4)).L, 5, 1e-12);  // J = {1,4}
  EXPECT_NEAR(eval(S0, 0, critical_W(lambda, {0, 1, 2}, 0, 4)).L, 1, 1e-12);
}

TEST(BuresWasserstein, TC5_NonDiagonalTarget) {
  const Mat S0 = mat(2, 2, {2, 1, 1, 2});
  const Mat Wmin = mat(2, 1, {1.224744871391589, 1.224744871391589});
  LG r = eval(S0, 0, Wmin);
  EXPECT_NEAR(r.L, 1.0, 1e-13);
  EXPECT_LT(r.G.norm(), 1e-12);
  EXPECT_LT(testing::max_abs_diff(Wmin * Wmin.transpose(), Mat::Constant(2, 2, 1.5)), 1e-13);
  const Vec v = Vec((Vec(3) << 1, 2, 2).finished()) / 3.0;
  const Mat Wmin3 = std::sqrt(1.5) * mat(2, 1, {1, 1}) * v.transpose();
  r = eval(S0, 0, Wmin3);
  EXPECT_NEAR(r.L, 1.0, 1e-13);
  EXPECT_LT(r.G.norm(), 1e-12);
  const Mat Wsad = std::sqrt(0.5) * mat(2, 1, {1, -1});
  r = eval(S0, 0, Wsad);
  EXPECT_NEAR(r.L, 3.0, 1e-13);
  EXPECT_LT(r.G.norm(), 1e-12);
  r = eval(S0, 0, mat(2, 1, {1, 0}));
  EXPECT_NEAR(r.L, 2.17157287525381, 1e-13);
  EXPECT_NEAR(r.G(0, 0), -0.828427124746190, 1e-13);
  EXPECT_NEAR(r.G(1, 0), -1.414213562373095, 1e-13);
}

TEST(BuresWasserstein, TC6_Theorem44SmoothCriticalValues) {
  const Vec lambda = Vec((Vec(4) << 4, 3, 2, 1).finished());
  const Mat S0 = lambda.asDiagonal();
  const double tau = 0.25;
  for (const auto& J : all_subsets(4)) {
    double expected = 0;  // sum over discarded (sqrt(lambda) - sqrt(tau))^2, with the (n-k) tau term
    for (int i = 0; i < 4; ++i)
      if (std::find(J.begin(), J.end(), i) == J.end()) expected += std::pow(std::sqrt(lambda(i)) - 0.5, 2);
    const LG r = eval(S0, tau, critical_W(lambda, J, tau, 4));
    EXPECT_NEAR(r.L, expected, 1e-13);
    EXPECT_LT(r.G.norm(), 1e-12);
  }
  EXPECT_NEAR(eval(S0, tau, Mat::Zero(4, 4)).L, 4.85373563, 1e-8);
  EXPECT_NEAR(eval(S0, tau, critical_W(lambda, {0, 1}, tau, 4)).L, 1.085786437626905, 1e-13);
  EXPECT_NEAR(eval(S0, tau, critical_W(lambda, {0, 1, 2}, tau, 4)).L, 0.25, 1e-13);
  EXPECT_NEAR(eval(S0, tau, critical_W(lambda, {1}, tau, 4)).L, 3.335786438, 1e-9);
}

TEST(BuresWasserstein, TC7_GradientNormIdentityCorrected) {
  // (a) full rank: ||grad||^2 = 4 L.
  LG r = eval(mat(2, 2, {2, 1, 1, 2}), 0, mat(2, 2, {1, 2, 0, 1}));
  EXPECT_NEAR(r.L, 1.17637226190095, 1e-12);
  EXPECT_NEAR(r.G.squaredNorm(), 4.70548904760379, 1e-11);
  const Mat G = mat(2, 2, {0.308155820556907, 1.733358591994639, 1.117046950880825, -0.598500742645238});
  EXPECT_LT(testing::max_abs_diff(r.G, G), 1e-12);
  // (b) rank deficient: ||grad||^2 = 4 (L - tr((I - U U^T) Sigma0)) = 4, not 4 L = 8.
  r = eval(diag({4, 1}), 0, mat(2, 1, {1, 0}));
  EXPECT_NEAR(r.L, 2.0, 1e-13);
  EXPECT_NEAR(r.G(0, 0), -2.0, 1e-13);
  EXPECT_NEAR(r.G(1, 0), 0.0, 1e-13);
  EXPECT_NEAR(r.G.squaredNorm(), 4.0, 1e-12);
  // (c) random full-row-rank W (n <= m).
  for (std::uint64_t s = 0; s < 5; ++s) {
    const Mat A = gaussian_matrix(3, 3, 11, s, 0);
    const Mat S0 = A * A.transpose() + 0.5 * Mat::Identity(3, 3);
    const Mat W = gaussian_matrix(3, 5, 11, s, 1);
    r = eval(S0, 0, W);
    EXPECT_NEAR(r.G.squaredNorm() / (4 * r.L), 1.0, 1e-12);
  }
}

TEST(BuresWasserstein, TC13_StrictSaddleCurvatureCorrected) {
  const Problem p = bw(diag({4, 1}), 0, 1);
  Model m(p);
  auto L = [&](double t) { return m.loss(mat(2, 1, {t / 2, std::sqrt(1 - t * t)})); };
  EXPECT_NEAR(L(0), 4.0, 1e-14);
  for (double t : {0.1, 0.3, 0.7}) EXPECT_NEAR(L(t), 4 - 0.75 * t * t, 1e-13);
  const double h = 1e-3;
  EXPECT_NEAR((L(h) - 2 * L(0) + L(-h)) / (h * h), -1.5, 1e-8);  // paper's formula: -2.5
  auto Lmin = [&](double t) { return m.loss(mat(2, 1, {2 * std::sqrt(1 - t * t), 4 * t})); };
  EXPECT_NEAR((Lmin(h) - 2 * Lmin(0) + Lmin(-h)) / (h * h), 24.0, 1e-7);
}

TEST(BuresWasserstein, TC14_HessianAtOriginSmoothLoss) {
  const Problem p = bw(diag({4, 1}), 0.25, 1);
  Model m(p);
  const Vec zero = Vec::Zero(2);
  EXPECT_NEAR(m.state_loss(zero), 2.5, 1e-14);
  EXPECT_LT(testing::param_gradient(m, zero).norm(), 1e-15);
  const Vec ev = testing::sorted_eigenvalues(testing::fd_hessian(m, zero, 1e-6));
  EXPECT_NEAR(ev(0), -6.0, 1e-8);
  EXPECT_NEAR(ev(1), -2.0, 1e-8);
  // Per-mode curvature 2(1 - sqrt(lambda / tau)) at w = 0 for lambda = 4.
  for (double tau : {1e-2, 1e-4, 1e-6}) {
    const Problem q = bw(diag({4}), tau, 1);
    Model mq(q);
    const Vec ev1 = testing::sorted_eigenvalues(testing::fd_hessian(mq, Vec::Zero(1), 1e-5 * std::sqrt(tau)));
    const double expected = 2 * (1 - std::sqrt(4 / tau));
    EXPECT_NEAR(ev1(0) / expected, 1.0, 1e-8) << "tau = " << tau;
  }
}

TEST(BuresWasserstein, TC15_HessianCorrectedAndDirectionalDerivatives) {
  const double tau = 0.2;
  const Mat X = mat(3, 3, {.2, .1, 0, .1, -.3, .2, 0, .2, .4});
  const Mat V = mat(3, 4, {.3, -.1, .2, .5, .1, 0, -.4, .2, .2, .3, .1, -.2});
  const Mat Stau = W34 * W34.transpose() + tau * Mat::Identity(3, 3);
  auto grad_cov = [&](const Mat& S) { return Mat(Mat::Identity(3, 3) - ot_map(S, S3)); };
  const double h = 1e-5;
  const double d2cov = ((grad_cov(Stau + h * X) - grad_cov(Stau - h * X)).cwiseProduct(X).sum()) / (2 * h);
  EXPECT_NEAR(d2cov, 0.251013081813, 1e-9);  // the paper's (47) would give 0.207122345884
  EXPECT_NEAR(grad_cov(Stau).cwiseProduct(X).sum(), -0.0965890608496856, 1e-12);

  const Problem pt = bw(S3, tau, 4), p0 = bw(S3, 0, 4);
  Model mt(pt), m0(p0);
  Mat Gp, Gm, G;
  mt.loss_and_gradient(W34 + h * V, Gp);
  mt.loss_and_gradient(W34 - h * V, Gm);
  EXPECT_NEAR((Gp - Gm).cwiseProduct(V).sum() / (2 * h), -0.014454087534, 1e-9);
  mt.loss_and_gradient(W34, G);
  EXPECT_NEAR(G.cwiseProduct(V).sum(), -0.308231604385051, 1e-12);
  m0.loss_and_gradient(W34, G);
  EXPECT_NEAR(G.cwiseProduct(V).sum(), -0.390104012993058, 1e-12);
}

TEST(BuresWasserstein, TC16_OtMapIdentitiesAndCancellationFreeLoss) {
  const double tau = 0.2;
  const Mat Stau = W34 * W34.transpose() + tau * Mat::Identity(3, 3);
  const Mat T1 = ot_map(Stau, S3);
  const Mat Sh = psd_sqrt(Stau), Shi = spd_inv_sqrt(Stau);
  const Mat T2 = Shi * psd_sqrt(Sh * S3 * Sh) * Shi;
  EXPECT_LT(testing::max_abs_diff(T1, T2), 1e-13);
  EXPECT_LT(testing::max_abs_diff(T1 * Stau * T1, S3), 1e-13);
  const Mat TmI = T1 - Mat::Identity(3, 3);
  EXPECT_NEAR((TmI * Stau * TmI).trace(), 0.52175992661693, 1e-12);
  EXPECT_NEAR((TmI * Sh).squaredNorm(), 0.52175992661693, 1e-12);
  EXPECT_NEAR((TmI * Stau).squaredNorm(), 0.741641738371701, 1e-12);  // the printed (10): not the loss
  EXPECT_NEAR(eval(S3, tau, W34).L, 0.52175992661693, 1e-12);
  EXPECT_NEAR(bures_wasserstein_sq(Stau, S3), 0.52175992661693, 1e-12);
  const Mat W32 = mat(3, 2, {1, .2, .3, .9, 0, .1}), W31 = mat(3, 1, {1, .3, .5});
  const std::pair<Mat, double> cases[] = {{W34, 0.760531436054757}, {W32, 1.65695639806536}, {W31, 3.25099033994783}};
  for (const auto& [W, L] : cases) {
    EXPECT_NEAR(eval(S3, 0, W).L, L, 1e-12);
    EXPECT_NEAR(bures_wasserstein_sq(W * W.transpose(), S3), L, 1e-12);
  }
}

TEST(BuresWasserstein, TC17_Lemma33CounterexamplesAndCorrectedBound) {
  auto diff = [](const Mat& S0, const Mat& W, double tau) { return eval(S0, tau, W).L - eval(S0, 0, W).L; };
  EXPECT_NEAR(diff(Mat::Identity(2, 2), Mat::Zero(2, 2), 0.01), -0.38, 1e-12);
  EXPECT_NEAR(diff(diag({100}), diag({1}), 1.0), -7.28427124746, 1e-10);
  EXPECT_NEAR(diff(diag({4, 1}), diag({1, 0}), 0.04), -0.399215610874, 1e-11);
  for (std::uint64_t s = 0; s < 50; ++s) {
    const int n = 2 + s % 3, m = 1 + s % 4;
    const Mat A = gaussian_matrix(n, n, 17, s, 0);
    const Mat S0 = A * A.transpose() + 0.1 * Mat::Identity(n, n);
    const Mat W = gaussian_matrix(n, m, 17, s, 1);
    const double tau = std::pow(10.0, -3.0 + 3.0 * (s % 7) / 6.0);
    const double d = diff(S0, W, tau);
    const double lower = tau * n - 2 * std::sqrt(tau) * psd_sqrt(S0).trace();
    EXPECT_GE(d, lower - 1e-12 * std::abs(lower));
    EXPECT_LE(d, tau * n + 1e-12 * tau * n);
  }
  const Mat S0 = diag({3, 2});
  EXPECT_NEAR(diff(S0, Mat::Zero(2, 2), 0.3), 0.3 * 2 - 2 * std::sqrt(0.3) * (std::sqrt(3.0) + std::sqrt(2.0)), 1e-12);
}

TEST(BuresWasserstein, TC22_LossProperties) {
  for (std::uint64_t s = 0; s < 20; ++s) {
    const Mat A = gaussian_matrix(3, 3, 23, s, 0), B = gaussian_matrix(3, 3, 23, s, 1);
    const Mat S0 = A * A.transpose() + 0.05 * Mat::Identity(3, 3);
    const Mat S = B * B.transpose();
    const Mat W = gaussian_matrix(3, 4, 23, s, 2);
    const Mat Q = Eigen::HouseholderQR<Mat>(gaussian_matrix(4, 4, 23, s, 3)).householderQ();
    const Mat O = Eigen::HouseholderQR<Mat>(gaussian_matrix(3, 3, 23, s, 4)).householderQ();
    const double L = eval(S0, 0, W).L;
    EXPECT_NEAR(eval(S0, 0, W * Q).L, L, 1e-12 * (1 + L));
    const double b = bures_wasserstein_sq(S, S0);
    EXPECT_NEAR(bures_wasserstein_sq(O * S * O.transpose(), O * S0 * O.transpose()), b, 1e-12 * (1 + b));
    EXPECT_GE(b, 0.5 * S.trace() - S0.trace() - 1e-12);
    EXPECT_GE(L, 0.0);
    const double a = std::sqrt(S.trace()), c = std::sqrt(S0.trace());
    EXPECT_LE(b, (a + c) * (a + c) + 1e-12);
    EXPECT_GE(b, (a - c) * (a - c) - 1e-12);
    EXPECT_NEAR(eval(S0, 0, psd_sqrt(S0)).L, 0.0, 1e-13 * S0.trace());
  }
}

}  // namespace
}  // namespace dlnflow
