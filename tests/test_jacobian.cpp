// The flows' Jacobian-vector products (Model::jvp, the linearization an implicit method solves
// with) against two oracles: central finite differences of the flow itself, and the symmetry
// of the Jacobian of a gradient flow (J = -Hessian of L(W_N..W_1), so <u, J v> = <J u, v>).
#include <gtest/gtest.h>

#include <random>

#include "helpers.hpp"

using namespace dlnflow;
using namespace dlnflow::testing;

namespace {

Vec random_unit(Index n, unsigned seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> z;
  Vec v(n);
  for (Index i = 0; i < n; ++i) v(i) = z(g);
  return v / v.norm();
}

Vec jvp(Model& m, const Vec& y, const Vec& v) {
  Vec out(y.size());
  m.jvp(y.data(), v.data(), out.data());
  return out;
}

// (f(y + h v) - f(y - h v)) / 2h: error O(h^2) from the third derivative, O(eps / h) from rounding.
Vec central_difference(Model& m, const Vec& y, const Vec& v, double h) {
  Vec fp(y.size()), fm(y.size());
  m.rhs(Vec(y + h * v), fp);
  m.rhs(Vec(y - h * v), fm);
  return (fp - fm) / (2 * h);
}

struct Case {
  std::string name;
  Problem problem;
  InitSpec init;
};

std::vector<Case> cases() {
  const Mat T = gaussian_matrix(4, 3, 1, 0, 7);
  const Mat S = gaussian_matrix(4, 4, 1, 0, 8);
  const Mat sigma0 = S * S.transpose() / 4 + 0.2 * Mat::Identity(4, 4);
  std::vector<Mat> A;
  for (int i = 0; i < 5; ++i) A.push_back(gaussian_matrix(4, 3, 1, 0, 20 + i));
  const Mat sym_target = S * S.transpose();
  const InitSpec unit = GaussianInit{0.7, ScaleOn::Factors};
  return {
      {"deep_square_N3", Problem(matrix_approximation_loss(T), DeepFactorization{{3, 5, 2, 4}}), unit},
      {"deep_square_N1", Problem(matrix_approximation_loss(T), DeepFactorization{{3, 4}}), unit},
      {"deep_regression_N4", Problem(regression_loss(gaussian_matrix(3, 6, 1, 0, 9), gaussian_matrix(4, 6, 1, 0, 10)),
                                     DeepFactorization{{3, 3, 3, 3, 4}}), unit},
      {"deep_sensing_N2", Problem(SensingLoss{A, gaussian_matrix(5, 1, 1, 0, 30).col(0)}, DeepFactorization{{3, 2, 4}}), unit},
      {"deep_completion_N3",
       Problem(CompletionLoss{T, {{0, 0}, {1, 2}, {3, 1}, {2, 0}, {1, 2}}}, DeepFactorization{{3, 3, 3, 4}}), unit},
      {"deep_bw_smooth_N3", Problem(BuresWassersteinLoss{sigma0, 0.3}, DeepFactorization{{4, 4, 3, 4}}), unit},
      {"deep_bw_smooth_N2_rank_deficient", Problem(BuresWassersteinLoss{sigma0, 0.05}, DeepFactorization{{4, 2, 4}}), unit},
      {"deep_bw_plain_N3", Problem(BuresWassersteinLoss{sigma0, 0.0}, DeepFactorization{{4, 4, 4, 4}}), unit},
      {"deep_bw_plain_N2_bottleneck", Problem(BuresWassersteinLoss{sigma0, 0.0}, DeepFactorization{{4, 2, 4}}), unit},
      {"symmetric_square", Problem(matrix_approximation_loss(sym_target), SymmetricFactorization{4, 2}), unit},
      {"symmetric_completion",
       Problem(CompletionLoss{sym_target, {{0, 0}, {1, 2}, {2, 1}, {3, 3}, {0, 3}, {3, 0}}}, SymmetricFactorization{4, 3}),
       unit},
  };
}

}  // namespace

TEST(Jacobian, EqualsCentralDifferencesOfTheFlow) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    Model m(c.problem);
    const Vec y = initial_state(c.problem, c.init, 3, 0);
    for (unsigned k = 0; k < 3; ++k) {
      const Vec v = random_unit(y.size(), 100 + k);
      const Vec jv = jvp(m, y, v);
      ASSERT_GT(jv.norm(), 0.0);
      // Two step sizes: the error must be small at the better one and shrink as h^2 between
      // them unless both are already at rounding level.
      const double e3 = (central_difference(m, y, v, 1e-3) - jv).norm() / jv.norm();
      const double e4 = (central_difference(m, y, v, 1e-4) - jv).norm() / jv.norm();
      EXPECT_LT(std::min(e3, e4), 1e-7) << "e(1e-3) = " << e3 << ", e(1e-4) = " << e4;
      if (e3 > 1e-9) EXPECT_GT(e3 / e4, 30.0) << "not second order: e(1e-3) = " << e3 << ", e(1e-4) = " << e4;
    }
  }
}

TEST(Jacobian, IsSymmetricForGradientFlows) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    Model m(c.problem);
    const Vec y = initial_state(c.problem, c.init, 4, 1);
    const Vec u = random_unit(y.size(), 7), v = random_unit(y.size(), 8);
    const Vec ju = jvp(m, y, u), jv = jvp(m, y, v);
    EXPECT_NEAR(u.dot(jv), ju.dot(v), 1e-12 * std::max({1.0, ju.norm(), jv.norm()}));
  }
}

// Linear in the direction: J (a u + b v) = a J u + b J v, to rounding.
TEST(Jacobian, IsLinearInTheDirection) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    Model m(c.problem);
    const Vec y = initial_state(c.problem, c.init, 5, 2);
    const Vec u = random_unit(y.size(), 9), v = random_unit(y.size(), 10);
    const Vec lhs = jvp(m, y, Vec(2.5 * u - 0.75 * v)), rhs = 2.5 * jvp(m, y, u) - 0.75 * jvp(m, y, v);
    EXPECT_LT((lhs - rhs).norm(), 1e-13 * std::max(1.0, rhs.norm()));
  }
}

TEST(Jacobian, SaysWhatIsNotLinearizedYet) {
  const Mat S = Mat::Identity(3, 3);
  for (const Problem& p : {Problem(matrix_approximation_loss(S), EndToEndFlow{3, 3, 2, 3})}) {
    Model m(p);
    const Vec y = Vec::Constant(p.state_size(), 0.3), v = Vec::Constant(p.state_size(), 1.0);
    Vec out(p.state_size());
    EXPECT_THROW(m.jvp(y.data(), v.data(), out.data()), std::invalid_argument);
  }
}
