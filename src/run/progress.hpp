// Progress of a long run on stderr: a redrawn bar on a terminal (done, diverged, rate, ETA),
// a plain line every few seconds otherwise (logs, CI), nothing when quiet. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>

namespace dlnflow::run {

class Progress {
 public:
  // observer: told (done, total) after every change, under the lock (may be empty).
  Progress(std::size_t total, std::size_t already_done, bool quiet,
           std::function<void(std::size_t, std::size_t)> observer = {});
  void trajectory_done(bool diverged);
  void add(std::size_t done, std::size_t diverged);  // a chunk finished elsewhere (another rank)
  void finish();

 private:
  void draw(bool final);
  using Clock = std::chrono::steady_clock;
  std::mutex mutex_;
  std::size_t total_, done_, start_done_, diverged_ = 0;
  bool quiet_, tty_, finished_ = false;
  std::function<void(std::size_t, std::size_t)> observer_;
  Clock::time_point start_, last_draw_;
};

}  // namespace dlnflow::run
