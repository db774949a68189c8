// The catalogue's Hessians (dlnflow/stability.hpp) against the papers' statements at critical
// points (docs/theory.md §6), finite differences of the gradient, and the loss along an escape
// direction for the order of a non-strict saddle.
#include <gtest/gtest.h>

#include <cmath>

#include "cpu/model.hpp"
#include "dlnflow/init.hpp"
#include "dlnflow/stability.hpp"
#include "helpers.hpp"

namespace dlnflow {
namespace {

using testing::diag;

SquareLoss whitened(const Mat& Z) { return {Mat::Identity(Z.cols(), Z.cols()), Z, Z.squaredNorm()}; }

int index_of(const CriticalPointCatalog& c, const std::string& label) {
  for (std::size_t i = 0; i < c.points().size(); ++i)
    if (c.points()[i].label == label) return static_cast<int>(i);
  ADD_FAILURE() << "no point " << label;
  return 0;
}

std::vector<int> width_one(int N, int d) {
  std::vector<int> w(N + 1, 1);
  w.front() = w.back() = d;
  return w;
}

// [E] (one-neuron layer) at balanced width-1 factors of sigma_i u_i v_i^T: lambda_min =
// m sigma_i^{(N-2)/N} (sigma_i - sigma_1) at i >= 2, N - 1 zero modes; the origin strict at N = 2
// (eigenvalues +-m sigma(Z)) and non-strict at N >= 3 (zero Hessian) (docs/theory.md §6.3, §9).
TEST(Stability, OneNeuronLayerSpectraAndKinds) {
  const Mat Z = diag({3, 2, 1});
  for (int N : {2, 3, 4}) {
    const Problem p(whitened(Z), DeepFactorization{width_one(N, 3)});
    const CriticalPointCatalog c(p);
    const auto st = catalog_stability(p, c);
    ASSERT_EQ(st.size(), 4u);
    const auto& top = st[index_of(c, "J={1}")];
    EXPECT_EQ(top.kind, CriticalKind::Minimum) << N;
    EXPECT_EQ(top.negative, 0);
    EXPECT_EQ(top.zero, N - 1);
    for (int i : {2, 3}) {
      const auto& s = st[index_of(c, "J={" + std::to_string(i) + "}")];
      const double sigma = 4 - i;
      EXPECT_EQ(s.kind, CriticalKind::StrictSaddle);
      EXPECT_NEAR(s.rate, std::pow(sigma, (N - 2.0) / N) * (3 - sigma), 1e-12) << N << " " << i;
      EXPECT_NEAR(s.escape_slope, 1 / s.rate, 1e-15);
      EXPECT_EQ(s.zero, N - 1);
      EXPECT_EQ(s.negative, i - 1);  // one per larger singular value: sigma_i - sigma_k < 0
    }
    const auto& origin = st[index_of(c, "J={}")];
    if (N == 2) {
      EXPECT_EQ(origin.kind, CriticalKind::StrictSaddle);
      EXPECT_NEAR(origin.rate, 3.0, 1e-13);
      EXPECT_EQ(origin.negative, 3);
      EXPECT_EQ(origin.positive, 3);
    } else {
      EXPECT_EQ(origin.kind, CriticalKind::NonStrictSaddle);
      EXPECT_EQ(origin.zero, origin.eigenvalues.size());
      EXPECT_EQ(origin.order, N);
    }
  }
}

// Every eigenvalue against the central-difference Hessian of the gradient, on a problem with
// correlated inputs (Cxx not the identity) and full widths, where no closed form is at hand.
TEST(Stability, EigenvaluesMatchFiniteDifferencesOfTheGradient) {
  const Mat X = testing::mat(3, 4, {1.0, 0.3, -0.2, 0.5, 0.1, 0.8, 0.4, -0.3, -0.2, 0.2, 0.9, 0.6});
  const Mat Y = testing::mat(2, 4, {1.0, -0.5, 0.7, 0.2, 0.3, 0.9, -0.4, 0.6});
  const Problem p(regression_loss(X, Y), DeepFactorization{{3, 2, 2, 2}});
  const CriticalPointCatalog c(p);
  const auto st = catalog_stability(p, c);
  Model m(p);
  for (std::size_t i = 0; i < st.size(); ++i) {
    const Vec y = initial_state(p, CriticalPointInit{static_cast<int>(i), 0.0}, 0, 0);
    ASSERT_LT(testing::param_gradient(m, y).norm(), 1e-12) << c.points()[i].label;
    const Vec fd = testing::sorted_eigenvalues(testing::fd_hessian(m, y));
    ASSERT_EQ(st[i].eigenvalues.size(), fd.size());
    for (Index k = 0; k < fd.size(); ++k) EXPECT_NEAR(st[i].eigenvalues(k), fd(k), 1e-7) << c.points()[i].label;
  }
  EXPECT_EQ(st[index_of(c, "J={1,2}")].kind, CriticalKind::Minimum);
  EXPECT_EQ(st[index_of(c, "J={2}")].kind, CriticalKind::StrictSaddle);
}

// The autoencoder of docs/theory.md §6.5 (X X^T = diag(3, 2, 1), r = 1): the saddle e2 e2^T has
// mu_+ = 0.5413812651, whichever the parametrization (deep, or the end-to-end flow, given the
// Hessian of the balanced factorization it stands for).
TEST(Stability, AutoencoderSaddleRateInBothParametrizations) {
  const Mat XD = diag({std::sqrt(3.0), std::sqrt(2.0), 1});
  const Problem deep(autoencoder_loss(XD), DeepFactorization{{3, 1, 3}});
  const Problem e2e(autoencoder_loss(XD), EndToEndFlow{3, 3, 2, 1});
  for (const Problem* p : {&deep, &e2e}) {
    const CriticalPointCatalog c(*p);
    const auto st = catalog_stability(*p, c);
    EXPECT_NEAR(st[index_of(c, "J={2}")].rate, 0.5413812651, 1e-10);
    EXPECT_NEAR(st[index_of(c, "J={3}")].rate, 1.1622776602, 1e-10);
    EXPECT_EQ(st[index_of(c, "J={1}")].kind, CriticalKind::Minimum);
  }
}

// [BW] (derived, docs/theory.md §6.2): L1_tau has Hessian eigenvalues 2(1 - sqrt(lambda_i / tau))
// at W = 0, each m times; Sigma0 = diag(4, 1), tau = 0.25 gives -6 and -2.
TEST(Stability, BuresWassersteinOriginAtDepthOneAndTwo) {
  const BuresWassersteinLoss loss{diag({4, 1}), 0.25};
  const Problem p1(loss, DeepFactorization{{2, 2}});
  const CriticalPointCatalog c1(p1);
  const CriticalStability o1 = catalog_stability(p1, c1)[index_of(c1, "J={}")];
  ASSERT_EQ(o1.eigenvalues.size(), 4);
  EXPECT_NEAR(o1.eigenvalues(0), -6, 1e-12);
  EXPECT_NEAR(o1.eigenvalues(1), -6, 1e-12);
  EXPECT_NEAR(o1.eigenvalues(2), -2, 1e-12);
  EXPECT_NEAR(o1.eigenvalues(3), -2, 1e-12);
  EXPECT_NEAR(o1.rate, 6, 1e-12);

  // Depth 2: the origin is critical with a zero Hessian; the loss falls at fourth order along
  // W_1 = W_2 = t e1 e1^T: L(t) - L(0) = 1/2 <t^2 E, H t^2 E> + O(t^6) = -3 t^4.
  const Problem p2(loss, DeepFactorization{{2, 2, 2}});
  const CriticalPointCatalog c2(p2);
  const CriticalStability o2 = catalog_stability(p2, c2)[index_of(c2, "J={}")];
  EXPECT_EQ(o2.kind, CriticalKind::NonStrictSaddle);
  EXPECT_EQ(o2.order, 4);
  Model m(p2);
  const Mat E = diag({1, 0});
  const double L0 = m.state_loss(Vec::Zero(8));
  for (double t : {1e-2, 3e-3})
    EXPECT_NEAR((m.state_loss(pack_state(p2, {Mat(t * E), Mat(t * E)})) - L0) / std::pow(t, 4), -3, 1e-3);
}

// At depth 3 the top-1 point of Z = diag(3, 2, 1) with hidden widths 2 is a non-strict saddle of
// order 3: adding the second mode to every factor (W_j += t e2 e2^T in its free slot) lowers the
// loss by sigma_2 t^3 and no second-order term sees it.
TEST(Stability, NonStrictSaddleOrderAlongTheEscapeDirection) {
  const Mat Z = diag({3, 2, 1});
  const Problem p(whitened(Z), DeepFactorization{{3, 2, 2, 3}});
  const CriticalPointCatalog c(p);
  const auto st = catalog_stability(p, c);
  const auto& s = st[index_of(c, "J={1}")];
  EXPECT_EQ(s.kind, CriticalKind::NonStrictSaddle);
  EXPECT_EQ(s.order, 3);
  EXPECT_EQ(st[index_of(c, "J={1,2}")].kind, CriticalKind::Minimum);
  EXPECT_EQ(st[index_of(c, "J={2,3}")].kind, CriticalKind::StrictSaddle);
  Model m(p);
  const double r = std::cbrt(3.0);
  Mat W1 = Mat::Zero(2, 3), W2 = Mat::Zero(2, 2), W3 = Mat::Zero(3, 2);
  W1(0, 0) = W2(0, 0) = W3(0, 0) = r;
  const double L0 = m.state_loss(pack_state(p, {W1, W2, W3}));
  for (double t : {1e-2, 3e-3}) {
    Mat a = W1, b = W2, d = W3;
    a(1, 1) = b(1, 1) = d(1, 1) = t;
    EXPECT_NEAR((m.state_loss(pack_state(p, {a, b, d})) - L0) / std::pow(t, 3), -2, 1e-3);
  }
}

// Catalogued points the parameters cannot hold or where they are not critical: said, not thrown,
// and the minimum is the least loss among the points they do hold.
TEST(Stability, PointsOutsideTheParametrizationAreNotComputedAndNotMinima) {
  const Problem sym(whitened(diag({3, -1})), SymmetricFactorization{2, 2});  // diag(3, -1) is no U U^T
  const CriticalPointCatalog cs(sym);
  const auto ss = catalog_stability(sym, cs);
  EXPECT_EQ(ss[index_of(cs, "J={1,2}")].kind, CriticalKind::NotComputed);
  EXPECT_NE(ss[index_of(cs, "J={1,2}")].reason.find("positive semidefinite"), std::string::npos);
  // The PSD minimum of 1/2 ||U U^T - diag(3, -1)||^2 is diag(3, 0) (loss 1/2): a minimum here.
  EXPECT_EQ(ss[index_of(cs, "J={1}")].kind, CriticalKind::Minimum);

  // Depth 1: W itself is the parameter, and only the full-rank point is critical for it.
  const Problem one(whitened(diag({3, 2})), DeepFactorization{{2, 2}});
  const CriticalPointCatalog c1(one);
  const auto s1 = catalog_stability(one, c1);
  EXPECT_EQ(s1[index_of(c1, "J={1,2}")].kind, CriticalKind::Minimum);
  EXPECT_NE(s1[index_of(c1, "J={1}")].reason.find("not a critical point"), std::string::npos);
  EXPECT_TRUE(std::isnan(s1[index_of(c1, "J={1}")].escape_slope));
}

TEST(Stability, SaysWhyWhereItComputesNothing) {
  const Problem bw0(BuresWassersteinLoss{diag({4, 1}), 0.0}, DeepFactorization{{2, 2, 2}});
  const CriticalPointCatalog c(bw0);
  const auto st = catalog_stability(bw0, c);
  EXPECT_EQ(st[index_of(c, "J={1}")].kind, CriticalKind::NotComputed);
  EXPECT_NE(st[index_of(c, "J={1}")].reason.find("tau = 0"), std::string::npos);
  EXPECT_EQ(st[index_of(c, "J={1,2}")].kind, CriticalKind::Minimum);  // full rank: smooth there

  const Problem big(whitened(diag({3, 2, 1})), DeepFactorization{{3, 3, 3, 3}});
  const auto none = catalog_stability(big, CriticalPointCatalog(big), StabilityLimits{20, 1e12});
  for (const auto& s : none) {
    EXPECT_EQ(s.kind, CriticalKind::NotComputed);
    EXPECT_NE(s.reason.find("27 parameters"), std::string::npos) << s.reason;
  }
}

}  // namespace
}  // namespace dlnflow
