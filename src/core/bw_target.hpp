// The quantities of a Bures-Wasserstein target that every evaluation of the loss needs, computed
// once when the Problem is built (docs/theory.md, Bures-Wasserstein loss).
#pragma once

#include "dlnflow/types.hpp"

namespace dlnflow {

struct BwTarget {
  Mat sigma0;
  Mat sqrt_sigma0;
  Vec lambda;   // eigenvalues of Sigma0, decreasing
  Mat omega;    // matching orthonormal eigenvectors (columns)
  double trace = 0.0;
  double tau = 0.0;
};

}  // namespace dlnflow
