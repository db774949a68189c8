// A Problem and its SolveOptions in the fused kernel's plain layout (the way back from an output
// block is core::unpack_result, as for every backend).
#pragma once

#include "../../kernels/fused_driver.hpp"
#include "dlnflow/solve.hpp"

namespace dlnflow::gpu {

// Throws GpuError for what the device driver does not cover (depth > 64).
kernels::PackedRun pack_run(const Problem& problem, const SolveOptions& options);

// Runs the device driver on the host for `batch` initial states (batch x state entries), one team
// of `members` std::threads per trajectory, and returns the output blocks (batch x
// run.output_stride()). What the kernel computes, without a GPU.
std::vector<double> emulate(const kernels::PackedRun& run, const double* y0, std::size_t batch, int members);

// Why the batched path cannot run this problem with these options ("" when it can): it covers
// the deep factorization with the square or smooth (tau > 0) BW loss, Euler, RK4 and the
// adaptive pair, and no
// recording grid, events, catalogue or early stop rules.
std::string batched_unsupported(const kernels::PackedRun& run);

// The fixed step sizes the CPU driver takes to reach t_final (its Kahan clock, the shorter last step).
std::vector<double> fixed_steps(double dt, double t_final);

}  // namespace dlnflow::gpu
