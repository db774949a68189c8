// The CUDA backend: the same integrate_batch as the CPU backend, run on an NVIDIA GPU.
// Fused path: one team of threads per trajectory runs every step, the recording and the events
// in one launch (kernels/fused_driver.cu); its arithmetic is kernels/device/, which the host
// tests run on the CPU. Batched path: cuBLAS/cuSOLVER over strided batches
// (kernels/batched_deep.hpp), chosen by `auto` where the fused workspace outgrows shared memory.
#pragma once

#include <string>

#include "dlnflow/gpu_error.hpp"
#include "dlnflow/solve.hpp"

namespace dlnflow {

enum class GpuPath { Auto, Fused, Batched };
enum class GpuTeam { Auto, Warp, Block };  // fused path: threads per trajectory (32 or 128)

struct GpuOptions {
  GpuPath path = GpuPath::Auto;
  GpuTeam team = GpuTeam::Auto;
};

// What ran, for the manifest and the benchmark.
struct GpuRunInfo {
  std::string device;
  std::string path;            // "fused" or "batched"
  double kernel_ms = 0.0;      // device time of the integration kernels
  int launches = 0;            // the batch is split when it does not fit device memory
  int team_threads = 0;        // fused: threads per trajectory
  bool shared_workspace = false;
  std::size_t workspace_bytes = 0;  // fused: per trajectory
};

// Same contract as integrate_batch (results in the order of specs, a trajectory whose matrix
// function fails is marked Failed, the rest go on), with initial states drawn on the host from
// the same Philox streams. on_done is called from the calling thread after the batch returns.
// Throws GpuError when there is no device, a CUDA call fails, or the problem is beyond the GPU
// backend (the message says which and why).
std::vector<TrajectoryResult> integrate_batch_gpu(const Problem& problem, const std::vector<TrajectorySpec>& specs,
                                                  const SolveOptions& options, const GpuOptions& gpu = {},
                                                  const TrajectoryDone& on_done = {}, GpuRunInfo* info = nullptr);

// The fused path's driver run on the host, one team of `team_threads` std::threads per
// trajectory: the device arithmetic, barriers and output layout without a GPU. For tests and
// for checking a problem's device results where no GPU exists; slow.
std::vector<TrajectoryResult> integrate_batch_device_emulation(const Problem& problem,
                                                               const std::vector<TrajectorySpec>& specs,
                                                               const SolveOptions& options, int team_threads = 1);

// Whether the GPU backend covers this problem and these options on `path` (fused: depth <= 64,
// at most 16 events; batched: see kernels/batched_deep.hpp); the reason in *why when not.
bool gpu_supports(const Problem& problem, const SolveOptions& options, std::string* why = nullptr,
                  GpuPath path = GpuPath::Auto);

// Whether this build has a CUDA backend and a usable device (with the reason when not).
bool gpu_available(std::string* why = nullptr);

}  // namespace dlnflow
