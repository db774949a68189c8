// Every loss's gradient against central finite differences of its value at random points,
// including points near rank deficiency for the Bures-Wasserstein loss with tau > 0.
#include "helpers.hpp"

namespace dlnflow {
namespace {

void expect_gradient_matches(const Problem& p, const Mat& W, double tol, double h = 1e-6, bool fourth_order = false) {
  Model m(p);
  Mat G;
  m.loss_and_gradient(W, G);
  auto f = [&](const Mat& X) { return m.loss(X); };
  const Mat Gfd = fourth_order ? testing::fd_gradient4(f, W, h) : testing::fd_gradient(f, W, h);
  EXPECT_LT(testing::max_abs_diff(G, Gfd), tol * (1 + G.cwiseAbs().maxCoeff()));
  EXPECT_NEAR(m.loss(W), m.loss_and_gradient(W, G), 0.0);  // value-only and value+gradient agree
}

TEST(LossGradients, SquareRegressionAtRandomPoints) {
  for (std::uint64_t s = 0; s < 10; ++s) {
    const Mat X = gaussian_matrix(4, 7, 31, s, 0), Y = gaussian_matrix(3, 7, 31, s, 1);
    const Problem p(regression_loss(X, Y), DeepFactorization{{4, 3}});
    expect_gradient_matches(p, gaussian_matrix(3, 4, 31, s, 2), 1e-8);
    // Rank-deficient X X^T (fewer samples than features) takes the uncentred branch.
    const Problem q(regression_loss(gaussian_matrix(4, 2, 31, s, 3), gaussian_matrix(3, 2, 31, s, 4)), DeepFactorization{{4, 3}});
    expect_gradient_matches(q, gaussian_matrix(3, 4, 31, s, 5), 1e-8);
  }
}

TEST(LossGradients, SensingAndCompletionAtRandomPoints) {
  for (std::uint64_t s = 0; s < 10; ++s) {
    SensingLoss sl;
    for (int i = 0; i < 6; ++i) sl.A.push_back(gaussian_matrix(3, 3, 37, s, i));
    sl.y = gaussian_matrix(6, 1, 37, s, 99);
    expect_gradient_matches(Problem(sl, DeepFactorization{{3, 3}}), gaussian_matrix(3, 3, 37, s, 100), 1e-8);
    CompletionLoss cl{gaussian_matrix(4, 5, 41, s, 0), {{0, 1}, {2, 3}, {3, 4}, {1, 0}, {0, 1}}};
    expect_gradient_matches(Problem(cl, DeepFactorization{{5, 4}}), gaussian_matrix(4, 5, 41, s, 1), 1e-8);
  }
}

TEST(LossGradients, BuresWassersteinFullRankAtRandomPoints) {
  for (std::uint64_t s = 0; s < 10; ++s) {
    const Mat A = gaussian_matrix(3, 3, 43, s, 0);
    const Mat S0 = A * A.transpose() + 0.2 * Mat::Identity(3, 3);
    const Mat W = gaussian_matrix(3, 5, 43, s, 1);
    for (double tau : {0.0, 0.05, 1.0}) expect_gradient_matches(Problem(BuresWassersteinLoss{S0, tau}, DeepFactorization{{5, 3}}), W, 1e-7);
  }
}

TEST(LossGradients, BuresWassersteinSmoothNearRankDeficiency) {
  // W = rank-1 part + 1e-4 * (other directions): the smooth loss stays differentiable with
  // curvature ~ tau^{-1/2}. Its value carries roundoff ~ eps * cond(A_tau) ~ 1e-11 here, so a
  // fourth-order stencil; h = 3e-4 minimizes noise / h + (h / sqrt(tau))^4 (measured over h).
  for (std::uint64_t s = 0; s < 6; ++s) {
    const Mat A = gaussian_matrix(3, 3, 47, s, 0);
    const Mat S0 = A * A.transpose() + 0.3 * Mat::Identity(3, 3);
    const Mat W = gaussian_matrix(3, 1, 47, s, 1) * gaussian_matrix(1, 3, 47, s, 2) + 1e-4 * gaussian_matrix(3, 3, 47, s, 3);
    for (double tau : {1e-2, 1e-4})
      expect_gradient_matches(Problem(BuresWassersteinLoss{S0, tau}, DeepFactorization{{3, 3}}), W, 1e-6, 3e-4, true);
  }
}

TEST(LossGradients, BuresWassersteinPlainOnTheRankManifold) {
  // At rank-deficient W the tau = 0 gradient is that of the restriction to M_k (Brechet et al.
  // Lemma D.3, eq. (38)):
  // it matches finite differences along directions tangent to M_k.
  const Mat A = gaussian_matrix(3, 3, 53, 0, 0);
  const Mat S0 = A * A.transpose() + 0.3 * Mat::Identity(3, 3);
  const Mat a = gaussian_matrix(3, 1, 53, 0, 1), b = gaussian_matrix(1, 4, 53, 0, 2);
  const Problem p(BuresWassersteinLoss{S0, 0}, DeepFactorization{{4, 1, 3}});  // rank bound 1
  Model m(p);
  const Mat W = a * b;
  Mat G;
  m.loss_and_gradient(W, G);
  for (int k = 0; k < 5; ++k) {
    const Mat da = gaussian_matrix(3, 1, 53, k, 10), db = gaussian_matrix(1, 4, 53, k, 11);
    const Mat tangent = da * b + a * db;  // velocity of (a + s da)(b + s db) at s = 0
    const double h = 1e-6;
    const double fd = (m.loss((a + h * da) * (b + h * db)) - m.loss((a - h * da) * (b - h * db))) / (2 * h);
    EXPECT_NEAR(G.cwiseProduct(tangent).sum(), fd, 1e-7 * (1 + std::abs(fd)));
  }
}

TEST(LossGradients, SymmetricFlowIsGradientOfHalfLossOfUUt) {
  // dU/dt = -sym(grad f(U U^T)) U is minus the gradient of 1/2 f(U U^T).
  CompletionLoss cl{gaussian_matrix(4, 4, 59, 0, 0), {{0, 1}, {1, 0}, {2, 3}, {3, 2}, {1, 1}, {0, 3}}};
  const Problem p(cl, SymmetricFactorization{4, 2});
  Model m(p);
  const Vec y = gaussian_matrix(8, 1, 59, 0, 1);
  const Vec g = testing::param_gradient(m, y);
  for (Index i = 0; i < y.size(); ++i) {
    Vec a = y, b = y;
    a(i) += 1e-6;
    b(i) -= 1e-6;
    EXPECT_NEAR(g(i), 0.5 * (m.state_loss(a) - m.state_loss(b)) / 2e-6, 1e-8);
  }
}

}  // namespace
}  // namespace dlnflow
