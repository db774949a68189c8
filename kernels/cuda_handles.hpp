// The CUDA host code's one error check and its owners of device resources (buffers, events,
// streams, library handles, graphs). Every CUDA, cuBLAS and cuSOLVER call of kernels/*.cu goes
// through DLNFLOW_CUDA_CHECK, which throws GpuError naming the call, its file:line and the
// library's message; every resource is released by its owner's destructor, so an exception
// anywhere in a launch frees what the launch had taken.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <cstddef>
#include <string>
#include <utility>

#include "dlnflow/gpu_error.hpp"

namespace dlnflow::kernels {

inline std::string where(const char* call, const char* file, int line) {
  return std::string(call) + " failed (" + file + ":" + std::to_string(line) + "): ";
}
inline void cuda_check(cudaError_t e, const char* call, const char* file, int line) {
  if (e != cudaSuccess) throw GpuError(where(call, file, line) + cudaGetErrorString(e));
}
inline void cuda_check(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS) throw GpuError(where(call, file, line) + cublasGetStatusString(s));
}
inline void cuda_check(cusolverStatus_t s, const char* call, const char* file, int line) {
  if (s != CUSOLVER_STATUS_SUCCESS) throw GpuError(where(call, file, line) + "cuSOLVER status " + std::to_string(s));
}
#define DLNFLOW_CUDA_CHECK(call) ::dlnflow::kernels::cuda_check((call), #call, __FILE__, __LINE__)

// An owner of one handle: Destroy releases it (errors on release are ignored: the destructor
// may run while an exception propagates, and nothing can be done about them there).
template <class H, auto Destroy>
class Handle {
 public:
  Handle() = default;
  ~Handle() { reset(); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : h_(std::exchange(o.h_, H{})) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) reset(), h_ = std::exchange(o.h_, H{});
    return *this;
  }
  H get() const { return h_; }
  H* out() { return reset(), &h_; }  // for the create call that fills it
  explicit operator bool() const { return h_ != H{}; }
  void reset() {
    if (h_ != H{}) Destroy(h_);
    h_ = H{};
  }

 private:
  H h_{};
};

using Event = Handle<cudaEvent_t, cudaEventDestroy>;
using Stream = Handle<cudaStream_t, cudaStreamDestroy>;
using Graph = Handle<cudaGraph_t, cudaGraphDestroy>;
using GraphExec = Handle<cudaGraphExec_t, cudaGraphExecDestroy>;
using Cublas = Handle<cublasHandle_t, cublasDestroy>;
using Cusolver = Handle<cusolverDnHandle_t, cusolverDnDestroy>;
using SyevjInfo = Handle<syevjInfo_t, cusolverDnDestroySyevjInfo>;
using SolverParams = Handle<cusolverDnParams_t, cusolverDnDestroyParams>;

inline Event make_event() {
  Event e;
  DLNFLOW_CUDA_CHECK(cudaEventCreate(e.out()));
  return e;
}

// Device time of work launched on the default stream, between two events it owns.
class DeviceTimer {
 public:
  DeviceTimer() : start_(make_event()), stop_(make_event()) {}
  template <class Work>
  float milliseconds(Work&& work) {
    DLNFLOW_CUDA_CHECK(cudaEventRecord(start_.get()));
    work();
    DLNFLOW_CUDA_CHECK(cudaEventRecord(stop_.get()));
    DLNFLOW_CUDA_CHECK(cudaEventSynchronize(stop_.get()));
    float ms = 0;
    DLNFLOW_CUDA_CHECK(cudaEventElapsedTime(&ms, start_.get(), stop_.get()));
    return ms;
  }

 private:
  Event start_, stop_;
};

// The calling thread's current device (an MPI rank selects its own: cuda_set_device) and its
// properties; GpuError when there is none.
inline cudaDeviceProp current_device_properties() {
  int count = 0, device = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) throw GpuError("no CUDA device is available");
  DLNFLOW_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  DLNFLOW_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return prop;
}

// n elements of T in device memory (none for n = 0).
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) { reset(n); }
  ~DeviceBuffer() { cudaFree(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void reset(std::size_t n) {
    cudaFree(p);
    p = nullptr;
    if (n) DLNFLOW_CUDA_CHECK(cudaMalloc(&p, n * sizeof(T)));
  }
  T* p = nullptr;
};

}  // namespace dlnflow::kernels
