// The device math of kernels/device/ run on the host and compared with Eigen and the CPU
// backend. Each routine runs on a one-member HostTeam and on teams of real threads meeting at a
// std::barrier, so the split of work among members and every barrier are exercised too; only
// the GPU's own scheduling is left to the GPU parity tests.
#include <gtest/gtest.h>

#include <barrier>
#include <thread>

#include "../kernels/device/matfun.cuh"
#include "../kernels/device/square_flow.cuh"
#include "dlnflow/dlnflow.hpp"

namespace dlnflow {
namespace {

using device::HostTeam;
using device::Op;

struct ThreadTeam {
  int r, s;
  std::barrier<>* b;
  int rank() const { return r; }
  int size() const { return s; }
  void sync() const { b->arrive_and_wait(); }
};

// Runs body(team) on `members` threads forming one team.
template <class Body>
void on_team(int members, Body&& body) {
  if (members == 1) return body(HostTeam{});
  std::barrier<> barrier(members);
  std::vector<std::thread> threads;
  for (int r = 0; r < members; ++r) threads.emplace_back([&, r] { body(ThreadTeam{r, members, &barrier}); });
  for (auto& t : threads) t.join();
}

Mat random_matrix(Index r, Index c, std::uint64_t stream) { return gaussian_matrix(r, c, 99, 0, stream); }

Mat random_symmetric(Index n, std::uint64_t stream) {
  const Mat G = random_matrix(n, n, stream);
  return 0.5 * (G + G.transpose());
}

class TeamSizes : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(DeviceMath, TeamSizes, ::testing::Values(1, 3, 8));

TEST_P(TeamSizes, GemmMatchesEigenForEveryTransposeCombination) {
  const int m = 5, n = 7, k = 4;
  for (Op oa : {Op::N, Op::T})
    for (Op ob : {Op::N, Op::T}) {
      const Mat A = oa == Op::N ? random_matrix(m, k, 1) : random_matrix(k, m, 1);
      const Mat B = ob == Op::N ? random_matrix(k, n, 2) : random_matrix(n, k, 2);
      Mat C = random_matrix(m, n, 3);
      const Mat want = 2.0 * (oa == Op::N ? A : A.transpose()) * (ob == Op::N ? B : B.transpose()) - 0.5 * C;
      on_team(GetParam(), [&](const auto& team) {
        device::gemm(team, oa, ob, m, n, k, 2.0, A.data(), static_cast<int>(A.rows()), B.data(),
                     static_cast<int>(B.rows()), -0.5, C.data(), m);
      });
      EXPECT_LT((C - want).norm(), 1e-14 * want.norm());
    }
}

// Eigenvalues against Eigen's solver, and the decomposition against its defining identities.
void expect_eigh(const Mat& A, int members, double tol) {
  const int n = static_cast<int>(A.rows());
  Mat work = A, V(n, n);
  Vec w(n);
  std::vector<double> ws(device::jacobi_workspace(n));
  bool ok = false;
  on_team(members, [&](const auto& team) {
    const bool r = device::jacobi_eigh(team, n, work.data(), V.data(), w.data(), ws.data());
    if (team.rank() == 0) ok = r;
  });
  ASSERT_TRUE(ok);
  Vec ref = Eigen::SelfAdjointEigenSolver<Mat>(A).eigenvalues().reverse();
  const double scale = std::max(1.0, A.norm());
  EXPECT_LT((w - ref).cwiseAbs().maxCoeff(), tol * scale) << "n = " << n;
  for (int i = 1; i < n; ++i) EXPECT_GE(w(i - 1), w(i));
  EXPECT_LT((V.transpose() * V - Mat::Identity(n, n)).norm(), tol * n);
  EXPECT_LT((V * w.asDiagonal() * V.transpose() - A).norm(), tol * scale);
}

TEST_P(TeamSizes, JacobiSolvesRandomIndefiniteMatrices) {
  for (int n : {1, 2, 3, 5, 8, 13, 32}) expect_eigh(random_symmetric(n, 10 + n), GetParam(), 1e-13);
}

TEST_P(TeamSizes, JacobiSolvesRepeatedAndRankDeficientSpectra) {
  const Mat Q = haar_frame(9, 9, 5, 0, 0);
  Vec lam(9);
  lam << 3, 3, 3, 1, 1, -2, -2, 0, 0;  // repeated, indefinite, a double zero
  expect_eigh(Q * lam.asDiagonal() * Q.transpose(), GetParam(), 1e-13);
  const Mat G = random_matrix(10, 3, 7);
  expect_eigh(G * G.transpose(), GetParam(), 1e-13);  // PSD of rank 3
  expect_eigh(Mat::Identity(6, 6) * 4.0, GetParam(), 1e-15);
  expect_eigh(Mat::Zero(4, 4), GetParam(), 1e-15);
}

TEST(DeviceMath, JacobiReportsNonConvergence) {
  const int n = 12;
  Mat A = random_symmetric(n, 3), V(n, n);
  Vec w(n);
  std::vector<double> ws(device::jacobi_workspace(n));
  EXPECT_FALSE(device::jacobi_eigh(HostTeam{}, n, A.data(), V.data(), w.data(), ws.data(), /*max_sweeps=*/1));
}

TEST_P(TeamSizes, PsdFunctionsAgreeWithTheCpuMatrixFunctions) {
  const int n = 7;
  const Mat G = random_matrix(n, 4, 8);
  const Mat psd = G * G.transpose();                          // rank 4
  const Mat spd = psd + 0.5 * Mat::Identity(n, n);
  std::vector<double> ws(device::psd_function_workspace(n));
  auto run = [&](Mat A, device::PsdFunction f, double p) {
    Mat out(n, n);
    on_team(GetParam(), [&](const auto& team) { device::psd_function(team, n, A.data(), f, p, out.data(), ws.data()); });
    return out;
  };
  const Mat root = run(psd, device::PsdFunction::Power, 0.5);
  EXPECT_LT((root - psd_power(psd, 0.5)).norm(), 1e-13 * psd.norm());
  EXPECT_LT((root * root - psd).norm(), 1e-13 * psd.norm());
  EXPECT_LT((run(psd, device::PsdFunction::Power, 1.0 / 3) - psd_power(psd, 1.0 / 3)).norm(), 1e-12 * psd.norm());
  EXPECT_LT((run(psd, device::PsdFunction::Power, 0.0) - Mat::Identity(n, n)).norm(), 1e-14 * n);  // X^0 = I
  const Mat isq = run(spd, device::PsdFunction::InverseSqrt, 0.0);
  EXPECT_LT((isq * spd * isq - Mat::Identity(n, n)).norm(), 1e-13 * n);
  EXPECT_LT((isq - spd_inv_sqrt(spd)).norm(), 1e-13 * isq.norm());
}

// The deep-factorization square-loss flow against the CPU Model, at a random state.
struct DeepCase {
  Problem problem;
  Mat w_opt, cxx;
  double l_opt;
};

DeepCase regression_case(const std::vector<int>& widths) {
  const Mat X = random_matrix(widths.front(), 30, 20), Y = random_matrix(widths.back(), 30, 21);
  SquareLoss l = regression_loss(X, Y);
  const Mat w_opt = l.Cyx * l.Cxx.inverse();
  const double l_opt = 0.5 * (l.yy - (w_opt * l.Cxx * w_opt.transpose()).trace());
  return {Problem(l, DeepFactorization{widths}), w_opt, l.Cxx, l_opt};
}

TEST_P(TeamSizes, DeepSquareRhsEqualsTheCpuModel) {
  const std::vector<int> widths{5, 3, 4, 6};
  const DeepCase c = regression_case(widths);
  const int N = 3;
  const Vec y = 0.7 * gaussian_matrix(c.problem.state_size(), 1, 4, 0, 0);
  Vec want(y.size());
  Model model(c.problem);
  const double L = model.rhs(y, want);
  const device::SquareLossData<double> data{6, 5, c.cxx.data(), c.w_opt.data(), c.l_opt};
  Vec got(y.size());
  std::vector<double> ws(device::deep_rhs_workspace(N, widths.data(), GetParam()));
  double loss = 0;
  on_team(GetParam(), [&](const auto& team) {
    const double l = device::deep_square_rhs(team, N, widths.data(), data, y.data(), got.data(), ws.data());
    if (team.rank() == 0) loss = l;
  });
  EXPECT_LT((got - want).norm(), 1e-13 * want.norm());
  EXPECT_NEAR(loss, L, 1e-13 * L);
}

TEST_P(TeamSizes, Rk4StepEqualsTheCpuIntegrator) {
  const std::vector<int> widths{4, 4, 4};
  const DeepCase c = regression_case(widths);
  Vec y = 0.5 * gaussian_matrix(c.problem.state_size(), 1, 6, 0, 0);
  SolveOptions opt;
  opt.integrator.method = Method::RK4;
  opt.integrator.dt = 0.01;
  opt.stop.t_final = 0.03;  // three steps
  const Vec want = integrate(c.problem, y, opt).final_state;
  const device::SquareLossData<double> data{4, 4, c.cxx.data(), c.w_opt.data(), c.l_opt};
  const int n = static_cast<int>(y.size());
  std::vector<double> rk(5 * n), ws(device::deep_rhs_workspace(2, widths.data(), GetParam()));
  on_team(GetParam(), [&](const auto& team) {
    auto rhs = [&](const double* s, double* ds) { device::deep_square_rhs(team, 2, widths.data(), data, s, ds, ws.data()); };
    for (int step = 0; step < 3; ++step) device::rk4_step(team, n, y.data(), 0.01, rhs, rk.data());
  });
  EXPECT_LT((y - want).norm(), 1e-13 * want.norm());
}

}  // namespace
}  // namespace dlnflow
