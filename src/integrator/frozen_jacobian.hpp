// The shape of the frozen Jacobian that preconditions an implicit step's linear solves
// (rosenbrock.hpp), decided here once so that both backends freeze the same thing: the CPU
// (src/cpu/eigen_math.cpp) and the device math (kernels/device/frozen_jacobian.cuh).
//
// The flow's Jacobian is minus the Hessian of the loss in the factors: symmetric, so it is kept
// as its eigendecomposition J = Q diag(lambda) Q^T, which inverts I - h gamma J for every step
// size. It is D^T H D plus terms of the size of the gradient, with D the derivative of the
// end-to-end product (rows x cols outputs): its large eigenvalues, the ones that make the flow
// stiff, live in a subspace of dimension at most rows * cols, and a deep network's other
// directions (the rescalings between factors) are nearly flat. Where that subspace is small next
// to the state, a randomized range finder with one power step (Halko, Martinsson & Tropp 2011,
// Algorithm 4.3 with q = 1) finds it from 3k products instead of the n a dense Jacobian needs,
// and the eigenproblem shrinks to k x k; the directions it misses are left to the Krylov solver.
#pragma once

#include <cstdint>

#include "team.hpp"

namespace dlnflow::integrator {

// Above this many state entries nothing is frozen: GCR runs unpreconditioned.
constexpr int kMaxFrozenState = 2048;
// Columns of the range finder beyond rows * cols (oversampling).
constexpr int kSketchOversampling = 16;
// The Philox key of the range finder's Gaussian start (a fixed one: a run depends on its input
// only), drawn on the host by frozen_jacobian_sketch (src/core/sketch.hpp).
constexpr std::uint64_t kSketchSeed = 0x5eed5eedULL;

enum class FrozenShape { None, Dense, Sketched };

DLNFLOW_HD inline FrozenShape frozen_shape(int n, int rows, int cols) {
  if (n > kMaxFrozenState) return FrozenShape::None;
  const int k = rows * cols + kSketchOversampling;
  return 2 * k < n ? FrozenShape::Sketched : FrozenShape::Dense;
}

// Columns of the range finder (Sketched), or of the dense Jacobian (n).
DLNFLOW_HD inline int frozen_columns(int n, int rows, int cols) {
  switch (frozen_shape(n, rows, cols)) {
    case FrozenShape::None: return 0;
    case FrozenShape::Dense: return n;
    case FrozenShape::Sketched: return rows * cols + kSketchOversampling;
  }
  return 0;
}

}  // namespace dlnflow::integrator
