// The CUDA backend's batch: what solve() runs for Backend::Gpu, and the fused path's driver run
// on the host for the tests.
#pragma once

#include <vector>

#include "dlnflow/solve.hpp"

namespace dlnflow::gpu {

// Initial states are drawn on the host from the CPU's Philox streams; options are validated by
// the caller (solve()). Throws GpuError when there is no device, a CUDA call fails, or the
// problem is beyond the path asked for.
std::vector<TrajectoryResult> solve_batch(const Problem& problem, const std::vector<TrajectorySpec>& batch,
                                          const SolveOptions& options, const GpuOptions& gpu = {},
                                          const TrajectoryDone& on_done = {}, GpuRunInfo* info = nullptr);

// The fused path's driver run on the host, one team of `team_threads` std::threads per
// trajectory: the device arithmetic, barriers and output layout without a GPU. Slow; for the
// tests, which hold it against the CPU backend.
std::vector<TrajectoryResult> solve_batch_emulated(const Problem& problem, const std::vector<TrajectorySpec>& batch,
                                                   const SolveOptions& options, int team_threads = 1);

}  // namespace dlnflow::gpu
