// The CUDA backend's options and what it reports; solve() (solve.hpp) runs a batch on it.
// Fused path: one team of threads per trajectory runs every step, the recording and the events
// in one launch; batched path: cuBLAS/cuSOLVER over strided batches of deep factorizations, chosen
// by GpuPath::Auto where the fused workspace outgrows shared memory (docs/gpu.md).
#pragma once

#include <cstddef>
#include <string>

namespace dlnflow {

class Problem;
struct SolveOptions;

enum class GpuPath { Auto, Fused, Batched };
enum class GpuTeam { Auto, Warp, Block };  // fused path: threads per trajectory (32 or 128)
const char* to_string(GpuPath path);  // "auto", "fused", "batched" (the command's --gpu-path)
const char* to_string(GpuTeam team);  // "auto", "warp", "block"

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

// Whether the GPU backend covers this problem and these options on `path` (fused: depth <= 64;
// batched: deep factorizations without events or a catalog, see docs/gpu.md); the reason in
// *why when not.
bool gpu_supports(const Problem& problem, const SolveOptions& options, std::string* why = nullptr,
                  GpuPath path = GpuPath::Auto);

// Whether this build has a CUDA backend and a usable device (with the reason when not).
bool gpu_available(std::string* why = nullptr);

}  // namespace dlnflow
