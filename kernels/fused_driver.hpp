// The fused path's interface in plain types: a Problem and its SolveOptions packed into one
// array of doubles and one of ints, with the pointers of FlowData and DriverConfig recorded as
// offsets and bound to wherever the arrays live (device memory in the kernel, host memory when
// the same driver runs on a HostTeam in tests). Host code (src/gpu/) fills it with Eigen;
// nvcc never sees Eigen.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "device/driver.cuh"

namespace dlnflow::kernels {

struct PackedRun {
  device::FlowData<double> flow;
  device::DriverConfig<double> config;
  // Offsets of the pointer fields (-1: null) into `values` or `ints`.
  long long cxx = -1, cyx = -1, w_opt = -1, sigma0 = -1, sqrt_sigma0 = -1, sense_a = -1, sense_y = -1,
            omega_target = -1, times = -1, cat_matrices = -1;
  long long omega = -1, cat_offsets = -1, cat_ranks = -1;
  std::vector<double> values;
  std::vector<int> ints;

  // Entries of one trajectory's output block: header, final state, event times, samples.
  int output_stride() const {
    return device::kHeader + flow.state + config.n_events + config.n_times * device::sample_stride(flow, config);
  }

  // Points every pointer field into the arrays at `v` and `i`.
  void bind(device::FlowData<double>& f, device::DriverConfig<double>& c, const double* v, const int* i) const {
    f = flow;
    c = config;
    auto dv = [&](long long o) { return o < 0 ? nullptr : v + o; };
    auto di = [&](long long o) { return o < 0 ? nullptr : i + o; };
    f.cxx = dv(cxx), f.cyx = dv(cyx), f.w_opt = dv(w_opt), f.sigma0 = dv(sigma0), f.sqrt_sigma0 = dv(sqrt_sigma0);
    f.sense_a = dv(sense_a), f.sense_y = dv(sense_y), f.omega_target = dv(omega_target), f.omega = di(omega);
    c.times = dv(times);
    c.catalog.matrices = dv(cat_matrices), c.catalog.offsets = di(cat_offsets), c.catalog.ranks = di(cat_ranks);
  }

  // The output block of trajectory b in an array of output_stride() entries per trajectory.
  device::TrajectoryOut<double> output(double* base, std::size_t b) const {
    double* p = base + b * static_cast<std::size_t>(output_stride());
    device::TrajectoryOut<double> o;
    o.header = p;
    o.final_state = p + device::kHeader;
    o.event_times = o.final_state + flow.state;
    o.samples = o.event_times + config.n_events;
    return o;
  }
};

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
