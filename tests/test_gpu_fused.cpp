// GPU parity of the fused path: trajectory by trajectory against the CPU backend (float64,
// relative difference <= 1e-10 on states and losses). Skips with the reason without a device.
#include <gtest/gtest.h>

#include "dlnflow/cuda_probe.hpp"
#include "dlnflow/dlnflow.hpp"
#include "dlnflow/gpu.hpp"

namespace dlnflow {
namespace {

TEST(GpuFused, DeepSquareRk4MatchesTheCpuTrajectoryByTrajectory) {
  if (!cuda_compiled()) GTEST_SKIP() << "dlnflow was built without CUDA (no nvcc or DLNFLOW_CUDA=OFF)";
  std::string why;
  if (cuda_device_count(&why) == 0) GTEST_SKIP() << "no CUDA device: " << why;
  const std::vector<int> widths{6, 5, 4, 6};
  const Mat X = gaussian_matrix(6, 40, 1, 0, 0), Y = gaussian_matrix(6, 40, 1, 0, 1);
  const Problem problem(regression_loss(X, Y), DeepFactorization{widths});
  SolveOptions opt;
  opt.integrator.method = Method::RK4;
  opt.integrator.dt = 1e-3;
  opt.stop.t_final = 0.2;  // 200 steps
  std::vector<Vec> y0;
  for (int b = 0; b < 64; ++b) y0.push_back(initial_state(problem, GaussianInit{0.3, ScaleOn::Factors}, 7, b));
  const FusedRunResult gpu = fused_deep_square_rk4(problem, y0, 1e-3, 200);
  ASSERT_EQ(gpu.final_states.size(), y0.size());
  Model model(problem);
  for (std::size_t b = 0; b < y0.size(); ++b) {
    const TrajectoryResult cpu = integrate(problem, y0[b], opt);
    ASSERT_EQ(cpu.steps, 200);
    EXPECT_LE((gpu.final_states[b] - cpu.final_state).norm(), 1e-10 * cpu.final_state.norm()) << b;
    const double L = model.state_loss(cpu.final_state);
    EXPECT_LE(std::abs(gpu.final_loss[b] - L), 1e-10 * L) << b;
  }
}

}  // namespace
}  // namespace dlnflow
