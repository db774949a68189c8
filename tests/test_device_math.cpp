// The device math of kernels/device/ run on the host and compared with Eigen and the CPU
// backend. Each routine runs on a one-member HostTeam and on teams of real threads meeting at a
// std::barrier, so the split of work among members and every barrier are exercised too; only
// the GPU's own scheduling is left to the GPU parity tests.
#include <gtest/gtest.h>

#include "../kernels/device/matfun.cuh"
#include "../kernels/device/flow_math.cuh"
#include "../kernels/device/host_team.hpp"
#include "../src/core/driver_io.hpp"
#include "../src/gpu/pack.hpp"
#include "../src/cpu/eigen_math.hpp"
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

// A problem packed for the device math, the pointers of its FlowData bound into the packed
// arrays (so it is neither copied nor moved).
struct Packed {
  kernels::PackedRun run;
  device::FlowData<double> f;
  integrator::DriverConfig<double> cfg;
  device::CatalogData<double> cat;
  Packed(const Problem& p, const SolveOptions& o) : run(gpu::pack_run(p, o)) {
    run.bind(f, cfg, cat, run.values.data(), run.ints.data(), run.events.data());
  }
  Packed(const Packed&) = delete;
};

SolveOptions with(Method m) {
  SolveOptions o;
  o.integrator.method = m;
  return o;
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
    const Packed packed(p, with(Method::DormandPrince54));
    const device::FlowData<double>& f = packed.f;
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

// The Jacobian-vector products of every flow that has them (deep and symmetric, each loss):
// the device's against the CPU Model's (test_jacobian checks those against finite differences)
// and against a central difference of the device's own right-hand side, at random states and
// directions; then the same linearization point kept across several products.
TEST_P(TeamSizes, JacobianVectorProductsEqualTheCpuModel) {
  for (const testing::DeviceCase& c : testing::device_cases()) {
    const Problem& p = *c.problem;
    if (std::holds_alternative<EndToEndFlow>(p.parametrization())) continue;
    SCOPED_TRACE(c.name);
    const Packed packed(p, with(Method::Rodas5P));
    const device::FlowData<double>& f = packed.f;
    const device::CatalogData<double>& cat = packed.cat;
    ASSERT_TRUE(f.linearize);
    Model model(p);
    const Index n = p.state_size();
    std::vector<double> ws(1 << 16);
    for (int trial = 0; trial < 2; ++trial) {
      const Vec y = initial_state(p, GaussianInit{0.5 + 0.3 * trial, ScaleOn::Factors}, 41, trial);
      model.linearize(y.data());
      Vec v[3], want[3], got[3];
      for (int i = 0; i < 3; ++i) {
        v[i] = gaussian_matrix(n, 1, 42, trial, i);
        want[i].resize(n), got[i].resize(n);
        model.jvp(v[i].data(), want[i].data());
      }
      bool ok = true;
      on_team(GetParam(), [&](const auto& team) {
        device::FlowMath<std::decay_t<decltype(team)>, double> math(team, f, cat);
        integrator::Workspace<double> w(ws.data());
        math.layout(w);
        const bool lin = math.linearize(y.data());
        for (int i = 0; i < 3; ++i) math.jvp(v[i].data(), got[i].data());
        if (team.rank() == 0) ok = lin;
      });
      ASSERT_TRUE(ok);
      for (int i = 0; i < 3; ++i) {
        EXPECT_LT((got[i] - want[i]).norm(), 1e-11 * std::max(1.0, want[i].norm())) << "direction " << i;
        // Central difference of the device flow: error O(h^2) ~ 1e-8 relative at h = 1e-4 / ||v||.
        const double h = 1e-4 / v[i].norm();
        Vec yp = y + h * v[i], ym = y - h * v[i], fp(n), fm(n);
        std::vector<double> fw(device::flow_workspace(f, 1));
        bool o1 = true, o2 = true;
        device::flow_rhs(HostTeam{}, f, yp.data(), fp.data(), fw.data(), o1, false);
        device::flow_rhs(HostTeam{}, f, ym.data(), fm.data(), fw.data(), o2, false);
        ASSERT_TRUE(o1 && o2);
        const Vec fd = (fp - fm) / (2 * h);
        EXPECT_LT((got[i] - fd).norm(), 1e-6 * std::max(1.0, fd.norm())) << "direction " << i;
      }
    }
  }
}

// The frozen Jacobian: dense (a small state) and from the range finder (a deep network whose
// state is large next to rows x cols), against the CPU backend's. Its preconditioner applied to
// random vectors equals the CPU's, and in the dense case it inverts I - hg J up to what it leaves
// out by design: the directions with |hg lambda| <= 1e-2 (kNegligible), a relative 1e-2 at most.
TEST_P(TeamSizes, TheFrozenJacobianEqualsTheCpuBackends) {
  struct Case {
    std::string name;
    Problem problem;
  };
  const Mat target = gaussian_matrix(2, 1, 43, 0, 0) * gaussian_matrix(1, 2, 43, 0, 1);
  std::vector<Case> cases;
  cases.push_back({"dense", Problem(matrix_approximation_loss(gaussian_matrix(3, 3, 43, 0, 2)), DeepFactorization{{3, 3, 3}})});
  cases.push_back({"sketched", Problem(matrix_approximation_loss(target), DeepFactorization{{2, 8, 8, 2}})});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Problem& p = c.problem;
    const Index n = p.state_size();
    const auto shape = integrator::frozen_shape(static_cast<int>(n), static_cast<int>(p.rows()), static_cast<int>(p.cols()));
    ASSERT_EQ(shape, c.name == "dense" ? integrator::FrozenShape::Dense : integrator::FrozenShape::Sketched);
    const Packed packed(p, with(Method::Rodas5P));
    const device::FlowData<double>& f = packed.f;
    const device::CatalogData<double>& cat = packed.cat;
    const Vec y = initial_state(p, GaussianInit{0.7, ScaleOn::Factors}, 44, 0);
    Model model(p);
    cpu::EigenMath cpu_math(model, nullptr);
    ASSERT_TRUE(cpu_math.linearize(y.data()));
    ASSERT_TRUE(cpu_math.refresh_preconditioner());
    const double hg = 0.7;
    const Vec r = gaussian_matrix(n, 1, 45, 0, 0);
    Vec want(n), got(n), Jz(n), forgot(n);
    cpu_math.precondition(hg, r.data(), want.data());
    std::vector<double> ws(1 << 18);
    bool ok = true;
    on_team(GetParam(), [&](const auto& team) {
      device::FlowMath<std::decay_t<decltype(team)>, double> math(team, f, cat);
      integrator::Workspace<double> w(ws.data());
      math.layout(w);
      const bool a = math.linearize(y.data()) && math.refresh_preconditioner();
      math.precondition(hg, r.data(), got.data());
      math.jvp(got.data(), Jz.data());
      math.forget_preconditioner();  // a trajectory's start: nothing frozen, the identity
      math.precondition(hg, r.data(), forgot.data());
      if (team.rank() == 0) ok = a;
    });
    ASSERT_TRUE(ok);
    EXPECT_LT((got - want).norm(), 1e-9 * want.norm());
    EXPECT_GT((got - r).norm(), 1e-3 * r.norm()) << "the preconditioner should differ from the identity here";
    EXPECT_EQ(forgot, r);
    cpu_math.forget_preconditioner();
    cpu_math.precondition(hg, r.data(), want.data());
    EXPECT_EQ(want, r);
    if (shape == integrator::FrozenShape::Dense) {
      const Vec back = got - hg * Jz;
      EXPECT_LT((back - r).norm(), 1.01e-2 * r.norm());
    }
  }
}

