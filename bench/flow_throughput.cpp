// CPU throughput of fixed-step RK4 on batches of up to 1000 deep-factorization trajectories of
// at least 20 steps (all widths d, depth N) on all cores, for the square and the smooth
// Bures-Wasserstein losses.
// Reports trajectory-steps per second and achieved GFLOP/s (FLOPs counted in flop_counts.hpp).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "dlnflow/dlnflow.hpp"
#include "bench_problems.hpp"
#include "flop_counts.hpp"

namespace dlnflow::bench {
double fp64_peak_gflops_one_core();
}

namespace {

using namespace dlnflow;
constexpr int kBatch = 1000, kMinBatch = 32, kMinSteps = 20;


void BM_RK4(benchmark::State& state) {
  const bool bw = state.range(0) == 1;
  const int d = static_cast<int>(state.range(1)), N = static_cast<int>(state.range(2));
  const Problem problem = bench::make_problem(bw, d, N);
  const double flops_step = bench::rk4_step_flops(d, N, bw);
  // About 2 GFLOP of work per iteration, in at least kMinSteps steps per trajectory: a
  // trajectory's set-up and final diagnostics (the final rank's SVD) cost about four steps'
  // worth at d = 32, N = 4, so with the single step that 2 GFLOP over 1000 trajectories allowed
  // there, the rows at d >= 32 measured them and not the stepping (60% of the time in the SVD,
  // 15% in the steps). Where 1000 trajectories of kMinSteps steps would exceed the budget, the
  // batch shrinks instead.
  const int steps = std::max(kMinSteps, static_cast<int>(std::lround(2e9 / (kBatch * flops_step))));
  const int batch = std::clamp(static_cast<int>(std::lround(2e9 / (steps * flops_step))), kMinBatch, kBatch);
  const SolveOptions o = bench::rk4_steps(1e-3, steps);
  std::vector<TrajectorySpec> specs;
  for (int i = 0; i < batch; ++i) specs.push_back({bench::unit_scale_init(d), 7, std::uint64_t(i)});
  for (auto _ : state) {
    auto r = solve(problem, specs, o, Backend::Cpu).trajectories;
    benchmark::DoNotOptimize(r.data());
    if (r[0].steps != steps) state.SkipWithError("unexpected step count");
  }
  const double traj_steps = static_cast<double>(batch) * steps * state.iterations();
  state.counters["traj_steps_per_s"] = benchmark::Counter(traj_steps, benchmark::Counter::kIsRate);
  state.counters["GFLOPs"] = benchmark::Counter(traj_steps * flops_step / 1e9, benchmark::Counter::kIsRate);
  state.counters["flops_per_step"] = flops_step;
  state.counters["batch"] = batch;
  state.counters["steps"] = steps;
  state.counters["threads"] = std::thread::hardware_concurrency();
  state.SetLabel(std::string(bw ? "bw" : "square") + " d=" + std::to_string(d) + " N=" + std::to_string(N));
}

void BM_Fp64PeakOneCore(benchmark::State& state) {
  double g = 0;
  for (auto _ : state) g = bench::fp64_peak_gflops_one_core();
  state.counters["GFLOPs"] = g;
}

}  // namespace

BENCHMARK(BM_Fp64PeakOneCore)->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RK4)
    ->ArgsProduct({{0, 1}, {4, 8, 16, 32, 64}, {2, 4, 8}})
    ->ArgNames({"bw", "d", "N"})
    ->UseRealTime()
    ->MinTime(0.5)
    ->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("dlnflow_build", DLNFLOW_BENCH_BUILD);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
