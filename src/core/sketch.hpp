// The range finder's Gaussian start for a frozen Jacobian (src/integrator/frozen_jacobian.hpp),
// the same matrix for the CPU backend and the device math (packed by src/gpu/pack.cpp), so that
// both freeze the same preconditioner.
#pragma once

#include "dlnflow/init.hpp"
#include "integrator/frozen_jacobian.hpp"

namespace dlnflow {

inline Mat frozen_jacobian_sketch(Index n, Index k) {
  return gaussian_matrix(n, k, integrator::kSketchSeed, 0, 0);
}

}  // namespace dlnflow
