// The dlnflow executable: run, merge, check, catalog, stats, plot, export, info (docs/cli.md). Exit codes: 0 success,
// 2 usage or experiment-file error, 3 failure while running, 130 interrupted.
#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <unistd.h>

#include "build_info.hpp"
#include "commands.hpp"
#include "../run/comm.hpp"
#include "../run/test_hooks.hpp"
#include "dlnflow/app/run.hpp"

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

bool has_checkpoints(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::is_directory(std::filesystem::path(dir) / "chunks", ec) &&
         !std::filesystem::is_empty(std::filesystem::path(dir) / "chunks", ec);
}

void print_done(const dlnflow::RunOutcome& out, const std::string& dir, const char* verb) {
  std::string unfinished;
  for (const auto& [status, n] : out.unfinished) unfinished += ", " + std::to_string(n) + " " + status;
  std::string where = out.backend == "gpu" ? " on the GPU" : out.backend == "cpu" ? " on the CPU" : "";
  if (out.ranks > 1) where += " (" + std::to_string(out.ranks) + " MPI ranks)";
  std::fprintf(stderr, "dlnflow: %s: %zu trajectories (%zu diverged%s) in %.3g s%s; results in %s\n", verb, out.done,
               out.diverged, unfinished.c_str(), out.seconds, where.c_str(), dir.c_str());
}

// Rank 0 speaks for the run; the other ranks print only their own failures.
bool speaks() { return dlnflow::run::Comm::world().rank() == 0; }

int run_command(const std::string& file, dlnflow::RunOptions opt, const dlnflow::run::TestHooks& hooks) {
  using namespace dlnflow;
  if (!speaks()) opt.quiet = true;
  Experiment ex;
  try {
    ex = load_experiment(file);
  } catch (const ExperimentError& e) {
    if (speaks()) std::fprintf(stderr, "dlnflow: %s\n", e.what());
    return cli::kUsage;
  }
  if (opt.out_dir.empty()) opt.out_dir = (std::filesystem::path("results") / ex.name).string();
  install_signal_handlers();
  opt.interrupt = &g_interrupt;
  try {
    if (!opt.quiet)
      std::fprintf(stderr, "dlnflow: %s: %zu trajectories (%zu points x %d seeds) into %s\n", ex.name.c_str(),
                   ex.trajectories(), ex.point_count(), ex.seeds, opt.out_dir.c_str());
    const RunOutcome out = run::run_experiment(ex, opt, hooks);
    if (out.status == RunStatus::Interrupted) {
      if (speaks())
        std::fprintf(stderr,
                     "dlnflow: interrupted: %zu of %zu trajectories saved in %s (manifest status: incomplete)\n"
                     "         continue with: dlnflow run %s --out %s --resume\n",
                     out.done, out.total, opt.out_dir.c_str(), file.c_str(), opt.out_dir.c_str());
      return cli::kInterrupted;
    }
    if (!opt.quiet) print_done(out, opt.out_dir, "done");
    return cli::kOk;
  } catch (const UsageError& e) {
    if (speaks()) std::fprintf(stderr, "dlnflow: %s\n", e.what());
    return cli::kUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dlnflow: failure while running: %s\n%s", e.what(),
                 has_checkpoints(opt.out_dir) ? "(finished chunks are kept in their checkpoints; rerun with --resume)\n" : "");
    return cli::kRunFailure;
  }
}

int merge_command(const std::string& file, const std::vector<std::string>& shards, dlnflow::RunOptions opt) {
  using namespace dlnflow;
  Experiment ex;
  try {
    ex = load_experiment(file);
  } catch (const ExperimentError& e) {
    std::fprintf(stderr, "dlnflow: %s\n", e.what());
    return cli::kUsage;
  }
  if (opt.out_dir.empty()) opt.out_dir = (std::filesystem::path("results") / ex.name).string();
  try {
    const RunOutcome out = merge_results(ex, shards, opt);
    if (!opt.quiet) print_done(out, opt.out_dir, "merged");
    return cli::kOk;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "dlnflow: %s\n", e.what());
    return cli::kUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dlnflow: failure while merging: %s\n", e.what());
    return cli::kRunFailure;
  }
}

