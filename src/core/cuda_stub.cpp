// The CPU-only library (target dlnflow) is built with these instead of kernels/*.cu: a CPU-only
// program links no CUDA library, and the GPU backend says why it cannot run.
#include "../../kernels/batched_deep.hpp"
#include "../../kernels/cuda_libraries.hpp"
#include "../../kernels/fused_driver.hpp"
#include "../../kernels/toolchain_probe.hpp"
#include "dlnflow/cuda_probe.hpp"
#include "dlnflow/gpu_error.hpp"

namespace dlnflow {

bool cuda_compiled() { return false; }

int cuda_device_count(std::string* why) {
  if (why) *why = "this dlnflow library has no CUDA backend (the CPU-only library dlnflow::dlnflow, or a build without nvcc)";
  return 0;
}

std::string cuda_device_name() { return ""; }

bool cuda_set_device(int, std::string* why) {
  if (why) *why = "this dlnflow library has no CUDA backend";
  return false;
}

namespace kernels {
bool cuda_axpy(int, double, const double*, double*, std::string* why) {
  if (why) *why = "this dlnflow library has no CUDA backend";
  return false;
}
LaunchReport launch_fused(const FusedLaunch&) { throw GpuError("this dlnflow library has no CUDA backend"); }
LaunchReport launch_batched(const BatchedLaunch&) { throw GpuError("this dlnflow library has no CUDA backend"); }
std::size_t shared_memory_limit() { return 0; }
std::vector<std::string> cuda_library_sonames() { return {}; }
int resolve_cuda_libraries() { return 0; }
}  // namespace kernels

}  // namespace dlnflow
