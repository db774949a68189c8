// The CPU backend's runner of one trajectory on the shared driver, reused across the trajectories
// a thread integrates (its workspace and output block are allocated once).
#pragma once

#include <Eigen/Core>
#include <vector>

#include "../core/driver_io.hpp"
#include "model.hpp"
#include "dlnflow/solve.hpp"
#include "eigen_math.hpp"

namespace dlnflow {


namespace cpu {

class Runner {
 public:
  Runner(Model& model, const SolveOptions& options, const CriticalPointCatalog* catalog);
  TrajectoryResult run(const Vec& y0);

 private:
  using Driver = integrator::Driver<integrator::HostTeam, double, EigenMath>;
  // Arrays aligned as Eigen aligns its own vectors, so that Eigen's vectorized reductions over
  // them (norms, sums) add in the same order as over a Vec.
  static constexpr int kAlign = EIGEN_MAX_ALIGN_BYTES > 8 ? EIGEN_MAX_ALIGN_BYTES / 8 : 1;
  using Aligned = std::vector<double, Eigen::aligned_allocator<double>>;

  Model& model_;
  const SolveOptions& options_;
  core::DriverOptions driver_;
  EigenMath math_;
  OutputLayout layout_;
  Aligned work_, out_;
};

}  // namespace cpu

}  // namespace dlnflow
