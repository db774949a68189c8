// A batch on the GPU: initial states on the host (the CPU's Philox streams), the batch
// packed once, run by the fused kernel or the batched path (split into launches that fit
// device memory), and unpacked into the same TrajectoryResults the CPU backend returns.
#include <cmath>
#include <optional>

#include "../../kernels/batched_deep.hpp"
#include "../../kernels/device/host_team.hpp"
#include "../../kernels/fused_driver.hpp"
#include "dlnflow/cuda_probe.hpp"
#include "batch.hpp"
#include "dlnflow/gpu.hpp"
#include "dlnflow/gpu_error.hpp"
#include "../core/driver_io.hpp"
#include "../cpu/model.hpp"
#include "dlnflow/matfun.hpp"
#include "pack.hpp"

namespace dlnflow {
namespace {

std::vector<double> initial_states(const Problem& problem, const std::vector<TrajectorySpec>& specs) {
  const Index n = problem.state_size();
  std::vector<double> y0(specs.size() * static_cast<std::size_t>(n));
  for (std::size_t b = 0; b < specs.size(); ++b) {
    const Vec y = initial_state(problem, specs[b].init, specs[b].seed, specs[b].trajectory);
    std::copy(y.data(), y.data() + n, y0.data() + b * n);
  }
  return y0;
}

}  // namespace

bool gpu_available(std::string* why) {
  if (!cuda_compiled()) {
    if (why) *why = "this dlnflow library has no CUDA backend (the CPU-only library dlnflow::dlnflow, or a build without nvcc or with DLNFLOW_CUDA=OFF)";
    return false;
  }
  return cuda_device_count(why) > 0;
}

bool gpu_supports(const Problem& problem, const SolveOptions& options, std::string* why, GpuPath path) {
  try {
    const kernels::PackedRun run = gpu::pack_run(problem, options);
    if (path == GpuPath::Batched) {
      const std::string no = gpu::batched_unsupported(run);
      if (!no.empty()) throw GpuError("the batched path cannot run this problem: " + no);
    }
    return true;
  } catch (const GpuError& e) {
    if (why) *why = e.what();
    return false;
  }
}

const char* to_string(GpuPath p) { return p == GpuPath::Fused ? "fused" : p == GpuPath::Batched ? "batched" : "auto"; }
const char* to_string(GpuTeam t) { return t == GpuTeam::Warp ? "warp" : t == GpuTeam::Block ? "block" : "auto"; }

std::vector<TrajectoryResult> gpu::solve_batch(const Problem& problem, const std::vector<TrajectorySpec>& specs,
                                               const SolveOptions& options, const GpuOptions& gpu,
                                               const TrajectoryDone& on_done, GpuRunInfo* info) {
  std::string why;
  if (!gpu_available(&why)) throw GpuError("no usable GPU: " + why);
  const kernels::PackedRun run = gpu::pack_run(problem, options);
  const std::string batched_no = gpu::batched_unsupported(run);
  if (gpu.path == GpuPath::Batched && !batched_no.empty())
    throw GpuError("the batched path cannot run this problem: " + batched_no);
  // Auto: fused while its workspace fits shared memory (every step on chip), batched beyond
  // that where it covers the problem (cuBLAS on global memory beats the fused kernel there).
  bool batched = gpu.path == GpuPath::Batched;
  if (gpu.path == GpuPath::Auto && batched_no.empty()) {
    const std::size_t ws = sizeof(double) * static_cast<std::size_t>(kernels::fused_workspace(run, 128));
    batched = ws > kernels::shared_memory_limit();
  }
  const std::vector<double> y0 = initial_states(problem, specs);
  std::vector<double> out(specs.size() * static_cast<std::size_t>(run.output_stride()));
  std::vector<TrajectoryResult> results;
  results.reserve(specs.size());
  if (!specs.empty()) {
    kernels::LaunchReport rep;
    if (batched) {
      kernels::BatchedLaunch launch;
      launch.run = &run, launch.batch = specs.size(), launch.y0 = y0.data(), launch.out = out.data();
      if (options.integrator.method != Method::DormandPrince54)
        launch.steps = gpu::fixed_steps(options.integrator.dt, options.stop.t_final);
      rep = kernels::launch_batched(launch);
    } else {
      kernels::FusedLaunch launch;
      launch.run = &run, launch.batch = specs.size(), launch.y0 = y0.data(), launch.out = out.data();
      launch.shape = gpu.team == GpuTeam::Warp    ? kernels::TeamShape::Warp
                     : gpu.team == GpuTeam::Block ? kernels::TeamShape::Block
                                                  : kernels::TeamShape::Auto;
      rep = kernels::launch_fused(launch);
    }
    if (info) {
      info->device = rep.device, info->path = batched ? "batched" : "fused", info->kernel_ms = rep.kernel_ms;
      info->launches = rep.chunks, info->team_threads = rep.team_threads;
      info->shared_workspace = rep.shared_workspace, info->workspace_bytes = rep.workspace_bytes;
    }
  }
  const OutputLayout layout = run.layout();
  std::optional<Model> host;  // the batched path has no batched SVD for these sizes: its final
                              // rank is the host's, from the final state (the one number of a GPU
                              // run the CPU computes)
  if (batched) host.emplace(problem);
  for (std::size_t b = 0; b < specs.size(); ++b) {
    results.push_back(core::unpack_result(layout, options, out.data() + b * run.output_stride()));
    TrajectoryResult& r = results.back();
    if (host && r.status != Status::Failed && std::isfinite(r.final_loss) && r.final_state.allFinite())
      r.final_rank = numerical_rank(host->spectrum(r.final_state), options.record.rank_rtol);
    if (on_done) on_done(b, r);
  }
  return results;
}

std::vector<TrajectoryResult> gpu::solve_batch_emulated(const Problem& problem, const std::vector<TrajectorySpec>& specs,
                                                        const SolveOptions& options, int team_threads) {
  validate(problem, options);
  const kernels::PackedRun run = gpu::pack_run(problem, options);
  const std::vector<double> y0 = initial_states(problem, specs);
  const std::vector<double> out = gpu::emulate(run, y0.data(), specs.size(), team_threads);
  std::vector<TrajectoryResult> results;
  for (std::size_t b = 0; b < specs.size(); ++b)
    results.push_back(core::unpack_result(run.layout(), options, out.data() + b * run.output_stride()));
  return results;
}

std::vector<double> gpu::emulate(const kernels::PackedRun& run, const double* y0, std::size_t batch, int members) {
  device::FlowData<double> flow;
  integrator::DriverConfig<double> config;
  device::CatalogData<double> catalog;
  run.bind(flow, config, catalog, run.values.data(), run.ints.data(), run.events.data());
  members = std::max(1, members);
  std::vector<double> out(batch * static_cast<std::size_t>(run.output_stride()));
  std::vector<double> work(static_cast<std::size_t>(kernels::fused_workspace(run, members)));
  const int n = flow.state;
  for (std::size_t b = 0; b < batch; ++b) {
    const auto o = run.output(out.data(), b);
    device::on_team(members, [&](const auto& team) {
      device::FlowMath<std::decay_t<decltype(team)>, double> math(team, flow, catalog);
      integrator::run_trajectory(team, math, config, y0 + b * n, o, work.data());
    });
  }
  return out;
}

}  // namespace dlnflow
