// Orchestrates a run: results folder set-up (or resume), chunk after chunk on the backend with a
// checkpoint and a manifest update after each, then the assembled data files. Everything a user
// can get wrong is refused before the folder is touched.
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "../io/atomic_file.hpp"
#include "../io/data_files.hpp"
#include "../io/result_files.hpp"
#include "build_info.hpp"
#include "dlnflow/cuda_probe.hpp"
#include "dlnflow/gpu.hpp"
#include "dlnflow/run.hpp"
#include "progress.hpp"
#include "records.hpp"

namespace dlnflow {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

std::string chunk_path(const fs::path& dir, int id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "chunk-%06d.bin", id);
  return (dir / "chunks" / buf).string();
}

json read_json(const fs::path& p) {
  std::ifstream in(p);
  if (!in) throw UsageError("cannot read " + p.string());
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw UsageError(p.string() + " is not valid JSON (" + e.what() + ")");
  }
}

}  // namespace

// "cpu" or "gpu", decided before anything is written. --backend gpu without a usable device
// (or with a problem the GPU backend does not cover) is a usage error; auto falls back to the
// CPU and says why.
static std::string choose_backend(const Experiment& ex, const RunOptions& opt) {
  if (opt.backend != "auto" && opt.backend != "cpu" && opt.backend != "gpu")
    throw UsageError("--backend must be auto, cpu or gpu");
  if (opt.gpu_path != "auto" && opt.gpu_path != "fused" && opt.gpu_path != "batched")
    throw UsageError("--gpu-path must be auto, fused or batched");
  if (opt.gpu_team != "auto" && opt.gpu_team != "warp" && opt.gpu_team != "block")
    throw UsageError("--gpu-team must be auto, warp or block");
  if (opt.backend == "cpu") return "cpu";
  std::string why;
  bool ok = gpu_available(&why);
  const GpuPath path = opt.gpu_path == "batched" ? GpuPath::Batched : GpuPath::Auto;
  for (std::size_t i = 0; ok && i < ex.points.size(); ++i)
    if (!gpu_supports(*ex.points[i].config.problem, ex.points[i].config.options, &why, path)) {
      ok = false;
      why = "sweep point " + std::to_string(i) + ": " + why;
    }
  if (ok) return "gpu";
  if (opt.backend == "gpu") throw UsageError("--backend gpu: " + why + "; use --backend cpu (or auto)");
  if (!opt.quiet) std::fprintf(stderr, "dlnflow: running on the CPU: %s\n", why.c_str());
  return "cpu";
}

std::string build_summary() {
  std::ostringstream s;
  s << "dlnflow " << build::kVersion << " (git " << build::kGitRevision << ")\n"
    << "build: " << build::kBuildType << ", " << build::kCompiler << "\n"
    << "CUDA compiled: " << (cuda_compiled() ? "yes" : "no") << "\n"
    << "backends: cpu (Eigen " << EIGEN_WORLD_VERSION << "." << EIGEN_MAJOR_VERSION << "." << EIGEN_MINOR_VERSION
    << ", " << std::thread::hardware_concurrency() << " threads on " << cpu_model() << ")";
  std::string why;
  const int gpus = cuda_device_count(&why);
  s << "\nGPU devices: " << gpus;
  if (gpus <= 0) s << " (" << (why.empty() ? "none found" : why) << ")";
  if (gpus > 0) s << " (" << cuda_device_name() << ")";
  s << "\nGPU backend: " << (cuda_compiled() ? "fused kernels (one team of threads per trajectory)" : "not in this build")
    << (cuda_compiled() ? "; batched cuBLAS/cuSOLVER path for large matrices" : "")
    << "; --backend auto runs on the GPU when one is usable, else on the CPU";
  return s.str();
}

