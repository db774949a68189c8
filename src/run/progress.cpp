#include "progress.hpp"

#include <cstdio>
#include <string>
#include <unistd.h>

namespace dlnflow::run {

namespace {
std::string clock_text(double s) {
  if (!(s >= 0) || s > 1e7) return "--:--";
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}
}  // namespace

Progress::Progress(std::size_t total, std::size_t already_done, bool quiet,
                   std::function<void(std::size_t, std::size_t)> observer)
    : total_(total), done_(already_done), start_done_(already_done), quiet_(quiet), tty_(::isatty(2) != 0),
      observer_(std::move(observer)), start_(Clock::now()), last_draw_(start_) {
  if (observer_) observer_(done_, total_);
  if (!quiet_ && tty_) draw(false);
}

void Progress::trajectory_done(bool diverged) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++done_;
  diverged_ += diverged;
  if (observer_) observer_(done_, total_);
  if (quiet_) return;
  const auto now = Clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since >= (tty_ ? 0.1 : 10.0)) draw(false);
}

void Progress::add(std::size_t done, std::size_t diverged) {
  std::lock_guard<std::mutex> lock(mutex_);
  done_ += done;
  diverged_ += diverged;
  if (observer_) observer_(done_, total_);
  if (quiet_) return;
  const double since = std::chrono::duration<double>(Clock::now() - last_draw_).count();
  if (since >= (tty_ ? 0.1 : 10.0)) draw(false);
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (quiet_ || finished_) return;
  finished_ = true;
  draw(true);
}

void Progress::draw(bool final) {
  last_draw_ = Clock::now();
  const double elapsed = std::chrono::duration<double>(last_draw_ - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_ - start_done_) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : -1.0;
  char stats[160];
  std::snprintf(stats, sizeof stats, "%zu/%zu trajectories, %zu diverged, %.3g traj/s, %s %s", done_, total_, diverged_,
                rate, final ? "elapsed" : "ETA", clock_text(final ? elapsed : eta).c_str());
  if (tty_) {
    const int width = 30;
    const int fill = total_ ? static_cast<int>(width * done_ / total_) : width;
    std::string bar(fill, '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r[%s] %s\033[K%s", bar.c_str(), stats, final ? "\n" : "");
  } else {
    std::fprintf(stderr, "dlnflow: %s\n", stats);
  }
  std::fflush(stderr);
}

}  // namespace dlnflow::run