// "I/N" -> (I, N).
bool parse_shard(const std::string& text, int& index, int& count) {
  const auto slash = text.find('/');
  if (slash == std::string::npos) return false;
  try {
    std::size_t a = 0, b = 0;
    index = std::stoi(text.substr(0, slash), &a);
    count = std::stoi(text.substr(slash + 1), &b);
    return a == slash && b == text.size() - slash - 1 && count >= 1 && index >= 0 && index < count;
  } catch (const std::exception&) {
    return false;
  }
}

// An option whose values are an enum's names (its to_string): anything else is refused with the
// accepted names, and only a name is accepted (not the enum's number).
template <typename E>
CLI::Option* add_enum_option(CLI::App* app, const std::string& name, E& target, std::initializer_list<E> values,
                             const std::string& help) {
  std::map<std::string, E> names;
  std::vector<std::string> keys;
  for (E v : values) names.emplace(dlnflow::to_string(v), v), keys.push_back(dlnflow::to_string(v));
  std::string text;
  for (const auto& k : keys) text += (text.empty() ? "" : "|") + k;
  return app
      ->add_option_function<std::string>(
          name, [&target, names](const std::string& s) { target = names.at(s); }, help)
      ->check(CLI::IsMember(keys))
      ->option_text(text);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dlnflow;
  CLI::App app{"dlnflow: batched gradient-flow solver for deep linear networks"};
  app.set_version_flag("--version", std::string("dlnflow ") + build::kVersion + " (git " + build::kGitRevision + ")");
  app.require_subcommand(1);

  RunOptions ro;
  run::TestHooks hooks;
  std::string run_file;
  auto* run = app.add_subcommand("run", "Run an experiment file into a results folder");
  run->add_option("experiment", run_file, "Experiment file (TOML)")->required()->check(CLI::ExistingFile);
  run->add_option("--out", ro.out_dir, "Results folder (default: results/<experiment name>)");
  add_enum_option(run, "--backend", ro.backend, {Backend::Auto, Backend::Cpu, Backend::Gpu},
                  "default auto: the GPU when one is usable, else the CPU, saying why");
  add_enum_option(run, "--gpu-path", ro.gpu.path, {GpuPath::Auto, GpuPath::Fused, GpuPath::Batched},
                  "GPU implementation (auto: fused while its workspace fits shared memory)");
  add_enum_option(run, "--gpu-team", ro.gpu.team, {GpuTeam::Auto, GpuTeam::Warp, GpuTeam::Block},
                  "threads per trajectory on the fused path (32 or 128)");
  run->add_option("--threads", ro.threads, "CPU threads (default: the cores this process may use; under MPI a share of the machine's)")->check(CLI::NonNegativeNumber);
  run->add_flag("--resume", ro.resume, "Continue an interrupted run in --out without recomputing finished chunks");
  run->add_flag("--overwrite", ro.overwrite, "Replace an existing dlnflow results folder (only files dlnflow wrote are removed)");
  run->add_flag("--force", ro.force, "Run even where the estimate exceeds the free memory or disk");
  std::string shard_text;
  run->add_option("--shard", shard_text,
                  "I/N: run only chunks with id % N == I into --out (Slurm job arrays); join the shards with merge");
  run->add_flag("--quiet", ro.quiet, "Print nothing but errors");
  run->add_option("--stop-after-chunks", hooks.stop_after_chunks, "Stop as if interrupted after N chunks (for tests)")
      ->group("");

  RunOptions mo;
  std::string merge_file;
  std::vector<std::string> merge_shards;
  auto* merge = app.add_subcommand("merge", "Join the folders of `run --shard I/N` into one results folder");
  merge->add_option("experiment", merge_file, "Experiment file (TOML) the shards ran")->required()->check(CLI::ExistingFile);
  merge->add_option("shards", merge_shards, "Shard results folders")->required();
  merge->add_option("--out", mo.out_dir, "Results folder (default: results/<experiment name>)");
  merge->add_flag("--overwrite", mo.overwrite, "Replace an existing dlnflow results folder");
  merge->add_flag("--quiet", mo.quiet, "Print nothing but errors");

  std::string check_file;
  std::string check_out;
  bool check_force = false;
  auto* check = app.add_subcommand("check", "Validate an experiment file and print the expanded sweep and what it needs");
  check->add_option("experiment", check_file, "Experiment file (TOML)")->required()->check(CLI::ExistingFile);
  check->add_option("--out", check_out, "Results folder whose disk the estimate is compared with (default: results/<name>)");
  check->add_flag("--force", check_force, "Exit 0 even where the estimate exceeds the free memory or disk");

  std::string stats_dir;
  bool stats_csv = false;
  auto* stats = app.add_subcommand("stats", "Per sweep point: how trajectories ended, quantiles of event times and final loss, "
                                            "why events are missing; event times fitted against swept scales");
  stats->add_option("results", stats_dir, "Results folder")->required();
  stats->add_flag("--csv", stats_csv, "One CSV row per sweep point instead of a table");
  bool stats_json = false;
  stats->add_flag("--json", stats_json, "Everything (points, why events are missing, fits) as JSON");

  std::string plot_dir, plot_out;
  auto* plot = app.add_subcommand("plot", "Figures of a results folder: escape laws, loss, singular values, event times "
                                          "(needs python3, matplotlib, h5py)");
  plot->add_option("results", plot_dir, "Results folder")->required();
  plot->add_option("--out", plot_out, "Folder for the figures (default: <results>/plots)");
  std::string plot_format = "png";
  plot->add_option("--format", plot_format, "png, pdf, svg, or several comma-separated");
  std::string plot_data;
  plot->add_option("--data", plot_data, "Also write what every figure draws (lines, labels, texts) as JSON to this file");
  std::string export_dir, export_out;
  auto* exporter = app.add_subcommand("export", "The recorded time series in long format (CSV, one row per point, "
                                                "trajectory and time) for pandas");
  exporter->add_option("results", export_dir, "Results folder")->required();
  exporter->add_option("--out", export_out, "CSV file (default: <results>/timeseries.csv; - for standard output)");

  std::string catalog_file;
  bool catalog_json = false;
  auto* catalog = app.add_subcommand("catalog", "Every catalogued critical point of an experiment's problems: loss, "
                                                "Hessian counts, kind (minimum, strict or non-strict saddle), escape rate");
  catalog->add_option("experiment", catalog_file, "Experiment file (TOML)")->required()->check(CLI::ExistingFile);
  catalog->add_flag("--json", catalog_json, "As JSON, with every Hessian eigenvalue");

  auto* info = app.add_subcommand("info", "Version, build options, backends and devices");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? cli::kOk : cli::kUsage;
  }
  if (*run) {
    if (!shard_text.empty() && !parse_shard(shard_text, ro.shard_index, ro.shard_count)) {
      std::fprintf(stderr, "dlnflow: --shard must be I/N with 0 <= I < N (got '%s')\n", shard_text.c_str());
      return cli::kUsage;
    }
    const int code = run_command(run_file, ro, hooks);
    run::Comm::world().finalize();
    return code;
  }
  if (*merge) return merge_command(merge_file, merge_shards, mo);
  if (*check) return cli::check(check_file, check_out, check_force);
  if (*stats) return cli::stats(stats_dir, stats_csv, stats_json);
  if (*plot) return cli::plot(plot_dir, plot_out, plot_format, plot_data);
  if (*exporter) return cli::export_series(export_dir, export_out);
  if (*catalog) return cli::catalog(catalog_file, catalog_json);
  if (*info) {
    std::printf("%s\n", build_summary().c_str());
    return cli::kOk;
  }
  return cli::kUsage;
}
