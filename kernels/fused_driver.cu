// The fused kernel: one team per trajectory runs the whole trajectory (every step, recording,
// events) in one launch, with its state, stages and matrix-function workspace in shared memory
// when they fit. Teams are a whole block, or one warp each (four per block) when the matrices
// are so small that a block would idle. The driver is src/integrator/driver.hpp, the CPU's; the
// arithmetic is kernels/device/*.cuh, tested on the host against the CPU backend.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "cuda_handles.hpp"
#include "dlnflow/gpu_error.hpp"
#include "fused_driver.hpp"

namespace dlnflow::kernels {
namespace {

constexpr int kBlockThreads = 128;
constexpr int kWarp = 32;

// A warp as a team: its own barrier, so that the four teams of a block never wait on each other.
struct WarpTeam {
  __device__ int rank() const { return static_cast<int>(threadIdx.x) % kWarp; }
  __device__ int size() const { return kWarp; }
  __device__ void sync() const { __syncwarp(); }
};

template <class Team>
__global__ void fused_kernel(device::FlowData<double> flow, integrator::DriverConfig<double> config,
                             device::CatalogData<double> catalog, OutputLayout layout, const double* y0, double* out,
                             unsigned long long batch, long long ws_entries, bool shared_ws, double* global_ws) {
  extern __shared__ double shared[];
  const Team team;
  const int teams = static_cast<int>(blockDim.x) / team.size();
  const int member_of = static_cast<int>(threadIdx.x) / team.size();
  const unsigned long long b = static_cast<unsigned long long>(blockIdx.x) * teams + member_of;
  if (b >= batch) return;  // whole team leaves together: no barrier is left waiting
  double* work = shared_ws ? shared + static_cast<size_t>(member_of) * ws_entries
                           : global_ws + static_cast<size_t>(b) * ws_entries;
  const auto o = integrator::TrajectoryOut<double>::at(out + b * static_cast<size_t>(layout.stride()), layout);
  device::FlowMath<Team, double> math(team, flow, catalog);
  integrator::run_trajectory(team, math, config, y0 + b * static_cast<size_t>(flow.state), o, work);
}

template <class Team>
void set_shared(size_t bytes) {
  DLNFLOW_CUDA_CHECK(cudaFuncSetAttribute(fused_kernel<Team>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

}  // namespace

std::size_t shared_memory_limit() { return current_device_properties().sharedMemPerBlockOptin; }

LaunchReport launch_fused(const FusedLaunch& L) {
  const cudaDeviceProp prop = current_device_properties();
  const PackedRun& run = *L.run;
  LaunchReport rep;
  rep.device = prop.name;
  const int n = run.flow.state;
  // Warp teams for matrices of at most 8 x 8 entries per factor: a 128-thread block would have
  // most members idle in every product.
  int wmax = std::max(run.flow.rows, run.flow.cols);
  for (int j = 0; j <= run.flow.depth && run.flow.param == device::ParamKind::Deep; ++j)
    wmax = std::max(wmax, run.flow.widths[j]);
  const bool warp = L.shape == TeamShape::Warp || (L.shape == TeamShape::Auto && wmax <= 8);
  const int team_threads = warp ? kWarp : kBlockThreads;
  const int teams_per_block = kBlockThreads / team_threads;
  const long long ws = fused_workspace(run, team_threads);
  const size_t ws_bytes = sizeof(double) * static_cast<size_t>(ws);
  const size_t shared_limit = static_cast<size_t>(prop.sharedMemPerBlockOptin);
  const bool shared_ws = ws_bytes * teams_per_block <= shared_limit;
  const size_t shared_bytes = shared_ws ? ws_bytes * teams_per_block : 0;
  rep.team_threads = team_threads, rep.teams_per_block = teams_per_block;
  rep.shared_workspace = shared_ws, rep.workspace_bytes = ws_bytes;
  if (warp)
    set_shared<WarpTeam>(shared_bytes);
  else
    set_shared<device::BlockTeam>(shared_bytes);

  // Constants once; states, outputs and (without shared memory) workspaces per chunk.
  DeviceBuffer<double> values(run.values.size());
  DeviceBuffer<int> ints(run.ints.size());
  if (!run.values.empty())
    DLNFLOW_CUDA_CHECK(cudaMemcpy(values.p, run.values.data(), run.values.size() * sizeof(double), cudaMemcpyHostToDevice));
  if (!run.ints.empty())
    DLNFLOW_CUDA_CHECK(cudaMemcpy(ints.p, run.ints.data(), run.ints.size() * sizeof(int), cudaMemcpyHostToDevice));
  DeviceBuffer<integrator::EventData> events(run.events.size());
  if (!run.events.empty())
    DLNFLOW_CUDA_CHECK(cudaMemcpy(events.p, run.events.data(), run.events.size() * sizeof(integrator::EventData), cudaMemcpyHostToDevice));
  device::FlowData<double> flow;
  integrator::DriverConfig<double> config;
  device::CatalogData<double> catalog;
  run.bind(flow, config, catalog, values.p, ints.p, events.p);

  const int stride = run.output_stride();
  const size_t per_traj = sizeof(double) * (static_cast<size_t>(n) + stride + (shared_ws ? 0 : ws));
  size_t free_b = 0, total_b = 0;
  DLNFLOW_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const size_t fit = std::max<size_t>(1, static_cast<size_t>(0.8 * static_cast<double>(free_b)) / per_traj);
  const size_t chunk = std::min(L.batch, fit);
  DeviceBuffer<double> y0(chunk * n);
  DeviceBuffer<double> out(chunk * stride);
  DeviceBuffer<double> gws(shared_ws ? 0 : chunk * static_cast<size_t>(ws));
  DeviceTimer timer;
  for (size_t first = 0; first < L.batch; first += chunk) {
    const size_t B = std::min(chunk, L.batch - first);
    DLNFLOW_CUDA_CHECK(cudaMemcpy(y0.p, L.y0 + first * n, B * n * sizeof(double), cudaMemcpyHostToDevice));
    const unsigned blocks = static_cast<unsigned>((B + teams_per_block - 1) / teams_per_block);
    rep.kernel_ms += timer.milliseconds([&] {
      if (warp)
        fused_kernel<WarpTeam><<<blocks, kBlockThreads, shared_bytes>>>(flow, config, catalog, run.layout(), y0.p, out.p,
                                                                         B, ws, shared_ws, gws.p);
      else
        fused_kernel<device::BlockTeam><<<blocks, kBlockThreads, shared_bytes>>>(flow, config, catalog, run.layout(),
                                                                                  y0.p, out.p, B, ws, shared_ws, gws.p);
      DLNFLOW_CUDA_CHECK(cudaGetLastError());
    });
    ++rep.chunks;
    DLNFLOW_CUDA_CHECK(cudaMemcpy(L.out + first * stride, out.p, B * stride * sizeof(double), cudaMemcpyDeviceToHost));
  }
  return rep;
}

}  // namespace dlnflow::kernels