// The rebalancing after implicit steps (src/cpu/rebalance.hpp, kernels/device/rebalance.cuh),
// against its definition: unbalanced O(1) factors of unequal widths, pushed off their
// balancedness D_j = W_j W_j^T - W_{j+1}^T W_{j+1} by 1e-9, are moved back to D(y0) along the
// gauge orbit, and W = W_N ... W_1 does not move beyond roundoff. Each pass removes most of what
// is left (three conjugate-gradient iterations a pass); device and CPU take the same correction.
TEST_P(TeamSizes, RebalancingRestoresTheBalancednessAndKeepsW) {
  const Problem p(matrix_approximation_loss(gaussian_matrix(3, 2, 46, 0, 0)), DeepFactorization{{2, 5, 4, 6, 3}});
  const Vec y0 = initial_state(p, GaussianInit{1.0, ScaleOn::Factors}, 47, 0);
  const Vec pushed = y0 + 1e-9 * gaussian_matrix(y0.size(), 1, 48, 0, 0);
  auto defect_error = [&](const Vec& y) {
    const auto W0 = unpack_state(p, y0), W = unpack_state(p, y);
    double e = 0;
    for (std::size_t j = 0; j + 1 < W.size(); ++j)
      e += ((W[j] * W[j].transpose() - W[j + 1].transpose() * W[j + 1]) -
            (W0[j] * W0[j].transpose() - W0[j + 1].transpose() * W0[j + 1])).norm();
    return e;
  };
  Model model(p);
  const Mat W_pushed = model.end_to_end(pushed);
  const double e0 = defect_error(pushed);
  ASSERT_GT(e0, 1e-9);
  cpu::EigenMath cpu_math(model, nullptr);
  cpu_math.keep_balance(y0.data());
  Vec cpu = pushed;
  std::vector<double> errors;
  for (int pass = 0; pass < 20; ++pass) {
    cpu_math.rebalance(cpu.data());
    errors.push_back(defect_error(cpu));
    EXPECT_LT((model.end_to_end(cpu) - W_pushed).norm(), 1e-14 * W_pushed.norm()) << pass;
    if (pass > 0) EXPECT_LT(errors[pass], errors[pass - 1]) << pass;
  }
  // Measured: 3.6e-8 -> 8.6e-9 after one pass, 9.6e-14 after twenty (a factor of about 2 a pass
  // on factors this far from balanced; 10-100 near balance, where small initializations stay).
  EXPECT_LT(errors[0], 0.5 * e0);
  EXPECT_LT(errors[19], 1e-5 * e0);
  const Packed packed(p, with(Method::Rodas5P));
  Vec dev = pushed;
  std::vector<double> ws(1 << 18);
  on_team(GetParam(), [&](const auto& team) {
    device::FlowMath<std::decay_t<decltype(team)>, double> math(team, packed.f, packed.cat);
    integrator::Workspace<double> w(ws.data());
    math.layout(w);
    math.keep_balance(y0.data());
    math.rebalance(dev.data());
  });
  Vec cpu1 = pushed;
  cpu::EigenMath again(model, nullptr);
  again.keep_balance(y0.data());
  again.rebalance(cpu1.data());
  // Measured: 8.2e-16 apart, of a correction of 5.0e-9 (Jacobi against Eigen's eigenvectors).
  EXPECT_LT((dev - cpu1).norm(), 1e-5 * (cpu1 - pushed).norm());
}

// A matrix function that fails ends its trajectory as Failed, with the reason, at the time it
// happened. Forced here by a singular Sigma0 written into the packed data of a smooth BW
// problem (the Problem itself rejects one): M M^T + tau Sigma0 then has an exact zero eigenvalue.
TEST(DeviceMath, AMatrixFunctionFailureMarksTheTrajectoryFailed) {
  const Problem p(BuresWassersteinLoss{testing::spd(3, 1, 0.1), 0.1}, DeepFactorization{{3, 3}});
  SolveOptions o;
  o.integrator.method = Method::DormandPrince54;
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
