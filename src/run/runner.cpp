// Orchestrates a run: the results folder (rank 0), chunks computed by every rank from a shared
// schedule with a checkpoint after each, the manifest kept current, then the data files written
// from the checkpoints. One process, MPI ranks and shards all take this path.
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <thread>

#include "../io/data_files.hpp"
#include "assemble.hpp"
#include "build_info.hpp"
#include "comm.hpp"
#include "dlnflow/cuda_probe.hpp"
#include "dlnflow/gpu.hpp"
#include "dlnflow/app/run.hpp"
#include "progress.hpp"
#include "records.hpp"
#include "schedule.hpp"
#include "setup.hpp"
#include "test_hooks.hpp"

namespace dlnflow {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// On the GPU, consecutive chunks of one sweep point run as one batch of up to this many
// trajectories so that the device is filled; each is still checkpointed on its own, so the
// chunk plan, and with it resume, does not depend on the backend.
constexpr std::size_t kGpuBatch = 16384;

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// "cpu" or "gpu", decided once for the whole run before anything is written: every sweep point
// runs on the same backend. --backend gpu without a usable device (or with a point the GPU
// backend does not cover) is a usage error; auto falls back to the CPU and says why (on stderr
// unless quiet, and in *reason, which the manifest keeps).
std::string choose_backend(const Experiment& ex, const RunOptions& opt, bool say, std::string* reason) {
  reason->clear();
  if (opt.backend == Backend::Cpu) return "cpu";
  std::string why;
  bool ok = gpu_available(&why);
  for (std::size_t i = 0; ok && i < ex.point_count(); ++i) {
    const SweepPoint p = ex.point(i, false);
    if (!gpu_supports(*p.config.problem, p.config.options, &why, opt.gpu.path)) {
      ok = false;
      why = "sweep point " + std::to_string(i) + ": " + why;
    }
  }
  if (ok) return "gpu";
  if (opt.backend == Backend::Gpu) throw UsageError("--backend gpu: " + why + "; use --backend cpu (or auto)");
  if (say) std::fprintf(stderr, "dlnflow: running on the CPU: %s\n", why.c_str());
  *reason = why;
  return "cpu";
}

struct Compute {
  const Experiment& ex;
  const run::ChunkPlan& plan;
  fs::path dir;
  std::string backend;
  int threads = 1;
  const RunOptions& opt;
  const run::TestHooks& hooks;
  run::Progress& progress;
  int chunks_run = 0;
  bool interrupted = false;

  bool stop_requested() const {
    return (opt.interrupt && opt.interrupt->load()) || (hooks.stop_after_chunks >= 0 && chunks_run >= hooks.stop_after_chunks);
  }

  // Until the source runs dry or a stop is requested: a group of chunks, their checkpoints,
  // and the report that they are done.
  void loop(run::ChunkSource& source) {
    if (backend == "gpu") {
      const int devices = cuda_device_count();
      if (devices > 1) cuda_set_device(run::Comm::world().local_rank() % devices);
    }
    std::optional<SweepPoint> point;
    while (true) {
      if (stop_requested()) {
        interrupted = true;
        return;
      }
      std::size_t max = backend == "gpu" ? kGpuBatch : 1;
      if (hooks.stop_after_chunks >= 0 && backend == "gpu")  // whole chunks up to the testing aid's count
        max = std::max<std::size_t>(1, static_cast<std::size_t>(hooks.stop_after_chunks - chunks_run) * ex.chunk_size);
      const auto group = source.next(max);
      if (group.empty()) return;
      if (!point || point->index != group.front().point) point = ex.point(static_cast<std::size_t>(group.front().point), false);
      source.finished(run_group(*point, group));
    }
  }

