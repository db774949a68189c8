// The CPU backend's batch: what solve() runs for Backend::Cpu.
#pragma once

#include <vector>

#include "dlnflow/solve.hpp"

namespace dlnflow::cpu {

// options are validated by the caller (solve()).
std::vector<TrajectoryResult> solve_batch(const Problem& problem, const std::vector<TrajectorySpec>& batch,
                                          const SolveOptions& options, const TrajectoryDone& on_done = {});

}  // namespace dlnflow::cpu
