// GPU parity of the fused path: every loss x parametrization x integrator of the shared device
// cases, trajectory by trajectory against the CPU backend (float64: states, losses, recorded
// diagnostics and event times within 1e-10; step and evaluation counts equal), on warp teams
// and on block teams. Skips, saying why, where there is no CUDA build or no device.
#include <gtest/gtest.h>

#include "device_cases.hpp"
#include "dlnflow/gpu.hpp"

namespace dlnflow {
inline void PrintTo(GpuTeam t, std::ostream* os) { *os << (t == GpuTeam::Warp ? "warp" : t == GpuTeam::Block ? "block" : "auto"); }
namespace {

// A macro, so that GTEST_SKIP returns from the test itself.
#define REQUIRE_GPU()                                  \
  do {                                                 \
    std::string why_;                                  \
    if (!gpu_available(&why_)) GTEST_SKIP() << why_;   \
  } while (0)


class GpuFused : public ::testing::TestWithParam<std::tuple<int, Method, GpuTeam>> {};

// The fused path on team shape `team`, checking that it ran there.
auto on_gpu(GpuTeam team) {
  return [team](const Problem& p, const std::vector<TrajectorySpec>& specs, const SolveOptions& o) {
    GpuOptions g;
    g.team = team;
    const BatchSolution s = solve(p, specs, o, Backend::Gpu, g);
    EXPECT_EQ(s.backend, Backend::Gpu);
    EXPECT_EQ(s.gpu.team_threads, team == GpuTeam::Warp ? 32 : 128);
    return s.trajectories;
  };
}

TEST_P(GpuFused, EqualsTheCpuBackendTrajectoryByTrajectory) {
  REQUIRE_GPU();
  const testing::DeviceCase c = testing::device_cases()[std::get<0>(GetParam())];
  // 37 trajectories: a partial last block.
  testing::run_against_cpu(c, std::get<1>(GetParam()), 37, on_gpu(std::get<2>(GetParam())),
                           [](const TrajectoryResult& gpu, const TrajectoryResult& cpu, const std::string& what) {
                             testing::expect_same_trajectory(gpu, cpu, 1e-10, what);
                           });
}

INSTANTIATE_TEST_SUITE_P(AllCases, GpuFused,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(testing::device_cases().size())),
                                            ::testing::Values(Method::Euler, Method::RK4, Method::DormandPrince54),
                                            ::testing::Values(GpuTeam::Warp, GpuTeam::Block)),
                         [](const auto& info) {
                           return testing::device_cases()[std::get<0>(info.param)].name + "_" +
                                  to_string(std::get<1>(info.param)) + "_" +
                                  (std::get<2>(info.param) == GpuTeam::Warp ? "warp" : "block");
                         });

// The implicit methods on the fused path (the device math's Jacobian-vector products and frozen
// Jacobian) against the CPU, as the host-run DeviceDriverImplicit test does: results to 1e-10,
// the work within a few percent (device_cases.hpp says why not equal).
class GpuFusedImplicit : public ::testing::TestWithParam<std::tuple<int, Method, GpuTeam>> {};

TEST_P(GpuFusedImplicit, EqualsTheCpuBackendTrajectoryByTrajectory) {
  REQUIRE_GPU();
  const testing::DeviceCase c = testing::implicit_device_cases()[std::get<0>(GetParam())];
  testing::run_against_cpu(c, std::get<1>(GetParam()), 37, on_gpu(std::get<2>(GetParam())),
                           [](const TrajectoryResult& gpu, const TrajectoryResult& cpu, const std::string& what) {
                             testing::expect_same_implicit_run(gpu, cpu, 1e-10, what);
                           });
}

INSTANTIATE_TEST_SUITE_P(AllCases, GpuFusedImplicit,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(testing::implicit_device_cases().size())),
                                            ::testing::Values(Method::Rodas5P, Method::Auto),
                                            ::testing::Values(GpuTeam::Warp, GpuTeam::Block)),
                         [](const auto& info) {
                           return testing::implicit_device_cases()[std::get<0>(info.param)].name + "_" +
                                  to_string(std::get<1>(info.param)) + "_" +
                                  (std::get<2>(info.param) == GpuTeam::Warp ? "warp" : "block");
                         });