  std::vector<run::Finished> run_group(const SweepPoint& point, const std::vector<run::Chunk>& group) {
    SolveOptions so = point.config.options;
    so.threads = threads;
    std::vector<TrajectorySpec> specs;
    for (const auto& c : group)
      for (int s = c.first_seed; s < c.first_seed + c.count; ++s)
        specs.push_back({point.config.init, ex.seed, static_cast<std::uint64_t>(s)});
    const auto start = std::chrono::steady_clock::now();
    const TrajectoryDone tick = [&](std::size_t, const TrajectoryResult& r) { progress.trajectory_done(r.status == Status::Diverged); };
    auto results = solve(*point.config.problem, specs, so, backend == "gpu" ? Backend::Gpu : Backend::Cpu, opt.gpu, tick)
                       .trajectories;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<run::Finished> out;
    std::size_t offset = 0;
    for (const auto& c : group) {
      run::ChunkFile file;
      file.backend = backend;
      file.seconds = secs;
      file.records.resize(static_cast<std::size_t>(c.count));
      for (int i = 0; i < c.count; ++i) {
        auto& rec = file.records[static_cast<std::size_t>(i)];
        rec.point = c.point;
        rec.seed_index = c.first_seed + i;
        rec.result = std::move(results[offset + static_cast<std::size_t>(i)]);
        file.diverged += rec.result.status == Status::Diverged;
      }
      offset += static_cast<std::size_t>(c.count);
      run::write_chunk(run::chunk_path(dir, c.id), ex.fingerprint, c, file);
      out.push_back({c, secs, file.diverged, backend, static_cast<int>(group.size())});
      ++chunks_run;
    }
    return out;
  }
};

// The manifest, refreshed at most every 2 s (and never more often than 20 times its own write
// time), so that runs of many short chunks do not rewrite an ever longer chunk list each time.
struct ManifestKeeper {
  run::Manifest& manifest;
  fs::path path;
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
  double cost = 0;
  void add(const std::vector<run::Finished>& done, json& session) {
    for (const auto& f : done) {
      manifest.chunks[f.chunk.id] = {f.chunk, f.seconds, f.diverged, f.backend, f.batch_of_chunks, false};
      session["chunks_run"] = session.value("chunks_run", 0) + 1;
    }
  }
  void maybe_write() {
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - last).count() < std::max(2.0, 20 * cost)) return;
    manifest.write(path.string());
    last = std::chrono::steady_clock::now();
    cost = std::chrono::duration<double>(last - now).count();
  }
};

// The cores this process may run on: all of them, shared among the MPI ranks of the machine,
// unless the launcher bound the process to a subset (Open MPI binds each of up to two ranks to
// one core by default), which is then its share.
int default_threads(const run::Comm& comm) {
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpu_set_t set;
  CPU_ZERO(&set);
  const int allowed = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : hw;
  if (allowed < hw) return std::max(1, allowed);
  return std::max(1, hw / std::max(1, comm.local_size()));
}

void print_notes(const std::vector<std::string>& notes, const char* prefix = "dlnflow: ") {
  for (const auto& n : notes) std::fprintf(stderr, "%s%s\n", prefix, n.c_str());
}

// What every rank learns from rank 0 at the end (and after set-up, whether to go on).
enum Verdict : std::int64_t { kGo = 0, kComplete = 1, kInterrupted = 2, kUsage = 3, kFailure = 4, kNothingToDo = 5 };

}  // namespace

