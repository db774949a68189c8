// The smallest CUDA translation unit that proves nvcc compiles, links and (where a GPU
// exists) runs device code inside the dlnflow library. The CUDA backend grows from here.
#include <cuda_runtime.h>

#include "cuda_handles.hpp"
#include "dlnflow/cuda_probe.hpp"
#include "toolchain_probe.hpp"

namespace dlnflow {
namespace {

__global__ void axpy_kernel(int n, double a, const double* x, double* y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

}  // namespace

bool cuda_compiled() { return true; }

int cuda_device_count(std::string* why) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    if (why) *why = cudaGetErrorString(err);
    return 0;
  }
  return count;
}

std::string cuda_device_name() {
  cudaDeviceProp prop{};
  int device = 0;
  if (cuda_device_count() == 0 || cudaGetDevice(&device) != cudaSuccess || cudaGetDeviceProperties(&prop, device) != cudaSuccess)
    return "";
  return prop.name;
}

bool cuda_set_device(int index, std::string* why) {
  const cudaError_t err = cudaSetDevice(index);
  if (err != cudaSuccess && why) *why = cudaGetErrorString(err);
  return err == cudaSuccess;
}

bool kernels::cuda_axpy(int n, double a, const double* x, double* y, std::string* why) {
  try {
    const size_t bytes = sizeof(double) * static_cast<size_t>(n);
    DeviceBuffer<double> dx(n), dy(n);
    DLNFLOW_CUDA_CHECK(cudaMemcpy(dx.p, x, bytes, cudaMemcpyHostToDevice));
    DLNFLOW_CUDA_CHECK(cudaMemcpy(dy.p, y, bytes, cudaMemcpyHostToDevice));
    axpy_kernel<<<(n + 255) / 256, 256>>>(n, a, dx.p, dy.p);
    DLNFLOW_CUDA_CHECK(cudaGetLastError());
    DLNFLOW_CUDA_CHECK(cudaMemcpy(y, dy.p, bytes, cudaMemcpyDeviceToHost));
    return true;
  } catch (const GpuError& e) {
    if (why) *why = e.what();
    return false;
  }
}

}  // namespace dlnflow
