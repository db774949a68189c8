// Bah, Rauhut, Terstiege, Westdickenberg (cases of docs/theory.md §10): gradients, the balanced
// operator A_W and its metric, conservation laws, per-factor vs end-to-end flow, exact
// solutions, critical points of the autoencoder and general-Y square loss, Hessians.
#include "helpers.hpp"

namespace dlnflow {
namespace {

using testing::diag;
using testing::mat;
using testing::rot;

const Mat XA = mat(3, 4, {1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1});
const Mat YA = mat(2, 4, {1, 2, 0, 1, 0, 1, 1, -1});
const Mat XD = diag({std::sqrt(3.0), std::sqrt(2.0), 1});

struct Tc1 {
  Problem p{regression_loss(XA, YA), DeepFactorization{{3, 2, 2, 2}}};
  Vec y = pack_state(p, {mat(2, 3, {0.5, 0, -0.5, 0, 1, 0.5}), mat(2, 2, {1, 0.5, 0, 1}), mat(2, 2, {1, 0, -0.5, 1})});
};

TEST(RiemannianFlow, TC1_FactorGradientsExactRationals) {
  Tc1 c;
  Model m(c.p);
  const Mat W = m.end_to_end(c.y);
  EXPECT_LT(testing::max_abs_diff(W, mat(2, 3, {0.5, 0.5, -0.25, -0.25, 0.75, 0.625})), 1e-15);
  Mat G;
  EXPECT_NEAR(m.loss_and_gradient(W, G), 271.0 / 64, 1e-14);
  EXPECT_LT(testing::max_abs_diff(G, mat(2, 3, {0.25, -0.5, -2, -0.125, -0.75, 2})), 1e-14);
  const auto g = unpack_state(c.p, testing::param_gradient(m, c.y));
  EXPECT_LT(testing::max_abs_diff(g[0], mat(2, 3, {5.0 / 16, -1.0 / 8, -3, 1.0 / 32, -13.0 / 16, 0.5})), 1e-14);
  EXPECT_LT(testing::max_abs_diff(g[1], mat(2, 2, {53.0 / 32, -13.0 / 8, -17.0 / 16, 0.25})), 1e-14);
  EXPECT_LT(testing::max_abs_diff(g[2], mat(2, 2, {3.0 / 8, -1.5, -15.0 / 16, 0.25})), 1e-14);
  EXPECT_NEAR(testing::param_gradient(m, c.y).squaredNorm(), 10205.0 / 512, 1e-12);
  // Central differences of the parametrized loss agree with the exact gradient.
  const Vec gv = testing::param_gradient(m, c.y);
  for (Index i = 0; i < c.y.size(); ++i) {
    Vec a = c.y, b = c.y;
    a(i) += 1e-6;
    b(i) -= 1e-6;
    EXPECT_NEAR((m.state_loss(a) - m.state_loss(b)) / 2e-6, gv(i), 1e-9);
  }
}

struct Tc2 {
  Problem p{regression_loss(XA, YA), DeepFactorization{{3, 2, 2, 2}}};
  Mat S0 = diag({1.2, 0.7});
  Mat V = mat(3, 2, {1, 0, 0, 0.6, 0, 0.8});
  Vec y = pack_state(p, {rot(M_PI / 4) * S0 * V.transpose(), S0 * rot(M_PI / 4).transpose(), rot(M_PI / 6) * S0});
};

TEST(RiemannianFlow, TC2_BalancedProductIdentityAtAPoint) {
  Tc2 c;
  Model m(c.p);
  for (const auto& D : testing::defects(c.p, c.y)) EXPECT_LT(D.norm(), 1e-15);
  const Mat W = m.end_to_end(c.y);
  EXPECT_LT(testing::max_abs_diff(W, mat(2, 3, {1.49649189774, -0.1029, -0.1372, 0.864, 0.178228028099, 0.237637370798})), 1e-11);
  const Vec s = thin_svd(W).s;
  EXPECT_NEAR(s(0), 1.728, 1e-14);
  EXPECT_NEAR(s(1), 0.343, 1e-14);
  for (const auto& F : unpack_state(c.p, c.y)) EXPECT_NEAR(F.squaredNorm(), 1.93, 1e-14);
  Mat G;
  EXPECT_NEAR(m.loss_and_gradient(W, G), 5.604522416861265, 1e-12);
  Vec f;
  m.rhs(c.y, f);
  const Mat dW = testing::product_velocity(c.p, c.y, f);
  const Mat expected = mat(2, 3, {-11.0871044998, 2.11626669208, -0.131824770213, -6.79919963378, 0.731921901947, -1.51726819002});
  EXPECT_LT(testing::max_abs_diff(dW, expected), 1e-9);
  EXPECT_LT(testing::max_abs_diff(dW, -balanced_operator(W, G, 3, 2)), 1e-13);  // ||R|| ~ 1e-14
  EXPECT_NEAR(G.cwiseProduct(balanced_operator(W, G, 3, 2)).sum(), 32.73018501131681, 1e-11);
  EXPECT_NEAR(f.squaredNorm(), 32.73018501131681, 1e-11);
  EXPECT_NEAR(2 * W.cwiseProduct(dW).sum(), -45.79211729449796, 1e-11);
}

TEST(RiemannianFlow, TC3_ConservationLawsAndEulerDrift) {
  Tc1 c;  // not balanced
  const auto D0 = testing::defects(c.p, c.y);
  const auto r = integrate(c.p, c.y, testing::rk4(1.0, 1e-3));
  const auto D1 = testing::defects(c.p, r.final_state);
  for (int j = 0; j < 2; ++j) EXPECT_LT((D1[j] - D0[j]).norm(), 1e-10);
  const auto F0 = unpack_state(c.p, c.y), F1 = unpack_state(c.p, r.final_state);
  EXPECT_NEAR(F1[0].squaredNorm() - F1[2].squaredNorm(), F0[0].squaredNorm() - F0[2].squaredNorm(), 1e-10);

  SolveOptions gd;
  gd.integrator.method = Method::Euler;
  gd.integrator.dt = gd.stop.t_final = 0.01;
  const auto e = integrate(c.p, c.y, gd);
  const auto De = testing::defects(c.p, e.final_state);
  const Mat d1 = mat(2, 2, {-5.241210938e-4, -1.568359375e-4, -1.568359375e-4, 1.791992188e-4});
  const Mat d2 = mat(2, 2, {-4.364257812e-4, 1.369140625e-4, 1.369140625e-4, 1.12109375e-4});
  // Bah et al.'s D_j (Lemma 2(3)) is W_{j+1}^T W_{j+1} - W_j W_j^T: the negative of ours.
  EXPECT_LT(testing::max_abs_diff(-(De[0] - D0[0]), d1), 1e-12);
  EXPECT_LT(testing::max_abs_diff(-(De[1] - D0[1]), d2), 1e-12);
  Model m(c.p);
  const auto G = unpack_state(c.p, testing::param_gradient(m, c.y));
  for (int j = 0; j < 2; ++j)
    EXPECT_LT(testing::max_abs_diff(De[j] - D0[j], 1e-4 * (G[j] * G[j].transpose() - G[j + 1].transpose() * G[j + 1])), 1e-15);
}

TEST(RiemannianFlow, TC4_PerFactorFlowEqualsRiemannianFlow) {
  Tc2 c;
  Model m(c.p);
  const Mat W0 = m.end_to_end(c.y);
  const Problem e2e(regression_loss(XA, YA), EndToEndFlow{2, 3, 3, 2});
  SolveOptions o = testing::rk4(0.5, 5e-4);
  o.record.times = uniform_grid(0, 0.5, 11);
  const auto rf = integrate(c.p, c.y, o);
  const auto re = integrate(e2e, pack_state(e2e, {W0}), o);
  const Mat Wh = mat(2, 3, {0.537796038451, 0.496648065465, 0.0839397627280, 0.321189163645, 0.505013605576, 0.121933905759});
  EXPECT_LT(testing::max_abs_diff(testing::final_W(c.p, rf), Wh), 1e-10);
  EXPECT_LT(testing::max_abs_diff(testing::final_W(e2e, re), testing::final_W(c.p, rf)), 4e-12);
  EXPECT_NEAR(rf.final_loss, 3.02135127862, 1e-10);
  for (std::size_t k = 0; k < rf.samples.size(); ++k) {  // agree along the whole trajectory
    EXPECT_NEAR(rf.samples[k].loss, re.samples[k].loss, 1e-11);
    EXPECT_LT((rf.samples[k].spectrum - re.samples[k].spectrum).norm(), 1e-11);
  }
  // Long time: the regression optimum W* = Y X^T (X X^T)^{-1}, with sigma_min staying > 0.
  SolveOptions lo = testing::dopri(20.0, 1e-12, 1e-14);
  lo.record.times = uniform_grid(0, 20, 201);
  const auto rl = integrate(c.p, c.y, lo);
  const Mat Wstar = mat(2, 3, {-1, 1.5, 1.5, 0.5, 0.75, -0.75});
  // A long-time limit is asked to 1e-6; the adaptive pair at rtol 1e-12 gets ~1e-12.
  EXPECT_LT((testing::final_W(c.p, rl) - Wstar).norm(), 1e-10);
  EXPECT_NEAR(rl.final_loss, 0.625, 1e-12);
  double smin = 1e9;
  for (const auto& s : rl.samples) smin = std::min(smin, s.spectrum(1));
  EXPECT_NEAR(smin, 0.1065, 2e-3);  // dips near t = 1 but never reaches 0 (rank preserved)
}

struct Tc5 {
  Problem p{autoencoder_loss(XA), DeepFactorization{{3, 2, 2, 3}}};
  Mat U = mat(3, 2, {1, 0, 0, 0.6, 0, 0.8});
  Mat V = mat(3, 2, {1 / std::sqrt(2.0), 0, 1 / std::sqrt(2.0), 0, 0, 1});
  Mat S0 = diag({std::cbrt(0.5), std::cbrt(0.2)});
  Vec y = pack_state(p, {rot(M_PI / 5) * S0 * V.transpose(), S0 * rot(M_PI / 5).transpose(), U * S0});
};

TEST(RiemannianFlow, TC5_RankDeficientAutoencoderEndToEnd) {
  Tc5 c;
  Model m(c.p);
  const Mat W0 = m.end_to_end(c.y);
  EXPECT_NEAR(m.loss(W0), 2.034339828220179, 1e-12);
  const Problem e2e(autoencoder_loss(XA), EndToEndFlow{3, 3, 3, 2});
  const auto rf = integrate(c.p, c.y, testing::rk4(1.0, 1e-3));
  const auto re = integrate(e2e, pack_state(e2e, {W0}), testing::rk4(1.0, 1e-3));
  const Mat W1 = mat(3, 3, {0.6040977952561, 0.4603669371989, 0.09405241836703, 0.4380216018741, 0.3342131269434,
                            0.05851567261904, 0.1041434802955, 0.04626793206232, 0.8005917182243});
  EXPECT_LT(testing::max_abs_diff(testing::final_W(c.p, rf), W1), 1e-10);
  EXPECT_NEAR(rf.final_loss, 0.56738922863688, 1e-10);
  EXPECT_LT(testing::max_abs_diff(testing::final_W(e2e, re), testing::final_W(c.p, rf)), 4e-12);
  // Limit: the top-2 eigenprojector, approached at the predicted slowest rate 0.374664.
  const Vec u1 = Vec((Vec(3) << std::sqrt(2.0), 1, 1).finished()) / 2;
  const Vec u2 = Vec((Vec(3) << 0, 1, -1).finished()) / std::sqrt(2.0);
  const Mat P12 = u1 * u1.transpose() + u2 * u2.transpose();
  SolveOptions o = testing::dopri(40.0, 1e-12, 1e-14);
  o.record.times = {10, 20, 30, 40};
  const auto rl = integrate(c.p, c.y, o);
  EXPECT_NEAR(rl.final_loss, (2 - std::sqrt(2.0)) / 2, 1e-12);
  EXPECT_NEAR((testing::final_W(c.p, rl) - P12).norm(), 3.1e-7, 0.1e-7);
  const auto r20 = integrate(c.p, c.y, testing::dopri(20.0, 1e-12, 1e-14));
  const auto r30 = integrate(c.p, c.y, testing::dopri(30.0, 1e-12, 1e-14));
  const double rate = std::log((testing::final_W(c.p, r20) - P12).norm() / (testing::final_W(c.p, r30) - P12).norm()) / 10;
  EXPECT_NEAR(rate, 0.374664, 2e-3);
}

TEST(RiemannianFlow, TC7_Remark33ExactSolution) {
  const Problem p(autoencoder_loss(XD), DeepFactorization{{3, 1, 3}});
  const Vec y = pack_state(p, {mat(1, 3, {1, 0, 0}), mat(3, 1, {-1, 0, 0})});
  SolveOptions o = testing::rk4(2.0, 1e-3);
  o.record.times = {0.25, 0.5, 1.0, 2.0};
  const auto r = integrate(p, y, o);
  for (const auto& s : r.samples) {
    const double a = 1 / std::sqrt(2 * std::exp(6 * s.t) - 1);
    EXPECT_NEAR(s.loss, 0.5 * (3 * std::pow(1 + a * a, 2) + 3), 1e-11) << s.t;  // RK4 h = 1e-3 error
    EXPECT_NEAR(s.spectrum(0), a * a, 1e-13) << s.t;
  }
  EXPECT_NEAR(r.samples[1].loss, 3.077564724809981, 1e-11);
  EXPECT_NEAR(testing::final_W(p, r)(0, 0), -3.07211561452946e-06, 1e-13);
  // Non-diagonal variant: W(t) = -a(t) u1 u1^T with a = 1/(2 e^{2(2+sqrt2)t} - 1).
  const Problem pa(autoencoder_loss(XA), DeepFactorization{{3, 1, 3}});
  const Vec u1 = Vec((Vec(3) << std::sqrt(2.0), 1, 1).finished()) / 2;
  const auto ra = integrate(pa, pack_state(pa, {Mat(u1.transpose()), Mat(-u1)}), testing::rk4(0.5, 1e-3));
  EXPECT_LT(testing::max_abs_diff(testing::final_W(pa, ra), -0.01672630273920235 * u1 * u1.transpose()), 1e-12);
  EXPECT_NEAR(ra.final_loss, 3.0575847655647035, 1e-12);
}

TEST(RiemannianFlow, TC8_ScalarLogisticAndEscape) {
  const Problem p(regression_loss(mat(1, 2, {1, 1}), mat(1, 2, {1, 0.5})), DeepFactorization{{1, 1, 1}});
  const auto r = integrate(p, pack_state(p, {diag({0.1}), diag({0.1})}), testing::rk4(1.0, 1e-3));
  EXPECT_NEAR(testing::final_W(p, r)(0, 0), 0.1601112475415777, 1e-13);
  // Escape from w0 = 1e-4 to 0.5 with lambda = mu = 1: t = ln((1 - w0)/w0)/2.
  const Problem q(regression_loss(diag({1}), diag({1})), DeepFactorization{{1, 1, 1}});
  SolveOptions o = testing::dopri(10.0, 1e-12);
  o.events = {{EventKind::SingularValue, 1, 0.5, Crossing::Up, true}};
  const auto e = integrate(q, pack_state(q, {diag({1e-2}), diag({1e-2})}), o);
  EXPECT_EQ(e.status, Status::EventStop);
  EXPECT_NEAR(e.event_times[0], 4.605120183488, 1e-9);
  // The trajectory ends at the event: its time, its state (w = 0.5) and its loss.
  EXPECT_EQ(e.t_end, e.event_times[0]);
  EXPECT_NEAR(testing::final_W(q, e)(0, 0), 0.5, 1e-10);
  EXPECT_NEAR(e.final_loss, 0.5 * 0.25, 1e-10);
}

TEST(RiemannianFlow, TC9_ScalarDepthThreeAndFour) {
  const Problem p3(autoencoder_loss(diag({1})), DeepFactorization{{1, 1, 1, 1}});
  const double c = std::cbrt(0.1);
  auto r = integrate(p3, pack_state(p3, {diag({c}), diag({c}), diag({c})}), testing::rk4(1.0, 1e-3));
  EXPECT_NEAR(testing::final_W(p3, r)(0, 0), 0.39194689464621, 1e-12);
  SolveOptions o = testing::dopri(100.0, 1e-12);
  o.events = {{EventKind::SingularValue, 1, 0.5, Crossing::Up, true}};
  const double s3 = std::cbrt(1e-4);
  r = integrate(p3, pack_state(p3, {diag({s3}), diag({s3}), diag({s3})}), o);
  EXPECT_NEAR(r.event_times[0], 20.693018947742, 1e-8);
  const Problem p4(autoencoder_loss(diag({1})), DeepFactorization{{1, 1, 1, 1, 1}});
  const double s4 = 0.1;  // (1e-4)^{1/4}
  r = integrate(p4, pack_state(p4, {diag({s4}), diag({s4}), diag({s4}), diag({s4})}), o);
  EXPECT_NEAR(r.event_times[0], 49.7286, 1e-4);
  // Negative start: algebraic collapse to the saddle 0, w ~ -t^{-3}.
  SolveOptions lo = testing::dopri(100.0, 1e-12);
  lo.record.times = {1, 10, 100};
  r = integrate(p3, pack_state(p3, {diag({1}), diag({1}), diag({-1})}), lo);
  EXPECT_NEAR(r.samples[0].spectrum(0) / 0.084317049204, 1.0, 1e-9);
  EXPECT_NEAR(r.samples[1].spectrum(0) / 6.803851535e-4, 1.0, 1e-8);
  EXPECT_NEAR(r.samples[2].spectrum(0) / 9.599014551e-7, 1.0, 1e-8);
  const Problem p2(autoencoder_loss(diag({1})), DeepFactorization{{1, 1, 1}});
  r = integrate(p2, pack_state(p2, {diag({1}), diag({-1})}), testing::rk4(1.0, 1e-3));
  EXPECT_NEAR(testing::final_W(p2, r)(0, 0), -1 / (2 * std::exp(2.0) - 1), 1e-12);
}

// The Oja flow (36) of Bah et al. is the gradient flow of E(V) = L1(V V^T); dlnflow's symmetric
// factorization integrates 1/2 L1(U U^T), so Oja time t is dlnflow time 2t.
TEST(RiemannianFlow, TC10_SymmetricOjaFlow) {
  const Problem p(autoencoder_loss(diag({std::sqrt(3.0), 1})), SymmetricFactorization{2, 1});
  SolveOptions o = testing::rk4(2.0, 1e-3);
  o.record.times = uniform_grid(0, 2, 21);
  const auto r = integrate(p, pack_state(p, {mat(2, 1, {std::cos(M_PI / 3), std::sin(M_PI / 3)})}), o);
  const Vec V = r.final_state;
  EXPECT_NEAR(V(0), 0.9736092613710675, 1e-12);
  EXPECT_NEAR(V(1), 0.22822139727134344, 1e-12);
  for (const auto& s : r.samples) EXPECT_NEAR(s.spectrum(0), 1.0, 1e-12);  // V^T V = 1
}

TEST(RiemannianFlow, TC11_Theorem17InvariantSubspace) {
  const Problem p(autoencoder_loss(diag({std::sqrt(3.0), std::sqrt(2.0), 1})), SymmetricFactorization{3, 1});
  auto r = integrate(p, pack_state(p, {mat(3, 1, {0, 1 / std::sqrt(2.0), 1 / std::sqrt(2.0)})}), testing::rk4(4.0, 1e-3));
  EXPECT_EQ(r.final_state(0), 0.0);
  EXPECT_NEAR(r.final_state(1), 0.9909660892472095, 1e-12);
  EXPECT_NEAR(r.final_state(2), 0.1341126763661495, 1e-12);
  r = integrate(p, pack_state(p, {mat(3, 1, {0.1, 0.7, std::sqrt(0.5)})}), testing::dopri(60.0, 1e-12, 1e-14));
  EXPECT_NEAR(std::abs(r.final_state(0)), 1.0, 1e-9);
  EXPECT_NEAR(r.final_loss, 1.5, 1e-9);
}

TEST(RiemannianFlow, TC12_AutoencoderCriticalPoints) {
  const double s2 = std::sqrt(2.0);
  const double expected[3][3] = {{(4 - s2) / 2, 2, (4 + s2) / 2}, {(2 - s2) / 2, 1, (2 + s2) / 2}, {0, 0, 0}};
  for (int r = 1; r <= 3; ++r) {
    const Problem p(autoencoder_loss(XA), EndToEndFlow{3, 3, 2, r});
    const CriticalPointCatalog cat(p, r);
    Model m(p);
    int seen = 0;
    for (const auto& cp : cat.points()) {
      if (static_cast<int>(cp.J.size()) != r) continue;
      Mat G;
      EXPECT_NEAR(m.loss_and_gradient(cp.W, G), cp.loss, 1e-13);
      EXPECT_LT((cp.W.transpose() * G).norm(), 1e-14);  // criticality on M_r, eq. (46)
      EXPECT_LT((G * cp.W.transpose()).norm(), 1e-14);
      EXPECT_LT((cp.W * cp.W - cp.W).norm(), 1e-14);    // an orthogonal projector
      EXPECT_NEAR(cp.loss, expected[r - 1][seen], 1e-13) << cp.label;
      ++seen;
    }
    EXPECT_EQ(seen, r == 3 ? 1 : 3);
  }
}

TEST(RiemannianFlow, TC13_Corollary22Threshold) {
  const Problem pa(autoencoder_loss(XA), DeepFactorization{{3, 1, 3}});
  const Vec u1 = Vec((Vec(3) << std::sqrt(2.0), 1, 1).finished()) / 2;
  const Vec u2 = Vec((Vec(3) << 0, 1, -1).finished()) / std::sqrt(2.0);
  const Vec v = std::cos(0.3) * u2 + std::sin(0.3) * u1;
  Model m(pa);
  const Vec y = pack_state(pa, {Mat(v.transpose()), Mat(v)});
  EXPECT_NEAR(m.state_loss(y), 1.9382468144354275, 1e-13);
  SolveOptions o = testing::dopri(40.0, 1e-12, 1e-14);
  o.record.times = {20, 40};
  const auto r = integrate(pa, y, o);
  const Model mm(pa);
  EXPECT_NEAR(r.final_loss, (4 - std::sqrt(2.0)) / 2, 1e-12);
  EXPECT_LT((testing::final_W(pa, r) - u1 * u1.transpose()).norm(), 1e-9);
  // X_D contrast: v orthogonal to e1 stays so exactly and converges to the saddle e2 e2^T.
  const Problem pd(autoencoder_loss(XD), DeepFactorization{{3, 1, 3}});
  const Vec w = Vec((Vec(3) << 0, std::cos(0.3), std::sin(0.3)).finished());
  const Vec yd = pack_state(pd, {Mat(w.transpose()), Mat(w)});
  Model md(pd);
  EXPECT_NEAR(md.state_loss(yd), 2.04366609627258, 1e-13);
  const auto rd = integrate(pd, yd, testing::dopri(40.0, 1e-12, 1e-14));
  EXPECT_EQ(rd.final_state(0), 0.0);
  EXPECT_NEAR(rd.final_loss, 2.0, 1e-12);
  const Vec w1 = Vec((Vec(3) << std::sin(0.3), std::cos(0.3), 0).finished());
  const auto r1 = integrate(pd, pack_state(pd, {Mat(w1.transpose()), Mat(w1)}), testing::dopri(40.0, 1e-12, 1e-14));
  EXPECT_NEAR(r1.final_loss, 1.5, 1e-10);
}

TEST(RiemannianFlow, TC14_HessiansAtCriticalPoints) {
  const Problem p(autoencoder_loss(XD), DeepFactorization{{3, 1, 3}});
  Model m(p);
  const double expected[3][6] = {{0, 0.4384471872, 0.5857864376, 3.4142135624, 4.5615528128, 6},
                                 {-0.5413812651, 0, 0.3819660113, 2.6180339887, 4, 5.5413812651},
                                 {-1.1622776602, -0.5615528128, 0, 2, 3.5615528128, 5.1622776602}};
  for (int k = 0; k < 3; ++k) {
    Mat e = Mat::Zero(3, 1);
    e(k) = 1;
    const Vec y = pack_state(p, {Mat(e.transpose()), e});
    EXPECT_LT(testing::param_gradient(m, y).norm(), 1e-14);
    const Vec ev = testing::sorted_eigenvalues(testing::fd_hessian(m, y));
    for (int i = 0; i < 6; ++i) EXPECT_NEAR(ev(i), expected[k][i], 1e-8) << "k = " << k;
  }
  const Problem p2(autoencoder_loss(XD), DeepFactorization{{3, 1, 3}});
  Model m2(p2);
  const Vec ev0 = testing::sorted_eigenvalues(testing::fd_hessian(m2, Vec::Zero(6)));
  const double at0[6] = {-3, -2, -1, 1, 2, 3};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(ev0(i), at0[i], 1e-8);
  const Problem p3(autoencoder_loss(XD), DeepFactorization{{3, 1, 1, 3}});
  Model m3(p3);
  EXPECT_LT(testing::fd_hessian(m3, Vec::Zero(7)).cwiseAbs().maxCoeff(), 1e-8);  // non-strict at 0
  const Mat e2 = mat(3, 1, {0, 1, 0});
  const Vec y3 = pack_state(p3, {Mat(e2.transpose()), diag({1}), e2});
  EXPECT_NEAR(testing::sorted_eigenvalues(testing::fd_hessian(m3, y3))(0), -0.54138127, 1e-7);
}

TEST(RiemannianFlow, TC16_OperatorAndMetricValues) {
  const Mat W = diag({2, 1, 0});
  const Mat Z = mat(3, 3, {1, 2, 3, 4, 5, 6, 7, 8, 0});
  EXPECT_LT(testing::max_abs_diff(balanced_operator(W, Z, 2, 2), mat(3, 3, {4, 6, 6, 12, 10, 6, 14, 8, 0})), 1e-14);
  const Mat inv2 = balanced_operator_inverse(W, Z, 2, 2);
  EXPECT_LT(testing::max_abs_diff(inv2, mat(3, 3, {0.25, 2.0 / 3, 1.5, 4.0 / 3, 2.5, 6, 3.5, 8, 0})), 1e-14);
  EXPECT_NEAR(inv2.cwiseProduct(Z).sum(), 1781.0 / 12, 1e-12);
  EXPECT_LT(testing::max_abs_diff(balanced_operator(W, Z, 3, 2),
                                  mat(3, 3, {7.559526299, 10.2144863, 7.559526299, 20.42897261, 15, 6, 17.6388947, 8, 0})),
            1e-7);
  EXPECT_NEAR(balanced_operator_inverse(W, Z, 3, 2).cwiseProduct(Z).sum(), 135.3989390209909, 1e-11);
  EXPECT_LT(testing::max_abs_diff(balanced_operator(W, Z, 4, 2),
                                  mat(3, 3, {11.3137085, 14.48528137, 8.485281374, 28.97056275, 20, 6, 19.79898987, 8, 0})),
            1e-7);
  EXPECT_NEAR(balanced_operator_inverse(W, Z, 4, 2).cwiseProduct(Z).sum(), 129.6059087512122, 1e-11);
  Mat e33 = Mat::Zero(3, 3);
  e33(2, 2) = 1;
  EXPECT_LT(balanced_operator(W, e33, 3, 2).norm(), 1e-15);  // kernel
  EXPECT_LT(testing::max_abs_diff(balanced_operator(W, inv2, 2, 2), Z), 1e-14);
  const Mat W2 = mat(2, 3, {1, 2, 0, 0, 1, 1});
  for (int N : {2, 3, 5})
    EXPECT_LT((balanced_operator(1.7 * W2, 1.7 * W2, N, 2) - std::pow(1.7, 3 - 2.0 / N) * balanced_operator(W2, W2, N, 2)).norm(),
              1e-14 * balanced_operator(1.7 * W2, 1.7 * W2, N, 2).norm());
}

TEST(RiemannianFlow, TC18_GeneralYCriticalValues) {
  const Problem p(regression_loss(XA, YA), DeepFactorization{{3, 1, 2}});
  const CriticalPointCatalog cat(p);
  ASSERT_EQ(cat.points().size(), 3u);  // J = {}, {1}, {2}
  EXPECT_NEAR(cat.points()[1].loss, (41 - std::sqrt(97.0)) / 16, 1e-13);
  EXPECT_NEAR(cat.points()[2].loss, (41 + std::sqrt(97.0)) / 16, 1e-13);
  const Mat Wstar = mat(2, 3, {-0.855371157797, 1.58766058624, 1.2830567367, -0.181522120182, 0.336924518807, 0.272283180273});
  const Mat Wc = cat.points()[1].W;
  EXPECT_LT(std::min((Wc - Wstar).norm(), (Wc + Wstar).norm()), 1e-11);
  Model m(p);
  for (int i : {1, 2}) {
    Mat G;
    EXPECT_NEAR(m.loss_and_gradient(cat.points()[i].W, G), cat.points()[i].loss, 1e-12);
    EXPECT_LT((cat.points()[i].W.transpose() * G).norm(), 5e-15 * 10);
    EXPECT_LT((G * cat.points()[i].W.transpose()).norm(), 5e-15 * 10);
  }
  // Balanced factor flow converges to W*.
  Vec w2 = Vec((Vec(2) << 0.4, 0.1).finished());
  const Vec w1 = Vec((Vec(3) << 0.3, -0.2, 0.5).finished());
  w2 *= w1.norm() / w2.norm();
  SolveOptions o = testing::dopri(60.0, 1e-12, 1e-14);
  o.record.catalog = &cat;
  o.record.times = {20, 60};
  const auto r = integrate(p, pack_state(p, {Mat(w1.transpose()), Mat(w2)}), o);
  EXPECT_LT((testing::final_W(p, r) - Wstar).norm(), 1e-10);  // usual: 1e-6 for long-time limits
  EXPECT_EQ(r.samples[1].critical_index, 1);
  EXPECT_LT(r.samples[1].critical_distance, 1e-10);
  EXPECT_NEAR(r.samples[0].critical_distance, 2e-7, 1.5e-7);
}

TEST(RiemannianFlow, TC19_BoundednessAndMonotoneLoss) {
  const Problem p(autoencoder_loss(XD), DeepFactorization{{3, 3, 3}});
  const Mat A = std::sqrt(3.0) * Mat::Identity(3, 3);
  SolveOptions o = testing::rk4(5.0, 1e-4);
  o.record.times = uniform_grid(0, 5, 501);
  const auto r = integrate(p, pack_state(p, {A, A}), o);
  double prev = std::numeric_limits<double>::infinity();
  for (const auto& s : r.samples) {
    EXPECT_LE(s.loss, prev);
    prev = s.loss;
  }
  auto at = [&](double t) { return r.samples[static_cast<int>(std::lround(t / 0.01))]; };
  EXPECT_NEAR(at(1).spectrum.norm(), 1.79899, 1e-5);
  EXPECT_NEAR(at(5).spectrum.norm(), 1.7320683, 1e-7);
  EXPECT_NEAR(at(1).loss, 5.07e-3, 0.01e-3);
  EXPECT_NEAR(at(5).loss, 4.6e-10, 0.1e-10);
  SolveOptions fine = testing::rk4(0.01, 1e-6);
  EXPECT_NEAR(testing::final_W(p, integrate(p, pack_state(p, {A, A}), fine)).norm(), 4.8256, 1e-4);
}

TEST(RiemannianFlow, TC20_BalancedInvariantsAlongTrajectories) {
  Tc2 c2;
  Tc5 c5;
  const std::vector<std::pair<const Problem*, const Vec*>> cases = {{&c2.p, &c2.y}, {&c5.p, &c5.y}};
  for (const auto* c = cases.data(); c != cases.data() + cases.size(); ++c) {
    SolveOptions o = testing::rk4(1.0, 1e-3);
    o.record.times = {0.5, 1.0};
    const auto r = integrate(*c->first, *c->second, o);
    const int N = c->first->depth();
    for (const auto& s : r.samples) {
      EXPECT_LT(s.balance_defect, 5e-11);  // sum over j of ||D_j||, each at RK4 accuracy ~1e-11
      EXPECT_EQ(s.rank, 2);
    }
    const auto F = unpack_state(*c->first, r.final_state);
    const Vec sw = thin_svd(testing::final_W(*c->first, r)).s;
    for (const auto& Fj : F) {
      const Vec sj = thin_svd(Fj).s;
      for (int i = 0; i < 2; ++i) EXPECT_NEAR(sj(i), std::pow(sw(i), 1.0 / N), 1e-11);
      EXPECT_NEAR(Fj.squaredNorm(), F[0].squaredNorm(), 1e-11);
    }
  }
}

}  // namespace
}  // namespace dlnflow
