// Built instead of kernels/*.cu when CUDA is off or nvcc is absent.
#include "../../kernels/batched_deep.hpp"
#include "../../kernels/fused_driver.hpp"
#include "dlnflow/cuda_probe.hpp"
#include "dlnflow/gpu_error.hpp"

namespace dlnflow {

bool cuda_compiled() { return false; }

int cuda_device_count(std::string* why) {
  if (why) *why = "dlnflow was built without CUDA (DLNFLOW_CUDA=OFF or no nvcc found)";
  return 0;
}

std::string cuda_device_name() { return ""; }

bool cuda_set_device(int, std::string* why) {
  if (why) *why = "dlnflow was built without CUDA";
  return false;
}

bool cuda_axpy(int, double, const double*, double*, std::string* why) {
  if (why) *why = "dlnflow was built without CUDA";
  return false;
}

namespace kernels {
LaunchReport launch_fused(const FusedLaunch&) { throw GpuError("dlnflow was built without CUDA"); }
LaunchReport launch_batched(const BatchedLaunch&) { throw GpuError("dlnflow was built without CUDA"); }
std::size_t shared_memory_limit() { return 0; }
}  // namespace kernels

}  // namespace dlnflow
