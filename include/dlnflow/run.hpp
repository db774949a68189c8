// Runs an experiment into a results folder: manifest.json, summary.csv, trajectories.h5
// (docs/results.md), checkpointed chunk by chunk so an interrupted run resumes where it stopped.
#pragma once

#include <atomic>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "dlnflow/experiment.hpp"

namespace dlnflow {

// A request that cannot be carried out as asked (folder exists, nothing to resume, no GPU...).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RunOptions {
  std::string out_dir;
  std::string backend = "auto";  // auto | cpu | gpu (auto: the GPU when one is usable, else the CPU)
  std::string gpu_path = "auto"; // auto | fused | batched
  std::string gpu_team = "auto"; // auto | warp | block (fused path: threads per trajectory)
  int threads = 0;               // 0: all hardware threads
  bool resume = false;
  bool overwrite = false;        // replace an existing results folder
  bool quiet = false;
  // Set (e.g. by a signal handler) to stop after the chunk in flight.
  const std::atomic<bool>* interrupt = nullptr;
  // Act as if interrupted once this many chunks have run in this session (testing aid; -1 = off).
  int stop_after_chunks = -1;
};

enum class RunStatus { Complete, Interrupted };

struct RunOutcome {
  RunStatus status = RunStatus::Complete;
  std::size_t done = 0, total = 0, diverged = 0, reused = 0;  // reused: loaded from checkpoints
  double seconds = 0.0;
  std::string backend;
};

// Throws UsageError for requests that cannot start, std::runtime_error for failures while running.
RunOutcome run_experiment(const Experiment& experiment, const RunOptions& options);

// What `dlnflow info` prints about this build.
std::string build_summary();

}  // namespace dlnflow
