// GPU throughput of fixed-step RK4 on the fused and the batched paths against the CPU backend
// on all cores of the same machine, in one run: deep factorization (all widths d, depth N), square and smooth
// Bures-Wasserstein losses. Reports trajectory-steps per second, achieved GFLOP/s (FLOPs
// counted in flop_counts.hpp) against the FP64 (non-tensor) peak of the device, and the
// speedup measured side by side. Without a usable GPU it says so and exits 77 (skipped).
//
//   gpu_throughput [--quick] [--json FILE]
//     --quick: d in {4, 8, 16, 32}, N in {2, 4}, batch 1e4 (what scripts/gpu-check.sh runs)
//     default: d in {4, 8, 16, 32, 64}, N in {2, 4, 8}, batch in {1e3, 1e4, 1e5}
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "dlnflow/dlnflow.hpp"
#include "dlnflow/gpu.hpp"
#include "bench_problems.hpp"
#include "flop_counts.hpp"

namespace {

using namespace dlnflow;

// Spec-sheet FP64 vector (non-tensor-core) peaks; the floor the achieved GFLOP/s is stated against.
double fp64_peak_gflops(const std::string& device) {
  if (device.find("H200") != std::string::npos) return 34000.0;
  if (device.find("H100") != std::string::npos) return device.find("PCIe") != std::string::npos ? 25600.0 : 34000.0;
  if (device.find("A100") != std::string::npos) return 9700.0;
  return std::nan("");
}


double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
    else {
      std::fprintf(stderr, "usage: gpu_throughput [--quick] [--json FILE]\n");
      return 2;
    }
  }
  std::string why;
  if (!gpu_available(&why)) {
    std::printf("gpu_throughput: skipped: %s\n", why.c_str());
    return 77;
  }
  std::printf("gpu_throughput: build %s\n", DLNFLOW_BENCH_BUILD);
  const std::vector<int> ds = quick ? std::vector<int>{4, 8, 16, 32} : std::vector<int>{4, 8, 16, 32, 64};
  const std::vector<int> Ns = quick ? std::vector<int>{2, 4} : std::vector<int>{2, 4, 8};
  const std::vector<int> batches = quick ? std::vector<int>{10000} : std::vector<int>{1000, 10000, 100000};
  const int threads = static_cast<int>(std::thread::hardware_concurrency());
  std::string device;
  std::string rows;
  std::printf("%-6s %3s %2s %7s %6s | %12s %9s %7s | %12s %9s | %12s %9s | %8s | %s\n", "loss", "d", "N", "batch",
              "steps", "fused ts/s", "GFLOP/s", "%peak", "batched ts/s", "GFLOP/s", "CPU ts/s", "GFLOP/s", "fused/CPU",
              "team/ws");
  for (int bwi = 0; bwi < 2; ++bwi)
    for (int d : ds)
      for (int N : Ns)
        for (int batch : batches) {
          const bool bw = bwi == 1;
          const Problem problem = bench::make_problem(bw, d, N);
          const double flops_step = bench::rk4_step_flops(d, N, bw);
          // About 0.5 s of GPU work at 5 TFLOP/s, at least 20 steps; the CPU runs the same steps
          // on a sub-batch sized for about 2 s.
          const int steps = std::max(20, static_cast<int>(std::lround(2.5e12 / (batch * flops_step))));
          const SolveOptions o = bench::rk4_steps(1e-4, steps);
          std::vector<TrajectorySpec> specs;
          for (int b = 0; b < batch; ++b)
            specs.push_back({bench::unit_scale_init(d), 7, static_cast<std::uint64_t>(b)});
          // Each path: a warm-up (module load, shared-memory configuration, graph capture),
          // then the fastest of three kernel timings.
          auto time_path = [&](GpuPath path, GpuRunInfo& info) {
            GpuOptions g;
            g.path = path;
            SolveOptions w = o;
            w.stop.t_final = 2 * o.integrator.dt;
            solve(problem, std::vector<TrajectorySpec>(specs.begin(), specs.begin() + std::min(batch, 256)), w,
                  Backend::Gpu, g);
            double best = 1e300;
            for (int rep = 0; rep < 3; ++rep) {
              info = solve(problem, specs, o, Backend::Gpu, g).gpu;
              best = std::min(best, info.kernel_ms);
            }
            return static_cast<double>(batch) * steps / (best * 1e-3);
          };
          GpuRunInfo info, binfo;
          const double gpu_tsps = time_path(GpuPath::Fused, info);
          const double batched_tsps = time_path(GpuPath::Batched, binfo);
          device = info.device;
          // About 2 s of CPU work at 20 GFLOP/s per core (the measured rate is what is reported).
          const double cpu_work = 2.0 * 20e9 * threads / (flops_step * steps);
          const int cpu_batch = std::max(threads, static_cast<int>(std::min<double>(batch, cpu_work)));
          SolveOptions oc = o;
          oc.threads = threads;
          const auto t0 = std::chrono::steady_clock::now();
          solve(problem, std::vector<TrajectorySpec>(specs.begin(), specs.begin() + std::min(batch, cpu_batch)), oc,
                Backend::Cpu);
          const double cpu_s = seconds_since(t0);
          const double cpu_tsps = static_cast<double>(std::min(batch, cpu_batch)) * steps / cpu_s;
          const double gpu_gf = gpu_tsps * flops_step * 1e-9, cpu_gf = cpu_tsps * flops_step * 1e-9;
          const double peak = fp64_peak_gflops(device);
          const double batched_gf = batched_tsps * flops_step * 1e-9;
          std::printf("%-6s %3d %2d %7d %6d | %12.4g %9.1f %6.1f%% | %12.4g %9.1f | %12.4g %9.1f | %8.1fx | %d/%s%zuB\n",
                      bw ? "bw" : "square", d, N, batch, steps, gpu_tsps, gpu_gf, 100.0 * gpu_gf / peak, batched_tsps,
                      batched_gf, cpu_tsps, cpu_gf, gpu_tsps / cpu_tsps, info.team_threads,
                      info.shared_workspace ? "smem:" : "global:", info.workspace_bytes);
          std::fflush(stdout);
          char row[512];
          std::snprintf(row, sizeof row,
                        "%s{\"loss\":\"%s\",\"d\":%d,\"N\":%d,\"batch\":%d,\"steps\":%d,\"gpu_traj_steps_per_s\":%.6g,"
                        "\"gpu_gflops\":%.6g,\"gpu_fraction_of_fp64_peak\":%.4g,\"batched_traj_steps_per_s\":%.6g,"
                        "\"batched_gflops\":%.6g,\"cpu_traj_steps_per_s\":%.6g,"
                        "\"cpu_gflops\":%.6g,\"cpu_batch\":%d,\"speedup\":%.4g,\"team_threads\":%d,"
                        "\"shared_workspace\":%s,\"workspace_bytes\":%zu}",
                        rows.empty() ? "" : ",\n  ", bw ? "bw" : "square", d, N, batch, steps, gpu_tsps, gpu_gf,
                        gpu_gf / peak, batched_tsps, batched_gf, cpu_tsps, cpu_gf, std::min(batch, cpu_batch), gpu_tsps / cpu_tsps,
                        info.team_threads, info.shared_workspace ? "true" : "false", info.workspace_bytes);
          rows += row;
        }
  if (!json_path.empty()) {
    std::ofstream f(json_path);
    f << "{\"device\":\"" << device << "\",\"build\":\"" << DLNFLOW_BENCH_BUILD << "\",\"fp64_peak_gflops\":" << fp64_peak_gflops(device)
      << ",\"cpu_threads\":" << threads << ",\"method\":\"RK4 fixed step, float64\",\"cases\":[\n  " << rows << "\n]}\n";
  }
  return 0;
}
