// Critical points of the rank-bounded problem for the square and Bures-Wasserstein losses,
// enumerable from one eigen/singular decomposition of the target.
#pragma once

#include <string>
#include <vector>

#include "dlnflow/problem.hpp"

namespace dlnflow {

struct CriticalPoint {
  std::string label;     // e.g. "J={1,3}" (1-based indices of the kept modes)
  std::vector<int> J;    // 0-based kept modes
  double loss = 0.0;
  Mat W;                 // a representative end-to-end matrix
};

class CriticalPointCatalog {
 public:
  // Every critical point with |J| <= max_rank (default: the problem's rank bound).
  // Square loss: W_J = (sum_{i in J} s_i p_i q_i^T) Cxx^{-1/2} from the SVD of
  //   Cyx Cxx^{-1/2} (docs/theory.md §6.1; Bah et al. Prop 29 when Y = X); needs Cxx positive
  //   definite.
  // BW loss: W_J = Omega_J (Lambda_J - tau)^{1/2} V^T for any Stiefel V (Thm 4.2 / 4.4);
  //   modes with lambda_j <= tau have no critical point and are skipped.
  // Throws InputError for other losses or when more than max_points would be listed.
  explicit CriticalPointCatalog(const Problem& problem, int max_rank = -1,
                                std::size_t max_points = 100000);

  const std::vector<CriticalPoint>& points() const { return points_; }

  // Distance from W to the nearest catalogued point and its index. For the BW loss the
  // distance is minimized over the free Stiefel factor V in closed form:
  // min_V ||W - A V^T||_F^2 = ||W||^2 + ||A||^2 - 2 ||W^T A||_*.
  std::pair<double, int> nearest(const Mat& W) const;

  // For the BW loss the points are A_J V^T with V free; these are the A_J (the GPU backend
  // measures the same distance from them).
  bool stiefel_free() const { return stiefel_free_; }
  const std::vector<Mat>& stiefel_factors() const { return factors_; }

 private:
  bool stiefel_free_ = false;
  std::vector<CriticalPoint> points_;
  std::vector<Mat> factors_;  // A = Omega_J (Lambda_J - tau)^{1/2} for the BW loss
};

}  // namespace dlnflow