std::string build_summary() {
  std::ostringstream s;
  s << "dlnflow " << build::kVersion << " (git " << build::kGitRevision << ")\n"
    << "build: " << build::kBuildType << ", " << build::kCompiler << "\n"
    << "CUDA compiled: " << (cuda_compiled() ? "yes" : "no") << "\n"
    << "MPI compiled: " << (run::Comm::compiled() ? "yes (mpirun -np K dlnflow run ...)" : "no") << "\n"
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

RunOutcome run_experiment(const Experiment& ex, const RunOptions& opt) { return run::run_experiment(ex, opt, {}); }

namespace {

// What every step of a run reads: the request, this process's place in it, the chunk plan, and
// the outcome it fills in.
struct RunContext {
  const Experiment& ex;
  const RunOptions& opt;
  const run::TestHooks& hooks;
  run::Comm& comm;
  run::Shard shard;
  run::ChunkPlan plan;
  fs::path dir;
  int threads = 1;
  RunOutcome outcome;
  bool root() const { return comm.rank() == 0; }
};

// Rank 0 checks the resources and prepares the folder; every rank learns the verdict (and throws
// the usage error or failure rank 0 met). Returns the folder on rank 0, nothing elsewhere.
std::optional<run::PreparedFolder> set_up(RunContext& rc, std::int64_t& verdict) {
  std::optional<run::PreparedFolder> folder;
  std::vector<std::int64_t> v{kGo};
  std::string message;
  if (rc.root()) {
    try {
      const auto need = estimate_resources(rc.ex, rc.opt.out_dir, rc.threads * rc.comm.local_size());
      if (!need.fits() && !rc.opt.force && !(rc.opt.resume && fs::exists(rc.opt.out_dir)))
        throw UsageError("this run needs more than the machine has: " + need.describe() +
                         "; lower [sweep] seeds, [record] count or save_states, or add --force to run anyway");
      folder = run::prepare_folder(rc.ex, rc.plan, rc.opt, rc.shard);
      if (folder->already_complete) v[0] = kNothingToDo;
    } catch (const UsageError& e) {
      v[0] = kUsage, message = e.what();
    } catch (const std::exception& e) {
      v[0] = kFailure, message = e.what();
    }
  }
  rc.comm.broadcast(v, 0);
  rc.comm.broadcast(message, 0);
  if (v[0] == kUsage) throw UsageError(message);
  if (v[0] == kFailure) throw std::runtime_error(message);
  verdict = v[0];
  return folder;
}

// A rank other than 0: computes what rank 0 hands it, then waits for rank 0's verdict.
RunOutcome compute_for_root(RunContext& rc) {
  run::Progress quiet(0, 0, true);
  Compute compute{rc.ex, rc.plan, rc.dir, rc.outcome.backend, rc.threads, rc.opt, rc.hooks, quiet};
  run::RemoteSource source(rc.comm, rc.plan);
  try {
    compute.loop(source);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dlnflow (rank %d): failure while running: %s\n", rc.comm.rank(), e.what());
    rc.comm.abort(3);  // finished chunks are on disk; --resume continues
  }
  source.goodbye(compute.interrupted);
  std::vector<std::int64_t> end(5);
  std::string message;
  rc.comm.broadcast(end, 0);
  rc.comm.broadcast(message, 0);
  if (end[0] == kFailure) throw std::runtime_error(message);
  RunOutcome outcome = rc.outcome;
  outcome.status = end[0] == kInterrupted ? RunStatus::Interrupted : RunStatus::Complete;
  outcome.done = static_cast<std::size_t>(end[1]), outcome.diverged = static_cast<std::size_t>(end[2]);
  outcome.reused = static_cast<std::size_t>(end[3]);
  return outcome;
}

// Rank 0's session entry in the manifest (backend, device, threads, ranks), written before any
// chunk runs; returns it for the chunk counts and the end time.
json& open_session(RunContext& rc, run::PreparedFolder& f) {
  json& meta = f.manifest.meta;
  meta["backend"] = rc.outcome.backend;
  meta["device"] = rc.outcome.backend == "gpu"
                       ? cuda_device_name() + " (CUDA, --gpu-path " + to_string(rc.opt.gpu.path) + ")"
                       : cpu_model() + " (" + std::to_string(rc.threads) + " threads)";
  if (rc.outcome.backend_reason.empty()) meta.erase("backend_reason");  // a resume may run where the first session could not
  else meta["backend_reason"] = rc.outcome.backend_reason;
  meta["threads"] = rc.threads;
  meta["ranks"] = rc.comm.size();
  json session = {{"started", run::now_iso()}, {"backend", rc.outcome.backend}, {"threads", rc.threads},
                  {"ranks", rc.comm.size()},   {"chunks_run", 0}};
  if (!f.notes.empty()) session["notes"] = f.notes;
  meta["sessions"].push_back(session);
  f.manifest.write((rc.dir / "manifest.json").string());
  return meta["sessions"].back();
}

// Rank 0 runs the schedule of chunks not yet done: alone, or on a thread of its own while its
// main thread answers the other ranks (only the main thread calls MPI). Finished chunks go into
// the manifest as they come. Returns whether the run was interrupted; a failure while computing
// is left in *failure.
bool compute_on_root(RunContext& rc, run::PreparedFolder& f, json& session, std::exception_ptr& failure) {
  std::vector<bool> todo(static_cast<std::size_t>(rc.plan.size()), false);
  for (std::int64_t id = 0; id < rc.plan.size(); ++id)
    todo[static_cast<std::size_t>(id)] = rc.shard.owns(id) && !f.done[static_cast<std::size_t>(id)];
  run::Progress progress(rc.outcome.total, f.reused, rc.opt.quiet, rc.opt.on_progress);
  run::Schedule schedule(rc.plan, std::move(todo), progress);
  ManifestKeeper keeper{f.manifest, rc.dir / "manifest.json"};
  auto record_finished = [&] {
    const auto done = schedule.take_finished();
    keeper.add(done, session);
    for (const auto& d : done) f.done[static_cast<std::size_t>(d.chunk.id)] = true;
    keeper.maybe_write();
  };
  Compute compute{rc.ex, rc.plan, rc.dir, rc.outcome.backend, rc.threads, rc.opt, rc.hooks, progress};
  const auto t0 = std::chrono::steady_clock::now();
  bool interrupted = false;
  std::atomic<bool> failed{false};
  if (!rc.comm.distributed()) {
    struct Local : run::ChunkSource {
      run::Schedule& s;
      std::function<void()> after;
      Local(run::Schedule& s, std::function<void()> a) : s(s), after(std::move(a)) {}
      std::vector<run::Chunk> next(std::size_t max) override { return s.next(max); }
      void finished(const std::vector<run::Finished>& d) override {
        s.finished(d);
        after();
      }
    } local(schedule, record_finished);
    try {
      compute.loop(local);
    } catch (...) {
      failure = std::current_exception();
    }
    interrupted = compute.interrupted;
  } else {
    std::atomic<bool> running{true};
    std::thread worker([&] {
      try {
        compute.loop(schedule);
      } catch (...) {
        failure = std::current_exception();
        failed = true;
        schedule.stop();
      }
      running = false;
    });
    const auto stop_flag = [&] { return (rc.opt.interrupt && rc.opt.interrupt->load()) || failed.load(); };
    interrupted = run::serve(rc.comm, schedule, [&] { return running.load(); }, record_finished, stop_flag);
    worker.join();
    interrupted = interrupted || compute.interrupted;
  }
  record_finished();
  progress.finish();
  rc.outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return interrupted;
}

// Rank 0 writes the data files from every checkpoint, closes the session, removes what a
// complete run no longer needs, and tells every rank how the run ended. Returns the message of a
// failure while writing ("" when none).
std::string finish_on_root(RunContext& rc, run::PreparedFolder& f, json& session, bool interrupted, bool failed) {
  RunOutcome& outcome = rc.outcome;
  json& meta = f.manifest.meta;
  const std::string manifest_path = (rc.dir / "manifest.json").string();
  std::vector<std::int64_t> end{kComplete, 0, 0, static_cast<std::int64_t>(f.reused), 0};
  std::string message;
  std::size_t missing = 0;
  for (std::int64_t id = 0; id < rc.plan.size(); ++id)
    missing += rc.shard.owns(id) && !f.done[static_cast<std::size_t>(id)];
  const bool complete = missing == 0 && !failed;
  if (!complete) interrupted = true;
  try {
    const std::string status = complete ? "complete" : "incomplete";
    // The manifest first: whatever happens while the data files are written (a full disk), it
    // lists every finished chunk.
    session["ended"] = run::now_iso();
    session["seconds"] = outcome.seconds;
    f.manifest.write(manifest_path);
    const auto files = run::write_data_files(rc.ex, rc.plan, f.done,
                                             [&](std::int64_t id) { return run::chunk_path(rc.dir, id); },
                                             rc.dir.string(), status);
    outcome.done = files.trajectories;
    outcome.diverged = files.diverged;
    outcome.unfinished = files.unfinished;
    meta["status"] = status;
    meta["trajectories"] = {{"total", outcome.total}, {"done", outcome.done}, {"diverged", outcome.diverged}};
    if (complete) meta["finished"] = run::now_iso();
    f.manifest.write(manifest_path);
    if (complete && rc.shard.count == 0) {  // every number is in the data files now (a shard keeps them for merge)
      const auto kept = run::remove_checkpoints(rc.dir.string(), rc.plan);
      if (!kept.empty() && !rc.opt.quiet)
        std::fprintf(stderr, "dlnflow: kept %zu entr%s of %s/chunks that dlnflow did not write\n", kept.size(),
                     kept.size() == 1 ? "y" : "ies", rc.dir.c_str());
    }
    if (complete) f.lock.release_and_remove();
    end = {interrupted ? kInterrupted : kComplete, static_cast<std::int64_t>(outcome.done),
           static_cast<std::int64_t>(outcome.diverged), static_cast<std::int64_t>(f.reused), 0};
  } catch (const std::exception& e) {
    end[0] = kFailure;
    message = e.what();
  }
  rc.comm.broadcast(end, 0);
  rc.comm.broadcast(message, 0);
  outcome.status = interrupted ? RunStatus::Interrupted : RunStatus::Complete;
  return end[0] == kFailure ? message : "";
}

}  // namespace

RunOutcome run::run_experiment(const Experiment& ex, const RunOptions& opt, const TestHooks& hooks) {
  run::Comm& comm = run::Comm::world();
  if (opt.shard_count < 0 || (opt.shard_count > 0 && (opt.shard_index < 0 || opt.shard_index >= opt.shard_count)))
    throw UsageError("--shard I/N needs 0 <= I < N");
  if (opt.shard_count > 0 && comm.distributed()) throw UsageError("--shard and mpirun do not mix: shard with one process each");
  RunContext rc{ex, opt, hooks, comm, {opt.shard_index, opt.shard_count}, run::ChunkPlan(ex), opt.out_dir, 1, {}};
  rc.outcome.ranks = comm.size();
  rc.outcome.backend = choose_backend(ex, opt, rc.root() && !opt.quiet, &rc.outcome.backend_reason);
  rc.threads = opt.threads > 0 ? opt.threads : default_threads(comm);
  for (std::int64_t id = 0; id < rc.plan.size(); ++id)
    if (rc.shard.owns(id)) rc.outcome.total += static_cast<std::size_t>(rc.plan[id].count);

  std::int64_t verdict = kGo;
  std::optional<run::PreparedFolder> folder = set_up(rc, verdict);
  if (verdict == kNothingToDo) {
    if (rc.root() && !opt.quiet) std::fprintf(stderr, "dlnflow: %s is already complete; nothing to do\n", opt.out_dir.c_str());
    rc.outcome.done = rc.outcome.reused = rc.outcome.total;
    return rc.outcome;
  }
  if (!rc.root()) return compute_for_root(rc);

  run::PreparedFolder& f = *folder;
  if (!opt.quiet) print_notes(f.notes);
  for (const auto& w : ex.warnings)
    if (!opt.quiet) std::fprintf(stderr, "dlnflow: warning: %s\n", w.c_str());
  rc.outcome.reused = f.reused;
  rc.outcome.diverged = f.diverged;
  json& session = open_session(rc, f);
  if (!opt.quiet && f.reused)
    std::fprintf(stderr, "dlnflow: resuming %s: %zu of %zu trajectories already done\n", rc.dir.c_str(), f.reused,
                 rc.outcome.total);
  std::exception_ptr failure;
  const bool interrupted = compute_on_root(rc, f, session, failure);
  const std::string written = finish_on_root(rc, f, session, interrupted, static_cast<bool>(failure));
  if (failure) std::rethrow_exception(failure);  // what stopped the computing, before what followed from it
  if (!written.empty()) throw std::runtime_error(written);
  return rc.outcome;
}

RunOutcome merge_results(const Experiment& ex, const std::vector<std::string>& shard_dirs, const RunOptions& opt) {
  const run::ChunkPlan plan(ex);
  if (shard_dirs.empty()) throw UsageError("merge needs the shard folders");
  RunOutcome outcome;
  outcome.total = ex.trajectories();
  outcome.backend = "merge";
  // Which shard holds each chunk, checked before anything is written.
  std::vector<std::int32_t> holder(static_cast<std::size_t>(plan.size()), -1);
  json sessions = json::array();
  std::string backend;
  for (std::size_t k = 0; k < shard_dirs.size(); ++k) {
    const fs::path d = shard_dirs[k];
    std::string why;
    if (!run::is_results_folder(d, &why)) throw UsageError("cannot merge " + d.string() + ": not a dlnflow results folder (" + why + ")");
    auto m = run::Manifest::load((d / "manifest.json").string(), plan, &why);
    if (!m) throw UsageError("cannot merge " + d.string() + ": manifest.json " + why + " (resume that shard first)");
    if (m->meta.value("fingerprint", "") != io::hex64(ex.fingerprint))
      throw UsageError("cannot merge " + d.string() + ": it is a run of another experiment (or chunk plan)");
    for (const auto& s : m->meta["sessions"]) sessions.push_back(s);
    backend = m->meta.value("backend", backend);
    for (const auto& [id, e] : m->chunks)
      if (holder[static_cast<std::size_t>(id)] < 0 && fs::is_regular_file(run::chunk_path(d, id)))
        holder[static_cast<std::size_t>(id)] = static_cast<std::int32_t>(k);
  }
  std::vector<std::int64_t> missing;
  for (std::int64_t id = 0; id < plan.size(); ++id)
    if (holder[static_cast<std::size_t>(id)] < 0) missing.push_back(id);
  if (!missing.empty())
    throw UsageError("cannot merge: " + std::to_string(missing.size()) + " of " + std::to_string(plan.size()) +
                     " chunks are in none of the shard folders (first: chunk " + std::to_string(missing.front()) + " of point " +
                     std::to_string(plan[missing.front()].point) + "); resume or run the shard that holds it");
  run::Manifest manifest = run::Manifest::fresh(ex, nullptr);
  manifest.meta["sessions"] = sessions;
  manifest.meta["backend"] = backend;
  manifest.meta["merged_from"] = shard_dirs;
  run::PreparedFolder f = run::create_folder(opt.out_dir, opt.overwrite, manifest);
  if (!opt.quiet) print_notes(f.notes);
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<bool> all(static_cast<std::size_t>(plan.size()), true);
  const auto checkpoint = [&](std::int64_t id) { return run::chunk_path(shard_dirs[static_cast<std::size_t>(holder[static_cast<std::size_t>(id)])], id); };
  const auto files = run::write_data_files(ex, plan, all, checkpoint, opt.out_dir, "complete",
                                           [&](std::int64_t id, const run::ChunkFile& c) {
                                             f.manifest.chunks[id] = {plan[id], c.seconds, c.diverged, c.backend, 1, false};
                                           });
  outcome.done = files.trajectories;
  outcome.diverged = files.diverged;
  outcome.unfinished = files.unfinished;
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  f.manifest.meta["status"] = "complete";
  f.manifest.meta["finished"] = run::now_iso();
  f.manifest.meta["trajectories"] = {{"total", outcome.total}, {"done", outcome.done}, {"diverged", outcome.diverged}};
  f.manifest.write((fs::path(opt.out_dir) / "manifest.json").string());
  fs::remove(fs::path(opt.out_dir) / "chunks");
  f.lock.release_and_remove();
  return outcome;
}

}  // namespace dlnflow