// The batched cuBLAS/cuSOLVER path on what it covers (deep factorization; square loss with and
// without a centred form, smooth BW with syevjBatched and, at d = 40, XsyevBatched; Euler and
// RK4 and the adaptive pair with a step size per trajectory), against the CPU: final states,
// losses, statuses, step, rejection and evaluation counts; a diverging member frozen as on the CPU.
TEST(GpuBatched, EqualsTheCpuBackendTrajectoryByTrajectory) {
  REQUIRE_GPU();
  const auto cases = testing::device_cases();
  std::vector<testing::DeviceCase> chosen{cases[0], cases[1], cases[2]};
  chosen.push_back({"deep_bw_smooth_d40", std::make_shared<Problem>(BuresWassersteinLoss{testing::spd(40, 9, 0.2), 0.05},
                                                                    DeepFactorization{{40, 40, 40}}),
                    GaussianInit{0.3, ScaleOn::Factors}, 0.5, false});
  for (const auto& c : chosen)
    for (Method m : {Method::Euler, Method::RK4, Method::DormandPrince54}) {
      const SolveOptions o = testing::device_case_plain_options(c, m);
      std::vector<TrajectorySpec> specs;
      for (int b = 0; b < 33; ++b) specs.push_back({c.init, 5, static_cast<std::uint64_t>(b)});
      specs.push_back({GaussianInit{40.0, ScaleOn::Factors}, 5, 99});  // diverges
      GpuOptions g;
      g.path = GpuPath::Batched;
      const BatchSolution on_gpu = solve(*c.problem, specs, o, Backend::Gpu, g);
      const auto& gpu = on_gpu.trajectories;
      EXPECT_EQ(on_gpu.gpu.path, "batched");
      const auto cpu = solve(*c.problem, specs, o, Backend::Cpu).trajectories;
      for (std::size_t b = 0; b < cpu.size(); ++b)
        testing::expect_same_trajectory(gpu[b], cpu[b], 1e-10, c.name + " batched #" + std::to_string(b));
      EXPECT_EQ(cpu.back().status, Status::Diverged);
    }
}

// Auto picks the fused path while its workspace fits shared memory and the batched one beyond.
TEST(GpuBatched, AutoChoosesByWorkspaceSize) {
  REQUIRE_GPU();
  SolveOptions o;
  o.integrator.method = Method::DormandPrince54;  // the batched path has no implicit method
  o.integrator.dt = 1e-3;
  o.stop.t_final = 0.01;
  GpuOptions automatic;
  const Problem p8(matrix_approximation_loss(gaussian_matrix(8, 8, 1, 0, 0)), DeepFactorization{{8, 8, 8, 8}});
  EXPECT_EQ(solve(p8, {{GaussianInit{0.5}, 1, 0}}, o, Backend::Gpu, automatic).gpu.path, "fused");
  const Problem p64(matrix_approximation_loss(gaussian_matrix(64, 64, 1, 0, 0)), DeepFactorization{{64, 64, 64, 64, 64}});
  EXPECT_EQ(solve(p64, {{GaussianInit{0.5}, 1, 0}}, o, Backend::Gpu, automatic).gpu.path, "batched");
}

// Without a device Backend::Gpu refuses with a message that says why, instead of failing later,
// and Backend::Auto runs on the CPU and says the same reason.
TEST(GpuBackend, SaysWhyItCannotRun) {
  std::string why;
  if (gpu_available(&why)) GTEST_SKIP() << "a GPU is present; the refusal path is not reachable";
  const auto c = testing::device_cases().front();
  try {
    solve(*c.problem, {{c.init, 1, 0}}, SolveOptions{}, Backend::Gpu);
    FAIL() << "expected GpuError";
  } catch (const GpuError& e) {
    EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
  }
  const BatchSolution automatic = solve(*c.problem, {{c.init, 1, 0}}, SolveOptions{});
  EXPECT_EQ(automatic.backend, Backend::Cpu);
  EXPECT_NE(automatic.reason.find(why), std::string::npos) << automatic.reason;
  const BatchSolution on_cpu = solve(*c.problem, {{c.init, 1, 0}}, SolveOptions{}, Backend::Cpu);
  EXPECT_EQ(on_cpu.reason, "requested");
  // Whichever backend ran, the same trajectory: Auto fell back to the very CPU computation.
  ASSERT_EQ(automatic.trajectories.size(), 1u);
  testing::expect_same_trajectory(automatic.trajectories[0], on_cpu.trajectories[0], 0.0, "auto vs cpu");
}

}  // namespace
}  // namespace dlnflow
