// Built instead of kernels/toolchain_probe.cu when CUDA is off or nvcc is absent.
#include "dlnflow/cuda_probe.hpp"
#include "../../kernels/fused_deep_square.hpp"
#include "dlnflow/gpu_error.hpp"

namespace dlnflow {

bool cuda_compiled() { return false; }

int cuda_device_count(std::string* why) {
  if (why) *why = "dlnflow was built without CUDA (DLNFLOW_CUDA=OFF or no nvcc found)";
  return 0;
}

bool cuda_axpy(int, double, const double*, double*, std::string* why) {
  if (why) *why = "dlnflow was built without CUDA";
  return false;
}

namespace kernels {
double launch_fused_deep_square_rk4(const FusedDeepSquareArgs&) { throw GpuError("dlnflow was built without CUDA"); }
}  // namespace kernels

}  // namespace dlnflow
