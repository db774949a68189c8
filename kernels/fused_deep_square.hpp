// Launcher of the fused deep-factorization square-loss RK4 kernel, in plain types so that host
// code (src/gpu/) prepares the data with Eigen and nvcc never sees Eigen.
#pragma once

#include <cstdint>
#include <string>

namespace dlnflow::kernels {

struct FusedDeepSquareArgs {
  int depth = 0;
  const int* widths = nullptr;  // depth + 1 entries, input first
  int state_size = 0;
  int rows = 0, cols = 0;
  const double* cxx = nullptr;    // cols x cols, column-major
  const double* w_opt = nullptr;  // rows x cols, W* = Cyx Cxx^{-1}
  double l_opt = 0.0;
  int batch = 0;
  const double* y0 = nullptr;     // batch x state_size, host
  double dt = 0.0;
  std::int64_t steps = 0;
  double* y_out = nullptr;        // batch x state_size, host
  double* loss_out = nullptr;     // batch, host
};

// Runs the kernel; returns the device milliseconds. Throws GpuError naming the failed call.
double launch_fused_deep_square_rk4(const FusedDeepSquareArgs& args);

}  // namespace dlnflow::kernels
