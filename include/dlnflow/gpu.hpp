// The CUDA backend's fused path, as far as it is built: one thread block per trajectory, the
// whole state in shared memory, every RK4 step of the run in one launch. So far it covers the
// deep factorization with a square loss (positive definite Cxx) and fixed-step RK4.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dlnflow/gpu_error.hpp"
#include "dlnflow/problem.hpp"

namespace dlnflow {

struct FusedRunResult {
  std::vector<Vec> final_states;
  std::vector<double> final_loss;
  double kernel_ms = 0.0;  // device time of the integration kernel (CUDA events)
};

// Integrates `steps` RK4 steps of size dt from every initial state. Throws GpuError naming the
// CUDA call that failed, when no device exists, or when the problem is not yet supported.
FusedRunResult fused_deep_square_rk4(const Problem& problem, const std::vector<Vec>& initial_states, double dt,
                                     std::int64_t steps);

}  // namespace dlnflow
