// The benchmark problems shared by the CPU and GPU throughput programs: a deep factorization
// with all widths d, the square loss on a Gaussian target or the smooth BW loss (tau = 0.1) on
// a random covariance, and factors of unit scale (entries N(0, 1/d)), which stay bounded.
#pragma once

#include <cmath>

#include "dlnflow/dlnflow.hpp"

namespace dlnflow::bench {

inline Problem make_problem(bool bw, int d, int N) {
  const std::vector<int> widths(N + 1, d);
  if (bw) {
    const Mat A = gaussian_matrix(d, d, 1, 0, 0);
    return Problem(BuresWassersteinLoss{A * A.transpose() / d + 0.1 * Mat::Identity(d, d), 0.1},
                   DeepFactorization{widths});
  }
  return Problem(matrix_approximation_loss(gaussian_matrix(d, d, 1, 0, 1)), DeepFactorization{widths});
}

inline InitSpec unit_scale_init(int d) { return GaussianInit{1.0 / std::sqrt(d), ScaleOn::Factors}; }

// Exactly `steps` RK4 steps of dt, no trajectory stopping early (the rates count every step).
inline SolveOptions rk4_steps(double dt, int steps) {
  SolveOptions o;
  o.integrator.method = Method::RK4;
  o.integrator.dt = dt;
  o.stop.t_final = steps * dt;
  o.integrator.max_steps = steps + 10;
  o.stop.blowup_norm = 1e300;
  return o;
}

}  // namespace dlnflow::bench