RunOutcome run_experiment(const Experiment& ex, const RunOptions& opt) {
  RunOutcome outcome;
  outcome.backend = choose_backend(ex, opt);
  GpuOptions gpu_options;
  gpu_options.path = opt.gpu_path == "fused" ? GpuPath::Fused : opt.gpu_path == "batched" ? GpuPath::Batched : GpuPath::Auto;
  gpu_options.team = opt.gpu_team == "warp" ? GpuTeam::Warp : opt.gpu_team == "block" ? GpuTeam::Block : GpuTeam::Auto;
  const int threads = opt.threads > 0 ? opt.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const fs::path dir = opt.out_dir;
  const fs::path manifest_path = dir / "manifest.json";
  const auto chunks = run::plan_chunks(ex);
  outcome.total = ex.trajectories();

  // ---- Results folder: new, resumed, or replaced ----
  json manifest;
  if (fs::exists(dir) && opt.resume) {
    if (!fs::exists(manifest_path)) throw UsageError(dir.string() + " has no manifest.json: nothing to resume");
    manifest = read_json(manifest_path);
    if (manifest.value("fingerprint", "") != io::hex64(ex.fingerprint))
      throw UsageError("cannot resume " + dir.string() +
                       ": the experiment (file, data or defaults) differs from the one that started it; "
                       "run it into a new --out folder");
    if (manifest.value("status", "") == "complete") {
      if (!opt.quiet) std::fprintf(stderr, "dlnflow: %s is already complete; nothing to do\n", dir.c_str());
      outcome.done = outcome.reused = outcome.total;
      return outcome;
    }
  } else if (fs::exists(dir)) {
    if (!opt.overwrite)
      throw UsageError(dir.string() + " already exists; use --resume to continue it, --overwrite to replace it, or another --out");
    if (!fs::exists(manifest_path) && !fs::is_empty(dir))
      throw UsageError("refusing to --overwrite " + dir.string() + ": it is not a dlnflow results folder (no manifest.json)");
    fs::remove_all(dir);
  } else if (opt.resume) {
    throw UsageError("nothing to resume: " + dir.string() + " does not exist");
  }
  if (!fs::exists(dir)) {
    manifest = {{"format", "dlnflow-results/1"},
                {"status", "incomplete"},
                {"dlnflow", {{"version", build::kVersion}, {"git_revision", build::kGitRevision},
                             {"build_type", build::kBuildType}, {"compiler", build::kCompiler}}},
                {"experiment_file", ex.source_path},
                {"fingerprint", io::hex64(ex.fingerprint)},
                {"experiment", json::parse(ex.resolved_json)},
                {"started", now_iso()},
                {"finished", nullptr},
                {"sessions", json::array()},
                {"chunks", json::array()}};
    // The folder appears with its manifest already in it: built under a temporary name.
    const fs::path staging = dir.string() + ".tmp-" + std::to_string(::getpid());
    fs::remove_all(staging);
    fs::create_directories(staging / "chunks");
    io::write_file_atomic((staging / "manifest.json").string(), manifest.dump(2) + "\n");
    fs::rename(staging, dir);
  }
  fs::create_directories(dir / "chunks");
  for (const fs::path& d : {dir, dir / "chunks"})  // leftovers of writes a killed run never finished
    for (const auto& e : fs::directory_iterator(d))
      if (e.path().filename().string().find(".tmp-") != std::string::npos) fs::remove(e.path());
  manifest["backend"] = outcome.backend;
  manifest["device"] = outcome.backend == "gpu" ? cuda_device_name() + " (CUDA, --gpu-path " + opt.gpu_path + ")"
                                                : cpu_model() + " (" + std::to_string(threads) + " threads)";
  manifest["threads"] = threads;
  json session = {{"started", now_iso()}, {"backend", outcome.backend}, {"threads", threads}, {"chunks_run", 0}};
  manifest["sessions"].push_back(session);
  json& this_session = manifest["sessions"].back();

  // ---- Checkpoints already on disk ----
  std::vector<bool> done(chunks.size(), false);
  for (const auto& c : chunks) {
    if (!fs::exists(chunk_path(dir, c.id))) continue;
    if (auto recs = run::read_chunk(chunk_path(dir, c.id), ex.fingerprint, c)) {
      done[c.id] = true;
      outcome.reused += recs->size();
      for (const auto& r : *recs) outcome.diverged += r.result.status == Status::Diverged;
    } else if (!opt.quiet) {
      std::fprintf(stderr, "dlnflow: checkpoint %s is unreadable; recomputing that chunk\n", chunk_path(dir, c.id).c_str());
    }
  }
  // A crash (not an interrupt) can leave checkpoints newer than the manifest's chunk list.
  std::vector<bool> listed(chunks.size(), false);
  for (const auto& c : manifest["chunks"]) listed[c.value("id", 0)] = true;
  for (const auto& c : chunks)
    if (done[c.id] && !listed[c.id])
      manifest["chunks"].push_back({{"id", c.id}, {"point", c.point}, {"first_seed", c.first_seed}, {"count", c.count},
                                    {"seconds", nullptr}, {"note", "timing lost: the run ended without saving it"}});
  outcome.done = outcome.reused;
  if (!opt.quiet && outcome.reused)
    std::fprintf(stderr, "dlnflow: resuming %s: %zu of %zu trajectories already done\n", dir.c_str(), outcome.reused,
                 outcome.total);

  // ---- Chunks ----
  run::Progress progress(outcome.total, outcome.done, opt.quiet);
  const auto t0 = std::chrono::steady_clock::now();
  auto last_manifest = t0;
  int ran = 0;
  bool interrupted = false;
  // On the GPU, consecutive chunks of one sweep point run as one batch (up to kGpuBatch
  // trajectories), so that the device is filled, and are then checkpointed chunk by chunk as on
  // the CPU: the chunk plan, and with it resume, do not depend on the backend.
  constexpr int kGpuBatch = 16384;
  for (std::size_t ci = 0; ci < chunks.size();) {
    if (done[chunks[ci].id]) {
      ++ci;
      continue;
    }
    if ((opt.interrupt && opt.interrupt->load()) || (opt.stop_after_chunks >= 0 && ran >= opt.stop_after_chunks)) {
      interrupted = true;
      break;
    }
    std::vector<run::Chunk> group{chunks[ci]};
    int in_group = chunks[ci].count;
    while (outcome.backend == "gpu" && ci + group.size() < chunks.size()) {
      const run::Chunk& nx = chunks[ci + group.size()];
      if (done[nx.id] || nx.point != chunks[ci].point || in_group + nx.count > kGpuBatch) break;
      if (opt.stop_after_chunks >= 0 && ran + static_cast<int>(group.size()) >= opt.stop_after_chunks) break;
      group.push_back(nx);
      in_group += nx.count;
    }
    ci += group.size();
    const auto& point = ex.points[group.front().point];
    SolveOptions so = point.config.options;
    so.threads = threads;
    std::vector<TrajectorySpec> specs;
    for (const auto& c : group)
      for (int s = c.first_seed; s < c.first_seed + c.count; ++s)
        specs.push_back({point.config.init, ex.seed, static_cast<std::uint64_t>(s)});
    const auto start = std::chrono::steady_clock::now();
    const TrajectoryDone tick = [&](std::size_t, const TrajectoryResult& r) {
      progress.trajectory_done(r.status == Status::Diverged);
    };
    auto results = outcome.backend == "gpu"
                       ? integrate_batch_gpu(*point.config.problem, specs, so, gpu_options, tick)
                       : integrate_batch(*point.config.problem, specs, so, tick);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    Model model(*point.config.problem);
    std::size_t offset = 0;
    for (const auto& c : group) {
      std::vector<TrajectoryRecord> recs(c.count);
      std::size_t diverged = 0;
      for (int i = 0; i < c.count; ++i) {
        recs[i].point = c.point;
        recs[i].seed_index = c.first_seed + i;
        recs[i].result = std::move(results[offset + i]);
        run::finish_record(point.config, model, recs[i]);
        diverged += recs[i].result.status == Status::Diverged;
      }
      offset += c.count;
      run::write_chunk(chunk_path(dir, c.id), ex.fingerprint, c, recs);
      json entry = {{"id", c.id},           {"point", c.point},   {"first_seed", c.first_seed},
                    {"count", c.count},     {"seconds", secs},    {"diverged", diverged},
                    {"backend", outcome.backend}};
      if (group.size() > 1) entry["batch_of_chunks"] = group.size();  // seconds are the whole batch's
      manifest["chunks"].push_back(entry);
      this_session["chunks_run"] = ++ran;
      done[c.id] = true;
      outcome.done += recs.size();
      outcome.diverged += diverged;
    }
    // The checkpoint is the durable record; the manifest is refreshed at most every 2 s, so
    // that runs of many short chunks do not rewrite an ever longer chunk list each time.
    if (std::chrono::steady_clock::now() - last_manifest > std::chrono::seconds(2)) {
      io::write_file_atomic(manifest_path.string(), manifest.dump(2) + "\n");
      last_manifest = std::chrono::steady_clock::now();
    }
  }
  progress.finish();
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  outcome.status = interrupted ? RunStatus::Interrupted : RunStatus::Complete;

  // ---- Data files from every checkpoint, read back from disk ----
  std::vector<TrajectoryRecord> records;
  for (const auto& c : chunks)
    if (done[c.id]) {
      auto recs = run::read_chunk(chunk_path(dir, c.id), ex.fingerprint, c);
      if (!recs) throw std::runtime_error("checkpoint " + chunk_path(dir, c.id) + " cannot be read back");
      for (auto& r : *recs) records.push_back(std::move(r));
    }
  const std::string status = interrupted ? "incomplete" : "complete";
  io::write_summary_csv((dir / "summary.csv").string(), ex, records);
  io::write_trajectories_h5((dir / "trajectories.h5").string(), ex, records, status);
  manifest["status"] = status;
  manifest["trajectories"] = {{"total", outcome.total}, {"done", outcome.done}, {"diverged", outcome.diverged}};
  this_session["ended"] = now_iso();
  this_session["seconds"] = outcome.seconds;
  if (!interrupted) manifest["finished"] = now_iso();
  io::write_file_atomic(manifest_path.string(), manifest.dump(2) + "\n");
  if (!interrupted) fs::remove_all(dir / "chunks");  // every number is in the data files now
  return outcome;
}

}  // namespace dlnflow
