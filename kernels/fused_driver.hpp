// The fused path's interface in plain types: a Problem and its SolveOptions packed into one
// array of doubles and one of ints, with the pointers of FlowData and DriverConfig recorded as
// offsets and bound to wherever the arrays live (device memory in the kernel, host memory when
// the same driver runs on a HostTeam in tests). Host code (src/gpu/) fills it with Eigen;
// nvcc never sees Eigen.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "device/flow_math.cuh"
#include "integrator/driver.hpp"

namespace dlnflow::kernels {

struct PackedRun {
  device::FlowData<double> flow;
  integrator::DriverConfig<double> config;
  device::CatalogData<double> catalog;
  // Offsets of the pointer fields (-1: null) into `values` or `ints`.
  long long cxx = -1, cyx = -1, w_opt = -1, sigma0 = -1, sqrt_sigma0 = -1, sense_a = -1, sense_y = -1,
            omega_target = -1, times = -1, cat_matrices = -1, sketch = -1;
  long long omega = -1, cat_offsets = -1, cat_ranks = -1;
  std::vector<double> values;
  std::vector<int> ints;
  std::vector<integrator::EventData> events;

  OutputLayout layout() const { return integrator::output_layout(config, flow.state, device::spectrum_size(flow)); }
  // Entries of one trajectory's output block: header, final state, event times, samples.
  int output_stride() const { return layout().stride(); }

  // Points every pointer field into the arrays at `v`, `i` and `e` (copies of values, ints, events).
  void bind(device::FlowData<double>& f, integrator::DriverConfig<double>& c, device::CatalogData<double>& cat,
            const double* v, const int* i, const integrator::EventData* e) const {
    f = flow;
    c = config;
    cat = catalog;
    auto dv = [&](long long o) { return o < 0 ? nullptr : v + o; };
    auto di = [&](long long o) { return o < 0 ? nullptr : i + o; };
    f.cxx = dv(cxx), f.cyx = dv(cyx), f.w_opt = dv(w_opt), f.sigma0 = dv(sigma0), f.sqrt_sigma0 = dv(sqrt_sigma0);
    f.sense_a = dv(sense_a), f.sense_y = dv(sense_y), f.omega_target = dv(omega_target), f.omega = di(omega);
    f.sketch = dv(sketch);
    c.times = dv(times);
    c.events = config.n_events ? e : nullptr;
    cat.matrices = dv(cat_matrices), cat.offsets = di(cat_offsets), cat.ranks = di(cat_ranks);
  }

  // The output block of trajectory b in an array of output_stride() entries per trajectory.
  integrator::TrajectoryOut<double> output(double* base, std::size_t b) const {
    return integrator::TrajectoryOut<double>::at(base + b * static_cast<std::size_t>(output_stride()), layout());
  }
};

// Entries of one trajectory's workspace on a team of `team_size`: the driver's layout and the
// math's, measured (integrator/workspace.hpp).
inline long long fused_workspace(const PackedRun& run, int team_size) {
  struct Sized {  // a team of that size, for measuring only
    int n;
    DLNFLOW_HD int rank() const { return 0; }
    DLNFLOW_HD int size() const { return n; }
    DLNFLOW_HD void sync() const {}
  } team{team_size};
  using Math = device::FlowMath<Sized, double>;
  Math math(team, run.flow, run.catalog);
  return integrator::Driver<Sized, double, Math>::workspace(run.config, math, team_size);
}

enum class TeamShape { Auto, Warp, Block };

struct FusedLaunch {
  const PackedRun* run = nullptr;
  std::size_t batch = 0;
  const double* y0 = nullptr;  // batch x state, host
  double* out = nullptr;       // batch x output_stride, host
  TeamShape shape = TeamShape::Auto;
};

struct LaunchReport {
  double kernel_ms = 0;       // device time of the integration kernels (CUDA events)
  int chunks = 0;             // launches the batch was split into to fit device memory
  int team_threads = 0;       // threads per trajectory
  int teams_per_block = 0;
  bool shared_workspace = false;  // whole workspace in shared memory (else global memory)
  std::size_t workspace_bytes = 0;  // per trajectory
  std::string device;
};

// Runs the batch on device 0; throws GpuError naming the CUDA call that failed.
LaunchReport launch_fused(const FusedLaunch& launch);

// Shared memory one block may use on device 0 (opt-in maximum), bytes.
std::size_t shared_memory_limit();

}  // namespace dlnflow::kernels
