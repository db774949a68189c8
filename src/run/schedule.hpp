// Who computes which chunk. Rank 0 owns the schedule: it hands out runs of consecutive chunks
// of one point (dynamically, because trajectory costs differ by orders of magnitude) to its own
// compute loop and, under MPI, to every other rank, and it keeps the ledger of finished chunks
// that becomes the manifest. Every rank runs the same compute loop against a ChunkSource.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "comm.hpp"
#include "manifest.hpp"
#include "progress.hpp"
#include "records.hpp"

namespace dlnflow::run {

struct Finished {
  Chunk chunk;
  double seconds = 0.0;
  std::size_t diverged = 0;
  std::string backend;
  int batch_of_chunks = 1;
};

// Where a compute loop gets work and reports it done.
class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  // Consecutive chunks of one point with at most max_trajectories in all (at least one chunk);
  // empty when there is nothing left or the run is stopping.
  virtual std::vector<Chunk> next(std::size_t max_trajectories) = 0;
  virtual void finished(const std::vector<Finished>& done) = 0;
};

// Rank 0's state: what is left to hand out, and what has been finished. Thread-safe.
class Schedule : public ChunkSource {
 public:
  // todo[id]: chunk id is to be computed (not done, and this process's or shard's to do).
  Schedule(const ChunkPlan& plan, std::vector<bool> todo, Progress& progress);
  std::vector<Chunk> next(std::size_t max_trajectories) override;
  void finished(const std::vector<Finished>& done) override;  // progress counted per trajectory already
  void finished_remote(const std::vector<Finished>& done);    // another rank's: counted here
  void stop();  // hand out nothing more (interrupt)
  // Entries finished since the last call, for the manifest.
  std::vector<Finished> take_finished();
  std::size_t chunks_finished() const;
  std::size_t trajectories_finished() const;
  std::size_t diverged() const;

 private:
  void record(const std::vector<Finished>& done, bool remote);

  const ChunkPlan& plan_;
  std::vector<bool> todo_;
  Progress& progress_;
  mutable std::mutex mutex_;
  std::int64_t cursor_ = 0;
  bool stopped_ = false;
  std::vector<Finished> pending_;
  std::size_t chunks_ = 0, trajectories_ = 0, diverged_ = 0;
};

// A rank other than 0: asks rank 0 over MPI.
class RemoteSource : public ChunkSource {
 public:
  RemoteSource(Comm& comm, const ChunkPlan& plan) : comm_(comm), plan_(plan) {}
  std::vector<Chunk> next(std::size_t max_trajectories) override;
  void finished(const std::vector<Finished>& done) override;
  void goodbye(bool interrupted);

 private:
  Comm& comm_;
  const ChunkPlan& plan_;
};

// Rank 0 under MPI: answers the other ranks until each has said goodbye, while `local` (its
// own compute loop, on another thread) runs; calls `tick` about every 100 ms (the manifest).
// Returns whether any rank stopped on an interrupt.
bool serve(Comm& comm, Schedule& schedule, const std::function<bool()>& local_running, const std::function<void()>& tick,
           const std::function<bool()>& interrupted);

}  // namespace dlnflow::run
