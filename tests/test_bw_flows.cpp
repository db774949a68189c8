// Bures-Wasserstein loss (Brechet et al.), flow cases of docs/theory.md §10: exact N = 1 and
// N = 2 solutions, invariants and the exact gradient-descent drift, the balanced construction
// and flow (24), the norm bound, and critical-point starts with and without perturbation.
#include "helpers.hpp"

namespace dlnflow {
namespace {

using testing::diag;
using testing::mat;

const Mat S3 = mat(3, 3, {3, 1, 0, 1, 2, 0.5, 0, 0.5, 1});
const Mat W34 = mat(3, 4, {1.0, 0.2, 0.0, 0.1, 0.3, 0.9, 0.2, 0.0, 0.0, 0.1, 0.7, 0.3});

TEST(BuresWassersteinFlow, TC8_DepthOneExactSolution) {
  const Mat S0 = mat(2, 2, {2, 1, 1, 2});
  const Problem p(BuresWassersteinLoss{S0, 0}, DeepFactorization{{2, 2}});
  SolveOptions o = testing::rk4(1.0, 0.005);
  o.record.times = {0.25, 0.5, 1.0};
  const auto r = integrate(p, pack_state(p, {mat(2, 2, {1, 2, 0, 1})}), o);
  ASSERT_EQ(r.status, Status::Completed);
  const double L0 = 1.17637226190095;
  for (const auto& s : r.samples) EXPECT_NEAR(s.loss, L0 * std::exp(-4 * s.t), 1e-9) << "t = " << s.t;
  EXPECT_NEAR(r.samples[0].loss, 0.432763170317706, 1e-9);
  EXPECT_NEAR(r.samples[1].loss, 0.159204673256059, 1e-9);
  EXPECT_NEAR(r.samples[2].loss, 0.0215460095477012, 1e-9);
  // W(0.5) from the closed form (docs/theory.md §7.2), integrated separately to t = 0.5.
  const auto r5 = integrate(p, pack_state(p, {mat(2, 2, {1, 2, 0, 1})}), testing::rk4(0.5, 0.005));
  const Mat W5 = mat(2, 2, {0.902604185251648, 1.452154199089034, -0.353054171414262, 1.189162311950107});
  EXPECT_LT(testing::max_abs_diff(testing::final_W(p, r5), W5), 1e-9);
}

TEST(BuresWassersteinFlow, TC9_DepthTwoLogistic) {
  const Problem p(BuresWassersteinLoss{diag({4, 1}), 0}, DeepFactorization{{2, 2, 2}});
  SolveOptions o = testing::rk4(3.0, 0.0025);
  o.record.times = {0.25, 0.5, 1.0, 1.5, 2.0, 3.0};
  const Vec y0 = pack_state(p, {0.1 * Mat::Identity(2, 2), 0.1 * Mat::Identity(2, 2)});
  const auto r = integrate(p, y0, o);
  const double s[2] = {2, 1};
  const double L[] = {4.6659811958772, 3.32897169734324, 0.431095285911786, 0.03883184901191, 0.00103319345772095,
                      3.69551221143252e-7};
  Model m(p);
  for (std::size_t k = 0; k < r.samples.size(); ++k) {
    const double t = r.samples[k].t;
    EXPECT_NEAR(r.samples[k].loss, L[k], 1e-8) << "t = " << t;
    // The recorded spectrum is the diagonal (off-diagonals stay exactly 0).
    for (int i = 0; i < 2; ++i) {
      const double w = s[i] / (1 + (s[i] / 0.01 - 1) * std::exp(-4 * s[i] * t));
      EXPECT_NEAR(r.samples[k].spectrum(i), w, 1e-8) << "t = " << t << " mode " << i;
    }
  }
  const Mat Wf = testing::final_W(p, r);
  EXPECT_EQ(Wf(0, 1), 0.0);
  EXPECT_EQ(Wf(1, 0), 0.0);
}

struct Tc11 {
  Problem p{BuresWassersteinLoss{S3, 0}, DeepFactorization{{3, 4, 3, 3}}};
  Vec y0 = pack_state(p, {mat(4, 3, {.5, .1, -.2, 0, .3, .4, .2, -.1, .6, .1, .2, 0}),
                          mat(3, 4, {.7, 0, .1, -.3, .2, .5, 0, .1, -.1, .3, .4, .2}),
                          mat(3, 3, {.6, .2, 0, .1, .8, -.2, 0, .1, .5})});
};

TEST(BuresWassersteinFlow, TC11_InvariantsUnderFlowAndExactDescentDrift) {
  Tc11 c;
  Model m(c.p);
  EXPECT_NEAR(m.state_loss(c.y0), 4.41936367115273, 1e-12);
  const auto D0 = testing::defects(c.p, c.y0);
  EXPECT_NEAR(D0[0].norm(), 0.59194594, 1e-8);
  EXPECT_NEAR(D0[1].norm(), 0.60149813, 1e-8);

  const auto r = integrate(c.p, c.y0, testing::rk4(1.0, 1.0 / 400));
  EXPECT_NEAR(r.final_loss, 0.035152873131, 1e-9);
  const Mat W1 = mat(3, 3, {1.692812633986, 0.178798415699, -0.280910930129, 0.586620689984, 1.129328611523,
                            0.501191219415, 0.112190990735, 0.095331514137, 0.915957678957});
  EXPECT_LT(testing::max_abs_diff(testing::final_W(c.p, r), W1), 1e-9);
  const auto D1 = testing::defects(c.p, r.final_state);
  for (int j = 0; j < 2; ++j) EXPECT_LT((D1[j] - D0[j]).norm(), 1e-10);

  // One gradient-descent step (Euler, eta = 0.05): D_j changes by exactly eta^2 (G_j G_j^T - G_{j+1}^T G_{j+1}).
  const double eta = 0.05;
  SolveOptions gd;
  gd.integrator.method = Method::Euler;
  gd.integrator.dt = eta;
  gd.stop.t_final = eta;
  const auto g = integrate(c.p, c.y0, gd);
  EXPECT_NEAR(g.final_loss, 3.91085500503541, 1e-12);
  const auto G = unpack_state(c.p, testing::param_gradient(m, c.y0));
  const auto Dg = testing::defects(c.p, g.final_state);
  const double drift_norm[2] = {0.0072566, 0.00355212};
  for (int j = 0; j < 2; ++j) {
    const Mat predicted = eta * eta * (G[j] * G[j].transpose() - G[j + 1].transpose() * G[j + 1]);
    EXPECT_LT((Dg[j] - D0[j] - predicted).norm(), 1e-14 * (1 + D0[j].norm()));
    EXPECT_NEAR((Dg[j] - D0[j]).norm(), drift_norm[j], 1e-7);
  }
}

TEST(BuresWassersteinFlow, TC12_BalancedConstructionAndEndToEndFlow) {
  const Problem p(BuresWassersteinLoss{S3, 0}, DeepFactorization{{4, 5, 3, 3}});
  const Vec y0 = initial_state(p, BalancedInit{W34, false}, 0, 0);
  const auto F = unpack_state(p, y0);
  Model m(p);
  EXPECT_LT(testing::max_abs_diff(m.end_to_end(y0), W34), 1e-14);
  for (const auto& D : testing::defects(p, y0)) EXPECT_LT(D.norm(), 1e-14);
  const Mat WWt = W34 * W34.transpose(), WtW = W34.transpose() * W34;
  const Mat Q = F[2] * F[2].transpose(), P = F[0].transpose() * F[0];
  EXPECT_LT(testing::max_abs_diff(Q * Q * Q, WWt), 1e-13);
  EXPECT_LT(testing::max_abs_diff(P * P * P, WtW), 1e-13);
  EXPECT_NEAR(m.state_loss(y0), 0.760531436054757, 1e-12);

  const Problem e2e(BuresWassersteinLoss{S3, 0}, EndToEndFlow{3, 4, 3, 3});
  Model me(e2e);
  Vec f, fe;
  m.rhs(y0, f);
  me.rhs(pack_state(e2e, {W34}), fe);
  EXPECT_LT(testing::max_abs_diff(testing::product_velocity(p, y0, f), fe), 1e-12);

  const auto r = integrate(p, y0, testing::rk4(1.0, 1.0 / 400));
  EXPECT_NEAR(r.final_loss, 6.25452552486e-6, 1e-12);
  const Mat W1 = mat(3, 4, {1.699523032645, 0.291026027445, -0.047550527180, 0.155575156213, 0.370917055790,
                            1.322724274093, 0.333418542585, 0.008728885969, -0.036936961270, 0.158025836003,
                            0.908860705974, 0.380744699180});
  EXPECT_LT(testing::max_abs_diff(testing::final_W(p, r), W1), 1e-9);
  for (const auto& D : testing::defects(p, r.final_state)) EXPECT_LT(D.norm(), 1e-10);
  const auto re = integrate(e2e, pack_state(e2e, {W34}), testing::rk4(1.0, 1.0 / 400));
  EXPECT_NEAR(re.final_loss, 6.25452552486e-6, 1e-12);
  EXPECT_LT(testing::max_abs_diff(testing::final_W(e2e, re), W1), 1e-9);

  // Rank-deficient variant: (24) with X^0 = I matches the layer-wise product velocity.
  const ThinSvd svd = thin_svd(W34);
  const Mat W2 = svd.U.leftCols(2) * svd.s.head(2).asDiagonal() * svd.V.leftCols(2).transpose();
  const Problem p2(BuresWassersteinLoss{S3, 0}, DeepFactorization{{4, 2, 3, 3}});
  const Problem e2(BuresWassersteinLoss{S3, 0}, EndToEndFlow{3, 4, 3, 2});
  const Vec y2 = initial_state(p2, BalancedInit{W2, false}, 0, 0);
  Model m2(p2), me2(e2);
  m2.rhs(y2, f);
  me2.rhs(pack_state(e2, {W2}), fe);
  EXPECT_LT(testing::max_abs_diff(testing::product_velocity(p2, y2, f), fe), 1e-10);
}

TEST(BuresWassersteinFlow, TC18_NormBoundAlongFlow) {
  const Problem p1(BuresWassersteinLoss{diag({1}), 0}, DeepFactorization{{1, 1}});
  Model m1(p1);
  EXPECT_NEAR(m1.state_loss(Vec::Constant(1, 2.0)), 1.0, 1e-15);
  // Remark 3.2's bound sqrt(2 L + tr) = 1.732 < ||W|| = 2; (36) sqrt(2L + 2 tr) = 2 holds.
  EXPECT_GT(2.0, std::sqrt(2 * 1.0 + 1.0));
  Tc11 c;
  Model m(c.p);
  SolveOptions o = testing::rk4(3.0, 1.0 / 400);
  o.record.times = uniform_grid(0, 3, 61);
  const auto r = integrate(c.p, c.y0, o);
  const double bound = std::sqrt(m.state_loss(c.y0)) + std::sqrt(S3.trace());
  double prev = std::numeric_limits<double>::infinity();
  for (const auto& s : r.samples) {
    EXPECT_LE(s.spectrum.norm(), bound);
    EXPECT_LE(s.loss, prev + 1e-15);  // the loss never increases along gradient flow
    prev = s.loss;
  }
}

int index_of(const CriticalPointCatalog& c, const std::string& label) {
  for (std::size_t i = 0; i < c.points().size(); ++i)
    if (c.points()[i].label == label) return static_cast<int>(i);
  return -1;
}

TEST(BuresWassersteinFlow, TC21_CriticalStartStaysPerturbedSaddleEscapes) {
  const Mat S0 = diag({4, 3, 2, 1});
  const Problem full(BuresWassersteinLoss{S0, 0}, DeepFactorization{{4, 4, 4}});
  const Problem neck(BuresWassersteinLoss{S0, 0}, DeepFactorization{{4, 2, 4}});
  const CriticalPointCatalog cat(neck);
  const int J23 = index_of(cat, "J={2,3}");
  ASSERT_GE(J23, 0);
  EXPECT_NEAR(cat.points()[J23].loss, 5.0, 1e-14);

  // Exact start: zero gradient, and the state does not move.
  const Vec y0 = initial_state(neck, CriticalPointInit{J23, 0.0}, 0, 0);
  Model m(neck);
  EXPECT_LT(testing::param_gradient(m, y0).norm(), 1e-12);
  const auto still = integrate(neck, y0, testing::dopri(2.0, 1e-10, 1e-14));
  EXPECT_LT((still.final_state - y0).norm(), 1e-12);

  // Perturbed by N(0, 1e-6) per entry: plateau at 5, escape, end at the rank-2 minimum 3.
  // atol above the roundoff floor: the discarded modes decay to 0, where relative control alone
  // would chase rounding noise forever.
  SolveOptions o = testing::dopri(40.0, 1e-10, 1e-14);
  o.record.times = {0.5, 1.0, 40.0};
  o.events = {{EventKind::Loss, 0, 4.0, Crossing::Down, false}};
  const CriticalPointCatalog cat_full(full);
  const auto r = integrate(neck, initial_state(neck, CriticalPointInit{J23, 1e-3}, 7, 0), o);
  ASSERT_EQ(r.status, Status::Completed);
  EXPECT_NEAR(r.samples[0].loss, 5.0, 1e-3);
  EXPECT_GT(r.samples[1].loss, 4.99);
  EXPECT_LT(r.event_times[0], 10.0);
  EXPECT_NEAR(r.final_loss, 3.0, 1e-8);
  const Mat Wf = testing::final_W(neck, r);
  EXPECT_LT(testing::max_abs_diff(Wf * Wf.transpose(), diag({4, 3, 0, 0})), 1e-6);
  // Full width with full-rank noise reaches 0.
  const auto rf = integrate(full, initial_state(full, CriticalPointInit{index_of(cat_full, "J={2,3}"), 1e-3}, 7, 0),
                            testing::dopri(40.0, 1e-10, 1e-14));
  EXPECT_LT(rf.final_loss, 1e-8);
}

}  // namespace
}  // namespace dlnflow
