// solve(): the one entry point for a batch. It validates, chooses the backend (and says why), and
// hands the batch to the backend that runs it; the backends own only their linear algebra and
// launch, the trajectory driver is the same on both (src/integrator/driver.hpp).
#include "../cpu/batch.hpp"
#include "../gpu/batch.hpp"
#include "dlnflow/cuda_probe.hpp"
#include "dlnflow/gpu_error.hpp"
#include "dlnflow/solve.hpp"

namespace dlnflow {

const char* to_string(Backend b) { return b == Backend::Cpu ? "cpu" : b == Backend::Gpu ? "gpu" : "auto"; }

namespace {

// The backend that runs and why; Backend::Gpu that cannot run throws GpuError with the reason.
std::pair<Backend, std::string> choose(const Problem& problem, const SolveOptions& options, Backend asked,
                                       const GpuOptions& gpu) {
  if (asked == Backend::Cpu) return {Backend::Cpu, "requested"};
  std::string why;
  const bool usable = gpu_available(&why);
  if (usable && gpu_supports(problem, options, &why, gpu.path))
    return {Backend::Gpu, asked == Backend::Gpu ? "requested" : "a usable GPU (" + cuda_device_name() + ") covers the problem"};
  if (asked == Backend::Gpu) throw GpuError(usable ? "the GPU backend cannot run this problem: " + why : "no usable GPU: " + why);
  return {Backend::Cpu, usable ? "the GPU backend does not cover the problem: " + why : "no usable GPU: " + why};
}

}  // namespace

BatchSolution solve(const Problem& problem, const std::vector<TrajectorySpec>& batch, const SolveOptions& options,
                    Backend backend, const GpuOptions& gpu, const TrajectoryDone& on_done) {
  validate(problem, options);
  BatchSolution s;
  std::tie(s.backend, s.reason) = choose(problem, options, backend, gpu);
  s.trajectories = s.backend == Backend::Gpu ? gpu::solve_batch(problem, batch, options, gpu, on_done, &s.gpu)
                                             : cpu::solve_batch(problem, batch, options, on_done);
  return s;
}

}  // namespace dlnflow
