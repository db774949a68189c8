// Fused RK4 for the deep factorization with a square loss: one block per trajectory, state,
// stages and products in shared memory, all steps in one launch (no launch overhead and no
// global-memory traffic per step). The arithmetic is kernels/device/*.cuh, tested on the host.
#include <cuda_runtime.h>

#include <string>

#include "device/square_flow.cuh"
#include "dlnflow/gpu_error.hpp"
#include "fused_deep_square.hpp"

namespace dlnflow::kernels {
namespace {

constexpr int kMaxDepth = 64;
constexpr int kThreads = 128;

struct Layout {
  int N;
  int widths[kMaxDepth + 1];
  int state;
};

__global__ void fused_deep_square_rk4_kernel(Layout layout, device::SquareLossData<double> loss, const double* y0,
                                             double* y_out, double* loss_out, double dt, long long steps) {
  extern __shared__ double shared[];
  const device::BlockTeam team;
  const int n = layout.state;
  double* y = shared;
  double* rk = y + n;         // 5 n
  double* work = rk + 5 * n;  // deep_rhs_workspace
  const double* start = y0 + static_cast<size_t>(blockIdx.x) * n;
  for (int i = team.rank(); i < n; i += team.size()) y[i] = start[i];
  team.sync();
  auto rhs = [&](const double* s, double* ds) { device::deep_square_rhs(team, layout.N, layout.widths, loss, s, ds, work); };
  for (long long k = 0; k < steps; ++k) device::rk4_step(team, n, y, dt, rhs, rk);
  const double L = device::deep_square_rhs(team, layout.N, layout.widths, loss, y, rk, work);
  double* out = y_out + static_cast<size_t>(blockIdx.x) * n;
  for (int i = team.rank(); i < n; i += team.size()) out[i] = y[i];
  if (team.rank() == 0) loss_out[blockIdx.x] = L;
}

void check(cudaError_t e, const char* call) {
  if (e != cudaSuccess) throw GpuError(std::string(call) + " failed: " + cudaGetErrorString(e));
}

template <class T>
struct DeviceBuffer {
  T* p = nullptr;
  explicit DeviceBuffer(size_t n) { check(cudaMalloc(&p, n * sizeof(T)), "cudaMalloc"); }
  ~DeviceBuffer() { cudaFree(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

}  // namespace

double launch_fused_deep_square_rk4(const FusedDeepSquareArgs& a) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) throw GpuError("no CUDA device is available");
  if (a.depth > kMaxDepth) throw GpuError("the fused path supports depth <= 64");
  Layout layout{};
  layout.N = a.depth;
  for (int j = 0; j <= a.depth; ++j) layout.widths[j] = a.widths[j];
  layout.state = a.state_size;
  const size_t shared =
      sizeof(double) * (6 * static_cast<size_t>(a.state_size) + device::deep_rhs_workspace(a.depth, a.widths, kThreads));
  const size_t B = a.batch, n = a.state_size, wn = static_cast<size_t>(a.rows) * a.cols;
  DeviceBuffer<double> y0(B * n), y(B * n), loss(B), cxx(static_cast<size_t>(a.cols) * a.cols), w_opt(wn);
  check(cudaMemcpy(y0.p, a.y0, B * n * sizeof(double), cudaMemcpyHostToDevice), "cudaMemcpy y0");
  check(cudaMemcpy(cxx.p, a.cxx, static_cast<size_t>(a.cols) * a.cols * sizeof(double), cudaMemcpyHostToDevice),
        "cudaMemcpy Cxx");
  check(cudaMemcpy(w_opt.p, a.w_opt, wn * sizeof(double), cudaMemcpyHostToDevice), "cudaMemcpy W*");
  check(cudaFuncSetAttribute(fused_deep_square_rk4_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(shared)),
        "cudaFuncSetAttribute (shared memory per block)");
  const device::SquareLossData<double> data{a.rows, a.cols, cxx.p, w_opt.p, a.l_opt};
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  check(cudaEventRecord(start), "cudaEventRecord");
  fused_deep_square_rk4_kernel<<<static_cast<unsigned>(B), kThreads, shared>>>(layout, data, y0.p, y.p, loss.p, a.dt,
                                                                               a.steps);
  check(cudaGetLastError(), "fused_deep_square_rk4_kernel launch");
  check(cudaEventRecord(stop), "cudaEventRecord");
  check(cudaEventSynchronize(stop), "fused_deep_square_rk4_kernel");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  check(cudaMemcpy(a.y_out, y.p, B * n * sizeof(double), cudaMemcpyDeviceToHost), "cudaMemcpy states");
  check(cudaMemcpy(a.loss_out, loss.p, B * sizeof(double), cudaMemcpyDeviceToHost), "cudaMemcpy loss");
  return ms;
}

}  // namespace dlnflow::kernels
