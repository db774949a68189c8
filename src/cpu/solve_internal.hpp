// Pieces of the CPU driver shared between single-trajectory and batch entry points.
#pragma once

#include "dlnflow/model.hpp"
#include "dlnflow/solve.hpp"

namespace dlnflow {

void validate_options(const Problem& problem, const SolveOptions& options);

namespace cpu {
TrajectoryResult run_trajectory(Model& model, const Vec& y0, const SolveOptions& options);
}

}  // namespace dlnflow
