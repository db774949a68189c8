// The dlnflow executable: run, check, stats, plot, info (docs/cli.md). Exit codes: 0 success,
// 2 usage or experiment-file error, 3 failure while running, 130 interrupted.
#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include "build_info.hpp"
#include "commands.hpp"
#include "dlnflow/run.hpp"

namespace {

std::atomic<bool> g_interrupt{false};

extern "C" void on_signal(int) {
  if (g_interrupt.exchange(true)) {  // a second signal: stop now; finished chunks are on disk
    const char msg[] = "\ndlnflow: interrupted again; exiting without the chunk in flight\n";
    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
    ::_exit(dlnflow::cli::kInterrupted);
  }
  const char msg[] = "\ndlnflow: interrupt received; finishing the chunk in flight (again to abort it)\n";
  [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int run_command(const std::string& file, dlnflow::RunOptions opt) {
  using namespace dlnflow;
  Experiment ex;
  try {
    ex = load_experiment(file);
  } catch (const ExperimentError& e) {
    std::fprintf(stderr, "dlnflow: %s\n", e.what());
    return cli::kUsage;
  }
  if (opt.out_dir.empty()) opt.out_dir = (std::filesystem::path("results") / ex.name).string();
  install_signal_handlers();
  opt.interrupt = &g_interrupt;
  try {
    if (!opt.quiet)
      std::fprintf(stderr, "dlnflow: %s: %zu trajectories (%zu points x %d seeds) into %s\n", ex.name.c_str(),
                   ex.trajectories(), ex.points.size(), ex.seeds, opt.out_dir.c_str());
    const RunOutcome out = run_experiment(ex, opt);
    if (out.status == RunStatus::Interrupted) {
      std::fprintf(stderr,
                   "dlnflow: interrupted: %zu of %zu trajectories saved in %s (manifest status: incomplete)\n"
                   "         continue with: dlnflow run %s --out %s --resume\n",
                   out.done, out.total, opt.out_dir.c_str(), file.c_str(), opt.out_dir.c_str());
      return cli::kInterrupted;
    }
    if (!opt.quiet)
      std::fprintf(stderr, "dlnflow: done: %zu trajectories (%zu diverged) in %.3g s on the %s; results in %s\n",
                   out.done, out.diverged, out.seconds, out.backend == "gpu" ? "GPU" : "CPU", opt.out_dir.c_str());
    return cli::kOk;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "dlnflow: %s\n", e.what());
    return cli::kUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dlnflow: failure while running: %s\n(checkpoints kept; rerun with --resume)\n", e.what());
    return cli::kRunFailure;
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dlnflow;
  CLI::App app{"dlnflow: batched gradient-flow solver for deep linear networks"};
  app.set_version_flag("--version", std::string("dlnflow ") + build::kVersion + " (git " + build::kGitRevision + ")");
  app.require_subcommand(1);

  RunOptions ro;
  std::string run_file;
  auto* run = app.add_subcommand("run", "Run an experiment file into a results folder");
  run->add_option("experiment", run_file, "Experiment file (TOML)")->required()->check(CLI::ExistingFile);
  run->add_option("--out", ro.out_dir, "Results folder (default: results/<experiment name>)");
  run->add_option("--backend", ro.backend,
                  "auto | cpu | gpu (default auto: the GPU when one is usable, else the CPU, saying why)")
      ->check(CLI::IsMember({"auto", "cpu", "gpu"}));
  run->add_option("--gpu-path", ro.gpu_path, "auto | fused | batched: GPU implementation (auto: fused while its workspace fits shared memory)")
      ->check(CLI::IsMember({"auto", "fused", "batched"}));
  run->add_option("--gpu-team", ro.gpu_team, "auto | warp | block: threads per trajectory on the fused path (32 or 128)")
      ->check(CLI::IsMember({"auto", "warp", "block"}));
  run->add_option("--threads", ro.threads, "CPU threads (default: all)")->check(CLI::NonNegativeNumber);
  run->add_flag("--resume", ro.resume, "Continue an interrupted run in --out without recomputing finished chunks");
  run->add_flag("--overwrite", ro.overwrite, "Replace an existing results folder");
  run->add_flag("--quiet", ro.quiet, "Print nothing but errors");
  run->add_option("--stop-after-chunks", ro.stop_after_chunks, "Stop as if interrupted after N chunks (for tests)")
      ->group("");

  std::string check_file;
  auto* check = app.add_subcommand("check", "Validate an experiment file and print the expanded sweep");
  check->add_option("experiment", check_file, "Experiment file (TOML)")->required()->check(CLI::ExistingFile);

  std::string stats_dir;
  bool stats_csv = false;
  auto* stats = app.add_subcommand("stats", "Per sweep point: counts and quantiles of event times and final loss");
  stats->add_option("results", stats_dir, "Results folder")->required();
  stats->add_flag("--csv", stats_csv, "One CSV row per sweep point instead of a table");

  std::string plot_dir, plot_out;
  auto* plot = app.add_subcommand("plot", "PNG figures of a results folder (needs python3, matplotlib, h5py)");
  plot->add_option("results", plot_dir, "Results folder")->required();
  plot->add_option("--out", plot_out, "Folder for the PNGs (default: <results>/plots)");

  auto* info = app.add_subcommand("info", "Version, build options, backends and devices");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? cli::kOk : cli::kUsage;
  }
  if (*run) return run_command(run_file, ro);
  if (*check) return cli::check(check_file);
  if (*stats) return cli::stats(stats_dir, stats_csv);
  if (*plot) return cli::plot(plot_dir, plot_out);
  if (*info) {
    std::printf("%s\n", build_summary().c_str());
    return cli::kOk;
  }
  return cli::kUsage;
}
