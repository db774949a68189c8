// The device math of kernels/device/ run on the host and compared with Eigen and the CPU
// backend. Each routine runs on a one-member HostTeam and on teams of real threads meeting at a
// std::barrier, so the split of work among members and every barrier are exercised too; only
// the GPU's own scheduling is left to the GPU parity tests.
#include <gtest/gtest.h>

#include "../kernels/device/matfun.cuh"
#include "../kernels/device/flows.cuh"
#include "../kernels/device/host_team.hpp"
#include "../src/core/driver_io.hpp"
#include "../src/gpu/pack.hpp"
#include "device_cases.hpp"
#include "dlnflow/gpu.hpp"
#include "helpers.hpp"
#include "dlnflow/dlnflow.hpp"

namespace dlnflow {
namespace {

using device::HostTeam;
using device::Op;

using device::on_team;

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

// Thin SVD against Eigen's JacobiSVD: tall, wide, square, rank-deficient and graded inputs.
void expect_svd(const Mat& A, int members, double tol, double abs_tol = 0.0) {
  const int m = static_cast<int>(A.rows()), n = static_cast<int>(A.cols()), k = std::min(m, n);
  SCOPED_TRACE(std::to_string(m) + "x" + std::to_string(n) + ", norm " + std::to_string(A.norm()));
  Mat U(m, k), V(n, k);
  Vec s(k);
  std::vector<double> ws(device::svd_workspace(m, n));
  bool ok = false;
  on_team(members, [&](const auto& team) {
    const bool r = device::thin_svd(team, m, n, A.data(), U.data(), s.data(), V.data(), ws.data());
    if (team.rank() == 0) ok = r;
  });
  ASSERT_TRUE(ok);
  const Vec ref = thin_svd(A).s;
  for (int i = 0; i < k; ++i) EXPECT_LE(std::abs(s(i) - ref(i)), tol * ref(i) + abs_tol + 1e-300) << "s_" << i << " of " << m << "x" << n;
  EXPECT_LT((U.transpose() * U - Mat::Identity(k, k)).norm(), 1e-13 * k);  // completed where s = 0
  EXPECT_LT((V.transpose() * V - Mat::Identity(k, k)).norm(), 1e-13 * k);
  EXPECT_LT((U * s.asDiagonal() * V.transpose() - A).norm(), 1e-13 * std::max(A.norm(), 1e-300));
}

TEST_P(TeamSizes, ThinSvdMatchesEigenWithRelativeAccuracy) {
  expect_svd(random_matrix(7, 4, 30), GetParam(), 1e-13);
  expect_svd(random_matrix(3, 8, 31), GetParam(), 1e-13);
  expect_svd(random_matrix(6, 6, 32), GetParam(), 1e-13);
  // Rank 2: the zero singular values of the rounded product are resolved to eps ||A|| (no
  // algorithm does better), and their vectors completed to an orthonormal set.
  const Mat R = random_matrix(6, 2, 33) * random_matrix(2, 5, 34);
  expect_svd(R, GetParam(), 1e-12, 1e-14 * R.norm());
  expect_svd(Mat::Zero(4, 3), GetParam(), 0.0);
  // The small-initialization regime: a uniformly tiny matrix, and columns graded from 1 to 1e-200
  // (A = B diag(d) with B well conditioned), where one-sided Jacobi keeps relative accuracy.
  expect_svd(1e-200 * random_matrix(5, 4, 35), GetParam(), 1e-13);
  // Oracle for the graded case: with B = QR, sigma_i = d_i |R_ii| up to relative O(1e-50), the
  // gap between the gradings. (Eigen's JacobiSVD, behind the CPU backend's thin_svd, returns
  // 1e-212 for the smallest value here instead of ~1e-200: its QR preconditioner loses it.)
  Vec d(4);
  d << 1, 1e-50, 1e-120, 1e-200;
  const Mat B = random_matrix(5, 4, 36), A = B * d.asDiagonal();
  const Mat QR = Eigen::HouseholderQR<Mat>(B).matrixQR().triangularView<Eigen::Upper>();
  Mat U(5, 4), V(4, 4);
  Vec s(4);
  std::vector<double> ws(device::svd_workspace(5, 4));
  on_team(GetParam(), [&](const auto& team) { device::thin_svd(team, 5, 4, A.data(), U.data(), s.data(), V.data(), ws.data()); });
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(s(i) / (d(i) * std::abs(QR(i, i))), 1.0, 1e-13) << i;
}

// Every flow of the core (each loss x parametrization of the shared cases) at random states:
// the device right-hand side against the CPU Model, and the recorder's quantities.
TEST_P(TeamSizes, FlowRhsAndDiagnosticsEqualTheCpuModel) {
  for (const testing::DeviceCase& c : testing::device_cases()) {
    SCOPED_TRACE(c.name);
    const Problem& p = *c.problem;
    SolveOptions dopri5;
    dopri5.integrator.method = Method::DormandPrince54;  // the device math has no implicit method
    const kernels::PackedRun run = gpu::pack_run(p, dopri5);
    device::FlowData<double> f;
    integrator::DriverConfig<double> cfg;
    device::CatalogData<double> cat;
    run.bind(f, cfg, cat, run.values.data(), run.ints.data(), run.events.data());
    Model model(p);
    for (int trial = 0; trial < 3; ++trial) {
      Vec y = initial_state(p, GaussianInit{0.5 + 0.3 * trial, ScaleOn::Factors}, 40, trial);
      if (model.has_retraction()) model.retract(y);
      Vec want(y.size()), got(y.size());
      const double L = model.rhs(y, want);
      const Vec spec = model.spectrum(y);
      std::vector<double> ws(device::flow_workspace(f, GetParam())), Wb(p.rows() * p.cols());
      Vec dspec(device::spectrum_size(f));
      double loss = 0, gnorm = 0, balance = 0;
      bool ok = true, sok = true;
      on_team(GetParam(), [&](const auto& team) {
        bool o1 = true, o2 = true;
        const double l = device::flow_rhs(team, f, y.data(), got.data(), ws.data(), o1);
        const double g = device::grad_norm(team, f, y.data(), got.data(), ws.data(), o2);
        const bool s = device::spectrum(team, f, y.data(), dspec.data(), Wb.data(), ws.data());
        const double b = device::balance_defect(team, f, y.data(), ws.data());
        if (team.rank() == 0) loss = l, gnorm = g, balance = b, ok = o1 && o2, sok = s;
      });
      ASSERT_TRUE(ok && sok);
      EXPECT_LT((got - want).norm(), 1e-12 * std::max(1.0, want.norm()));
      EXPECT_NEAR(loss, L, 1e-12 * std::max(1.0, std::abs(L)));
      EXPECT_NEAR(gnorm, model.grad_norm(y, want), 1e-12 * std::max(1.0, want.norm()));
      EXPECT_LT((dspec - spec).norm(), 1e-12 * std::max(1.0, spec.norm()));
      EXPECT_NEAR(balance, model.balance_defect(y), 1e-12 * std::max(1.0, balance));
    }
  }
}

// A matrix function that fails ends its trajectory as Failed, with the reason, at the time it
// happened. Forced here by a singular Sigma0 written into the packed data of a smooth BW
// problem (the Problem itself rejects one): M M^T + tau Sigma0 then has an exact zero eigenvalue.
TEST(DeviceMath, AMatrixFunctionFailureMarksTheTrajectoryFailed) {
  const Problem p(BuresWassersteinLoss{testing::spd(3, 1, 0.1), 0.1}, DeepFactorization{{3, 3}});
  SolveOptions o;
  o.integrator.method = Method::DormandPrince54;  // the device math has no implicit method
  o.stop.t_final = 0.1;
  kernels::PackedRun run = gpu::pack_run(p, o);
  const Mat singular = testing::diag({1.0, 1.0, 0.0});
  std::copy(singular.data(), singular.data() + 9, run.values.begin() + run.sigma0);
  std::copy(singular.data(), singular.data() + 9, run.values.begin() + run.sqrt_sigma0);
  const Vec y0 = initial_state(p, GaussianInit{1.0}, 1, 0);
  const auto out = gpu::emulate(run, y0.data(), 1, 1);
  const TrajectoryResult r = core::unpack_result(run.layout(), o, out.data());
  EXPECT_EQ(r.status, Status::Failed);
  EXPECT_EQ(r.t_end, 0.0);
  EXPECT_EQ(r.steps, 0);
  EXPECT_NE(r.message.find("positive definite"), std::string::npos) << r.message;
  EXPECT_TRUE(std::isnan(r.final_loss));
}

}  // namespace
}  // namespace dlnflow
