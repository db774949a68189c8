// One-neuron layer (Eftekhari; cases of docs/theory.md §10): the balanced operator A_W, rank-one
// dynamics with whitened data, closed forms of the reduced (sigma, c) system, factor vs induced
// flow, Hessians at critical points, anti-aligned collapse, exact Euler drift and invariant
// checks.
#include "helpers.hpp"

namespace dlnflow {
namespace {

using testing::deg;
using testing::diag;
using testing::mat;

// Whitened data (X X^T = m I): L = (m/2) ||Z - W||^2 exactly (the constant is zero).
SquareLoss whitened(const Mat& Z, double m) { return {m * Mat::Identity(Z.cols(), Z.cols()), m * Z, m * Z.squaredNorm()}; }

// Literal definition (16): sum_j (W W^T)^{(N-j)/N} D (W^T W)^{(j-1)/N}, X^0 = I.
Mat literal_operator(const Mat& W, const Mat& D, int N) {
  Mat out = Mat::Zero(D.rows(), D.cols());
  for (int j = 1; j <= N; ++j)
    out += psd_power(W * W.transpose(), double(N - j) / N) * D * psd_power(W.transpose() * W, double(j - 1) / N);
  return out;
}

// Balanced rank-one factors W_1 = r q1 v0^T, W_j = r q_j q_{j-1}^T, W_N = r u0 q_{N-1}^T, r = s0^{1/N}.
std::vector<Mat> rank_one_factors(double s0, const Vec& u0, const Vec& v0, const std::vector<Vec>& q) {
  const int N = static_cast<int>(q.size()) + 1;
  const double r = std::pow(s0, 1.0 / N);
  std::vector<Mat> f;
  f.push_back(r * q[0] * v0.transpose());
  for (int j = 1; j < N - 1; ++j) f.push_back(r * q[j] * q[j - 1].transpose());
  f.push_back(r * u0 * q.back().transpose());
  return f;
}

Vec vec(std::initializer_list<double> v) {
  Vec x(static_cast<Index>(v.size()));
  Index i = 0;
  for (double a : v) x(i++) = a;
  return x;
}

TEST(OneNeuronLayer, E1_OperatorOnRankOne) {
  const Mat W = mat(2, 3, {4, 0, 0, 0, 0, 0}), D = Mat::Ones(2, 3);
  const Mat expected = mat(2, 3, {32, 8, 8, 8, 0, 0});
  EXPECT_LT(testing::max_abs_diff(balanced_operator(W, D, 4, 1), expected), 1e-13 * 32);
  EXPECT_LT(testing::max_abs_diff(balanced_operator(W, D, 4, 2), expected), 1e-13 * 32);
  EXPECT_LT(testing::max_abs_diff(literal_operator(W, D, 4), expected), 1e-13 * 32);
}

TEST(OneNeuronLayer, E2_OperatorDividedDifferences) {
  const Mat W = diag({4, 1}), D = Mat::Ones(2, 2);
  EXPECT_LT(testing::max_abs_diff(balanced_operator(W, D, 2, 2), mat(2, 2, {8, 5, 5, 2})), 1e-13);
  EXPECT_LT(testing::max_abs_diff(balanced_operator(W, D, 3, 2),
                                  mat(2, 2, {19.048812623618394, 9.869446307662544, 9.869446307662544, 3})), 1e-13);
  EXPECT_LT(testing::max_abs_diff(balanced_operator(W, D, 5, 2),
                                  mat(2, 2, {45.94793419988140, 20.24015274268090, 20.24015274268090, 5})), 1e-12);
  const Mat W2 = mat(2, 3, {1.0, 0.3, -0.2, 0.1, 0.6, 0.4}), D2 = mat(2, 3, {0.5, -1.0, 2.0, 0.3, 0.7, -0.4});
  const std::pair<int, Mat> cases[] = {
      {2, mat(2, 3, {0.37058643158352247, -0.81707964178192164, 2.2684854216805910, 0.82814402223866871, 0.74077273819238820, -0.038832278756060824})},
      {3, mat(2, 3, {0.23294776907471871, -0.61877622889078782, 2.5145575408561185, 1.2562383607262243, 0.95539571042567514, 0.088232941090517678})},
      {7, mat(2, 3, {-0.34428424596379263, 0.22208246611134204, 3.4335272586661378, 2.8596974873475340, 2.0051307648409881, 0.33991881840476942})}};
  for (const auto& [N, expected] : cases) {
    EXPECT_LT(testing::max_abs_diff(balanced_operator(W2, D2, N, 2), expected), 1e-13) << N;
    EXPECT_LT(testing::max_abs_diff(literal_operator(W2, D2, N), balanced_operator(W2, D2, N, 2)), 1e-12) << N;
  }
}

TEST(OneNeuronLayer, E3_RankOneVelocityAndDissipation) {
  const Mat Z = diag({1, 0.5});
  const Vec u = vec({std::cos(deg(30)), std::sin(deg(30))}), v = vec({1, 0});
  const Mat W = 2 * u * v.transpose();
  const Problem e2e(whitened(Z, 1), EndToEndFlow{2, 2, 3, 1});
  Model me(e2e);
  Vec f;
  me.rhs(pack_state(e2e, {W}), f);
  const Mat dW = Eigen::Map<Mat>(f.data(), 2, 2);
  EXPECT_LT(testing::max_abs_diff(dW, mat(2, 2, {-6.793878382186291, 0.5455618179858607, -5.377279027425796, 0.3149802624737183})), 1e-12);
  EXPECT_NEAR(u.dot(dW * v), -8.572310782908150, 1e-12);                       // ds/dt = u^T (dW/dt) v
  EXPECT_NEAR((W - Z).cwiseProduct(dW).sum(), -10.508233314866867, 1e-12);     // d/dt (m/2)||W - Z||^2
  const Problem deep(whitened(Z, 1), DeepFactorization{{2, 1, 2, 2}});
  const Vec y = initial_state(deep, BalancedInit{W}, 0, 0);
  Model md(deep);
  Vec fd;
  md.rhs(y, fd);
  EXPECT_NEAR(fd.squaredNorm(), 10.508233314866867, 1e-12);
  EXPECT_LT(testing::max_abs_diff(testing::product_velocity(deep, y, fd), dW), 1e-12);
}

TEST(OneNeuronLayer, E4_AlignedLogisticDepthTwo) {
  const Problem p(whitened(diag({1, 0}), 1), DeepFactorization{{2, 2, 2}});
  for (const auto& [s0, level, t] : {std::tuple{0.01, 0.5, 0.5 * std::log(99.0)},
                                    std::tuple{10.0, 2.0, 0.5 * (std::log(2.0) - std::log(10.0 / 9))}}) {
    SolveOptions o = testing::dopri(5, 1e-12);
    o.events = {{EventKind::SingularValue, 1, level, Crossing::Either, true}};
    const auto r = integrate(p, initial_state(p, BalancedInit{s0 * diag({1, 0})}, 0, 0), o);
    EXPECT_NEAR(r.event_times[0], t, 1e-9) << s0;
  }
}

TEST(OneNeuronLayer, E5_AlignedSmallInitializationTimes) {
  const std::tuple<int, double, double> cases[] = {{3, 1e-2, 3.76803678108}, {4, 1e-3, 15.5291516512}, {6, 1e-4, 116.088515548}};
  for (const auto& [N, s0, t] : cases) {
    std::vector<int> widths(N + 1, 2);
    const Problem p(whitened(diag({1, 0}), 1), DeepFactorization{widths});
    SolveOptions o = testing::dopri(200, 1e-12);
    o.events = {{EventKind::SingularValue, 1, 0.5, Crossing::Up, true}};
    const auto r = integrate(p, initial_state(p, BalancedInit{s0 * diag({1, 0})}, 0, 0), o);
    EXPECT_NEAR(r.event_times[0] / t, 1.0, 1e-7) << N;
  }
  // Physical time: with s_Z = 0.5 and m = 2 the N = 3 time is tau / (m s_Z^{4/3}).
  const Problem p(whitened(diag({0.5, 0}), 2), DeepFactorization{{2, 2, 2, 2}});
  SolveOptions o = testing::dopri(50, 1e-12);
  o.events = {{EventKind::SingularValue, 1, 0.25, Crossing::Up, true}};
  const auto r = integrate(p, initial_state(p, BalancedInit{0.005 * diag({1, 0})}, 0, 0), o);
  EXPECT_NEAR(r.event_times[0] / 4.7474288573, 1.0, 1e-7);
}

TEST(OneNeuronLayer, E6_ScalarOutputClosedFormDepthTwo) {
  const Problem p(whitened(mat(1, 3, {1, 0, 0}), 1), DeepFactorization{{3, 2, 1}});
  const Vec v0 = vec({std::cos(deg(100)), std::sin(deg(100)), 0});
  const Vec y = pack_state(p, rank_one_factors(0.5, vec({1}), v0, {vec({0.6, 0.8})}));
  SolveOptions o = testing::rk4(5, 1e-3);
  o.record.times = {0.5, 1, 2, 5};
  const auto r = integrate(p, y, o);
  const double y0 = std::atanh(std::cos(deg(100)));
  Model m(p);
  for (const auto& s : r.samples) {
    const double th = s.t + y0;
    const double sc = std::pow(std::cosh(th), 2) /
                      (std::pow(std::cosh(y0), 2) / 0.5 + s.t + (std::sinh(2 * th) - std::sinh(2 * y0)) / 2);
    EXPECT_NEAR(s.spectrum(0), sc, 1e-10) << s.t;
    EXPECT_LT(s.balance_defect, 1e-13);
  }
  EXPECT_NEAR(r.samples[0].spectrum(0), 0.359038482027, 1e-10);
  const Mat W5 = m.end_to_end(r.final_state);
  EXPECT_NEAR(W5(0, 0) / r.samples[3].spectrum(0), 0.999871047397, 1e-10);  // c = <W, Z> / (s s_Z)
  EXPECT_NEAR(r.samples[3].spectrum(0), 0.998264539283, 1e-10);
}

TEST(OneNeuronLayer, E7_RankOneFlowNonUnitScales) {
  const double sZ = 0.7, m = 2;
  const Vec uZ = vec({0.6, 0.8}), vZ = vec({0, 1, 0});
  const Mat Z = sZ * uZ * vZ.transpose();
  const Vec v0 = vec({std::sin(deg(100)), std::cos(deg(100)), 0});
  struct Case {
    std::vector<int> widths;
    std::vector<Vec> q;
    double expected[3][2];
  };
  const Case cases[] = {
      {{3, 1, 2, 2}, {vec({1}), vec({0, 1})},
       {{0.371169462026, 0.606576750645}, {0.786250571283, 0.938212619141}, {0.980307664453, 0.994300842505}}},
      {{3, 2, 1, 2, 2}, {vec({0, 1}), vec({1}), vec({0.28, 0.96})},
       {{0.308613007333, 0.457669212124}, {0.643663535905, 0.852968458623}, {0.957987233309, 0.981553664318}}}};
  for (const auto& c : cases) {
    const Problem p(whitened(Z, m), DeepFactorization{c.widths});
    SolveOptions o = testing::dopri(3, 1e-12, 1e-16);
    o.record.times = {1, 2, 3};
    const Vec y0 = pack_state(p, rank_one_factors(0.35, uZ, v0, c.q));
    Model model(p);
    for (int k = 0; k < 3; ++k) {
      SolveOptions ok = testing::dopri(k + 1.0, 1e-12, 1e-16);
      const auto r = integrate(p, y0, ok);
      const Mat W = model.end_to_end(r.final_state);
      const double s = thin_svd(W).s(0);
      EXPECT_NEAR(s / sZ, c.expected[k][0], 1e-9);
      EXPECT_NEAR(W.cwiseProduct(Z).sum() / (s * sZ), c.expected[k][1], 1e-9);
    }
  }
}

TEST(OneNeuronLayer, E9_FactorFlowVersusInducedFlowRankTwo) {
  const Mat Z = mat(2, 3, {1.0, 0.3, -0.2, 0.1, 0.6, 0.4});
  const Mat S = diag({std::cbrt(0.8), std::cbrt(0.3)});
  const Mat U = testing::rot(deg(30)), Q1 = testing::rot(deg(45)), Q2 = testing::rot(deg(-60));
  const Mat Vt = mat(2, 3, {2.0 / 3, 2.0 / 3, 1.0 / 3, -2.0 / 3, 1.0 / 3, 2.0 / 3});
  const Problem deep(whitened(Z, 1), DeepFactorization{{3, 2, 2, 2}});
  const Problem e2e(whitened(Z, 1), EndToEndFlow{2, 3, 3, 2});
  const Vec y = pack_state(deep, {Q1 * S * Vt, Q2 * S * Q1.transpose(), U * S * Q2.transpose()});
  Model m(deep);
  const Mat W0 = m.end_to_end(y);
  EXPECT_LT(testing::max_abs_diff(W0, mat(2, 3, {0.5618802153517005, 0.4118802153517007, 0.1309401076758504,
                                                0.09346158590977892, 0.35326920704511044, 0.30653841409022103})), 1e-15);
  const Mat expected[3] = {
      mat(2, 3, {0.806797849593, 0.398445823399, -0.0178915517022, 0.169364688615, 0.443426205917, 0.331037878799}),
      mat(2, 3, {0.932127439741, 0.358391065045, -0.122986883823, 0.160143985894, 0.49957972589, 0.363615348732}),
      mat(2, 3, {0.991947010078, 0.312772702297, -0.192963619086, 0.119545333136, 0.564772914133, 0.404721068374})};
  const double loss[3] = {0.0571323625944253, 0.0144862971579504, 0.000961379669840621};
  const double ts[3] = {0.5, 1, 2};
  for (int k = 0; k < 3; ++k) {
    const auto rd = integrate(deep, y, testing::rk4(ts[k], 1e-3));
    const auto re = integrate(e2e, pack_state(e2e, {W0}), testing::rk4(ts[k], 1e-3));
    EXPECT_LT(testing::max_abs_diff(testing::final_W(deep, rd), expected[k]), 1e-9);
    EXPECT_LT(testing::max_abs_diff(testing::final_W(e2e, re), testing::final_W(deep, rd)), 1e-9);
    EXPECT_NEAR(rd.final_loss, loss[k], 1e-12);
    EXPECT_LT(m.balance_defect(rd.final_state), 1e-12);
  }
}

TEST(OneNeuronLayer, E12_HessianSpectraAtCriticalPoints) {
  const Mat Z = diag({3, 2, 1});
  auto spectrum_at = [&](int N, int i, double s) {
    std::vector<int> widths(N + 1, 1);
    widths.front() = widths.back() = 3;
    const Problem p(whitened(Z, 1), DeepFactorization{widths});
    Model m(p);
    const double r = std::pow(s, 1.0 / N);
    std::vector<Mat> f;
    Mat e = Mat::Zero(3, 1);
    e(i) = 1;
    f.push_back(r * e.transpose());
    for (int j = 1; j < N - 1; ++j) f.push_back(Mat::Constant(1, 1, r));
    f.push_back(r * e);
    const Vec y = pack_state(p, f);
    EXPECT_LT(testing::param_gradient(m, y).norm(), 1e-13);
    return testing::sorted_eigenvalues(testing::fd_hessian(m, y));
  };
  // tol: 1e-8 where the reference value is exact, half a unit of its last printed digit otherwise.
  auto expect = [](const Vec& ev, std::vector<double> want, double tol = 1e-8) {
    ASSERT_EQ(ev.size(), static_cast<Index>(want.size()));
    std::sort(want.begin(), want.end());
    for (std::size_t k = 0; k < want.size(); ++k) EXPECT_NEAR(ev(k), want[k], tol) << k;
  };
  expect(spectrum_at(2, 0, 0), {-3, -2, -1, 1, 2, 3});
  expect(spectrum_at(2, 0, 3), {0, 1, 2, 4, 5, 6});
  expect(spectrum_at(2, 1, 2), {-1, 0, 1, 3, 4, 5});
  expect(spectrum_at(2, 2, 1), {-2, -1, 0, 2, 3, 4});
  expect(spectrum_at(3, 0, 0), {0, 0, 0, 0, 0, 0, 0});
  expect(spectrum_at(3, 0, 3), {0, 0, 1.44225, 2.88450, 5.76900, 7.21125, 12.98025}, 5e-6);
  expect(spectrum_at(3, 1, 2), {-1.259921, 0, 0, 1.259921, 3.779763, 6.299605, 7.559526}, 5e-7);
  expect(spectrum_at(3, 2, 1), {-2, -1, 0, 0, 3, 3, 4});
  expect(spectrum_at(4, 0, 3), {0, 0, 0, 1.7320508, 3.4641016, 6.9282032, 8.660254, 20.78461}, 5e-6);
  // Closed forms behind the rounded rows: pairs m s^{(N-2)/N} (s +- s_k), scale mode m N s^{2-2/N}.
  expect(spectrum_at(3, 0, 3), {0, 0, std::cbrt(3.0), 2 * std::cbrt(3.0), 4 * std::cbrt(3.0), 5 * std::cbrt(3.0), 3 * std::pow(3.0, 4.0 / 3)});
  EXPECT_NEAR(spectrum_at(4, 1, 2)(0), -1.4142136, 1e-7);
  for (int N : {2, 3, 4})  // lambda_min = m sigma_i^{(N-2)/N} (sigma_i - sigma_1) at the saddle 2 e2 e2^T
    EXPECT_NEAR(spectrum_at(N, 1, 2)(0), std::pow(2.0, (N - 2.0) / N) * (2 - 3), 1e-7);
}

TEST(OneNeuronLayer, E14_ExactAntiAlignedCollapse) {
  const double expected[3][2] = {{0.0725788834958, 1.03057681228e-9}, {0.0843170492041, 6.80385153511e-4}, {0.0812757307036, 2.11594145013e-3}};
  for (int N : {2, 3, 4}) {
    std::vector<int> widths(N + 1, 1);
    widths.front() = 2;
    const Problem p(whitened(mat(1, 2, {1, 0}), 1), DeepFactorization{widths});
    std::vector<Mat> f(N, Mat::Ones(1, 1));
    f[0] = mat(1, 2, {-1, 0});
    SolveOptions o = testing::dopri(10, 1e-13, 1e-300);
    o.record.times = {1, 10};
    const auto r = integrate(p, pack_state(p, f), o);
    for (int k = 0; k < 2; ++k) {
      EXPECT_NEAR(r.samples[k].spectrum(0) / expected[N - 2][k], 1.0, 1e-9) << N;
      EXPECT_GT(r.samples[k].spectrum(0), 0.0);
    }
    const Mat W = testing::final_W(p, r);
    EXPECT_EQ(W(0, 1), 0.0);  // c stays exactly -1
    EXPECT_LT(W(0, 0), 0.0);
  }
}

TEST(OneNeuronLayer, E15_BalancednessAndExactEulerDrift) {
  const Mat Z = diag({1, 0.5});
  const Vec u = vec({std::cos(deg(30)), std::sin(deg(30))}), v = vec({1, 0});
  const Mat W0 = 2 * u * v.transpose();
  const double h = 0.01;
  for (const auto& widths : {std::vector<int>{2, 1, 2}, std::vector<int>{2, 1, 2, 2}}) {
    const Problem p(whitened(Z, 1), DeepFactorization{widths});
    const Vec y = initial_state(p, BalancedInit{W0}, 0, 0);
    SolveOptions gd;
    gd.integrator.method = Method::Euler;
    gd.integrator.dt = gd.stop.t_final = h;
    const auto r = integrate(p, y, gd);
    Model m(p);
    const auto G = unpack_state(p, testing::param_gradient(m, y));
    const auto D0 = testing::defects(p, y), D1 = testing::defects(p, r.final_state);
    for (std::size_t j = 0; j < D1.size(); ++j)
      EXPECT_LT(testing::max_abs_diff(D1[j] - D0[j], h * h * (G[j] * G[j].transpose() - G[j + 1].transpose() * G[j + 1])), 1e-14);
    // Eftekhari's values are for W_{j+1}^T W_{j+1} - W_j W_j^T, the negative of ours (docs/theory.md §4).
    if (widths.size() == 3) EXPECT_NEAR(-D1[0](0, 0), 3.75e-5, 1e-14);
    if (widths.size() == 4) {
      EXPECT_NEAR(-D1[0](0, 0), -1.5749013123686e-5, 1e-14);
      EXPECT_NEAR(D1[1].norm(), 6.299605249474e-5, 1e-14);
    }
    SolveOptions o = testing::dopri(10, 1e-12, 1e-14);
    o.record.times = uniform_grid(0, 10, 21);
    for (const auto& s : integrate(p, y, o).samples) EXPECT_LT(s.balance_defect, 1e-12);
  }
}

TEST(OneNeuronLayer, E16_InvariantAndPropertyChecks) {
  const Mat Z = diag({1, 0.6, 0.3});
  const Mat Z1 = diag({1, 0, 0});
  const Problem p(whitened(Z, 1), DeepFactorization{{3, 1, 2, 3}});
  Model m(p);
  // (a) the zero start stays at zero.
  const auto r0 = integrate(p, Vec::Zero(p.state_size()), testing::rk4(1, 1e-2));
  EXPECT_EQ(r0.final_state.norm(), 0.0);
  // (h) a start outside every stable set (negative alignment) still converges to Z_1.
  const Vec u0 = vec({-0.5, 0.3, 0.8}).normalized(), v0 = vec({0.6, 0.5, -0.2}).normalized();
  const Vec y = pack_state(p, rank_one_factors(0.8, u0, v0, {vec({1}), vec({0, 1})}));
  EXPECT_NEAR(u0.dot(Z * v0), -0.32326, 1e-5);
  SolveOptions o = testing::rk4(40, 2e-3);
  o.record.times = uniform_grid(0, 40, 401);
  const auto r = integrate(p, y, o);
  double k_prev = -1e9, l_prev = 1e9;
  for (const auto& s : r.samples) {
    EXPECT_LT(s.spectrum(1), 1e-12 * s.spectrum(0));                           // (b) rank one
    EXPECT_LE(s.loss, l_prev + 1e-15);                                         // (c) L nonincreasing
    l_prev = s.loss;
  }
  Model mm(p);
  Vec state;
  for (double t : {5.0, 10.0, 20.0, 40.0}) {
    const auto rt = integrate(p, y, testing::rk4(t, 2e-3));
    const Mat W = mm.end_to_end(rt.final_state);
    const ThinSvd svd = thin_svd(W);
    const double s = svd.s(0), ktilde = W.cwiseProduct(Z).sum() / s, err = (W - Z1).squaredNorm();
    EXPECT_GE(ktilde, k_prev - 1e-12);                                         // (d) monotone alignment
    k_prev = ktilde;
    for (const auto& F : unpack_state(p, rt.final_state)) EXPECT_NEAR(F.norm(), std::cbrt(s), 1e-10);  // (f)
    if (t == 5) {
      EXPECT_NEAR(s / 0.79377046, 1, 1e-6);
      EXPECT_NEAR(ktilde / 0.83699602, 1, 1e-6);
      EXPECT_NEAR(err / 6.722e-1, 1, 1e-3);
    }
    if (t == 10) {
      EXPECT_NEAR(s / 0.99312031, 1, 1e-6);
      EXPECT_NEAR(err / 2.512e-2, 1, 1e-3);
    }
    if (t == 20) EXPECT_NEAR(err / 8.581e-6, 1, 1e-3);
    if (t == 40) EXPECT_NEAR(err / 9.656e-13, 1, 1e-3);
  }
}

}  // namespace
}  // namespace dlnflow
