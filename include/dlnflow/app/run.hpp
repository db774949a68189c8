// Runs an experiment into a results folder: manifest.json, summary.csv, trajectories.h5
// (docs/results.md), checkpointed chunk by chunk so an interrupted run resumes where it stopped.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "dlnflow/app/experiment.hpp"
#include "dlnflow/solve.hpp"

namespace dlnflow {

// A request that cannot be carried out as asked (folder exists, nothing to resume, no GPU...).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RunOptions {
  std::string out_dir;
  Backend backend = Backend::Auto;  // Auto: the GPU when one is usable and covers every point, else the CPU
  GpuOptions gpu;
  int threads = 0;               // 0: all hardware threads (shared among the MPI ranks of a machine)
  bool resume = false;
  bool overwrite = false;        // replace an existing results folder (only a dlnflow one)
  bool force = false;            // run although the estimate exceeds free memory or disk
  bool quiet = false;
  // Shard I of N (Slurm job arrays): only chunks with id % N == I, into a folder of their own
  // that `merge` joins. count 0: not sharded.
  int shard_index = 0, shard_count = 0;
  // Set (e.g. by a signal handler) to stop after the chunk in flight.
  const std::atomic<bool>* interrupt = nullptr;
  // Told (done, total) trajectories after each one finishes, from the thread that ran it, under
  // a lock: keep it short (the Python module stores the counts for its progress bar).
  std::function<void(std::size_t done, std::size_t total)> on_progress;
};

enum class RunStatus { Complete, Interrupted };

struct RunOutcome {
  RunStatus status = RunStatus::Complete;
  std::size_t done = 0, total = 0, diverged = 0, reused = 0;  // reused: loaded from checkpoints
  double seconds = 0.0;
  std::string backend;
  std::string backend_reason;                      // why --backend auto ran on the CPU ("" otherwise)
  int ranks = 1;                                   // MPI processes that computed
  // Status -> count for trajectories that neither finished the flow nor diverged (step_underflow,
  // max_steps, failed): what the closing line reports beside the diverged count.
  std::vector<std::pair<std::string, std::size_t>> unfinished;
};

// Throws UsageError for requests that cannot start, std::runtime_error for failures while running.
// Under MPI every rank calls it; rank 0 owns the folder and writes the data files, and every rank
// returns the same outcome.
RunOutcome run_experiment(const Experiment& experiment, const RunOptions& options);

// Joins the folders of `run --shard I/N` (any order, each complete) into options.out_dir: the
// data files are byte for byte those of one unsharded run.
RunOutcome merge_results(const Experiment& experiment, const std::vector<std::string>& shard_dirs,
                         const RunOptions& options);

// What `check` and `run` estimate a run needs, against what the machine has.
struct ResourceEstimate {
  double memory_bytes = 0;      // peak while running and writing (one chunk's records, workspaces, data)
  double disk_bytes = 0;        // trajectories.h5 + summary.csv + checkpoints at their peak
  double memory_available = 0;  // MemAvailable
  double disk_available = -1;   // on the results folder's file system; -1 unknown
  bool fits() const { return memory_bytes <= memory_available && (disk_available < 0 || disk_bytes <= disk_available); }
  std::string describe() const;
};
ResourceEstimate estimate_resources(const Experiment& experiment, const std::string& out_dir, int threads);

// What `dlnflow info` prints about this build.
std::string build_summary();

}  // namespace dlnflow
