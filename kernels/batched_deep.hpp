// The batched path: the state of a whole batch as strided device arrays, each product of the
// deep-factorization flow one cuBLAS strided-batched GEMM over all trajectories, the smooth
// BW loss's inverse square roots from cuSOLVER batched eigensolvers (syevjBatched for n <= 32,
// XsyevBatched above), one fixed step captured as a CUDA Graph and replayed, the adaptive pair
// with a step size per trajectory and per-trajectory masks. For sizes whose fused workspace no
// longer fits shared memory. Covers the deep factorization with the square or smooth (tau > 0)
// BW loss, Euler, RK4 and Dormand-Prince 5(4), without a recording grid, events or early stops;
// the fused path covers everything else.
#pragma once

#include <string>
#include <vector>

#include "fused_driver.hpp"

namespace dlnflow::kernels {

struct BatchedLaunch {
  const PackedRun* run = nullptr;
  std::size_t batch = 0;
  const double* y0 = nullptr;       // batch x state, host
  double* out = nullptr;            // batch x output_stride, host (same layout as the fused path)
  std::vector<double> steps;        // fixed steps: the sizes, in order (the CPU clock's sequence)
};

// Runs the batch; returns like launch_fused. Throws GpuError naming the call that failed.
LaunchReport launch_batched(const BatchedLaunch& launch);

}  // namespace dlnflow::kernels
