#include "schedule.hpp"

#include <chrono>
#include <cstring>
#include <thread>

namespace dlnflow::run {

namespace {

enum Tag { kRequest = 1, kAssign = 2, kResult = 3, kGoodbye = 4 };

std::int64_t bits_of(double v) {
  std::int64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}
double double_of(std::int64_t b) {
  double v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

}  // namespace

Schedule::Schedule(const ChunkPlan& plan, std::vector<bool> todo, Progress& progress)
    : plan_(plan), todo_(std::move(todo)), progress_(progress) {}

std::vector<Chunk> Schedule::next(std::size_t max_trajectories) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Chunk> out;
  if (stopped_) return out;
  while (cursor_ < plan_.size() && !todo_[static_cast<std::size_t>(cursor_)]) ++cursor_;
  std::size_t in_group = 0;
  while (cursor_ < plan_.size() && todo_[static_cast<std::size_t>(cursor_)]) {
    const Chunk c = plan_[cursor_];
    if (!out.empty() && (c.point != out.front().point || in_group + static_cast<std::size_t>(c.count) > max_trajectories)) break;
    out.push_back(c);
    in_group += static_cast<std::size_t>(c.count);
    todo_[static_cast<std::size_t>(cursor_++)] = false;
  }
  return out;
}

void Schedule::finished(const std::vector<Finished>& done) { record(done, false); }

void Schedule::finished_remote(const std::vector<Finished>& done) { record(done, true); }

void Schedule::record(const std::vector<Finished>& done, bool remote) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (Finished f : done) {
    f.chunk = plan_[f.chunk.id];
    if (remote) progress_.add(static_cast<std::size_t>(f.chunk.count), f.diverged);
    pending_.push_back(f);
    ++chunks_;
    trajectories_ += static_cast<std::size_t>(f.chunk.count);
    diverged_ += f.diverged;
  }
}

void Schedule::stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  stopped_ = true;
}

std::vector<Finished> Schedule::take_finished() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Finished> out;
  out.swap(pending_);
  return out;
}

std::size_t Schedule::chunks_finished() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return chunks_;
}
std::size_t Schedule::trajectories_finished() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return trajectories_;
}
std::size_t Schedule::diverged() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return diverged_;
}

std::vector<Chunk> RemoteSource::next(std::size_t max_trajectories) {
  comm_.send(0, kRequest, {static_cast<std::int64_t>(max_trajectories)});
  const auto a = comm_.receive(0, kAssign);
  std::vector<Chunk> out;
  for (std::int64_t k = 0; k < a.at(1); ++k) out.push_back(plan_[a.at(0) + k]);
  return out;
}

void RemoteSource::finished(const std::vector<Finished>& done) {
  for (const auto& f : done)
    comm_.send(0, kResult,
               {f.chunk.id, static_cast<std::int64_t>(f.diverged), bits_of(f.seconds), f.backend == "gpu" ? 1 : 0,
                f.batch_of_chunks});
}

void RemoteSource::goodbye(bool interrupted) { comm_.send(0, kGoodbye, {interrupted ? 1 : 0}); }

bool serve(Comm& comm, Schedule& schedule, const std::function<bool()>& local_running, const std::function<void()>& tick,
           const std::function<bool()>& interrupted) {
  int remote = comm.size() - 1;
  bool any_interrupted = false;
  auto last_tick = std::chrono::steady_clock::now();
  while (remote > 0 || local_running()) {
    if (interrupted()) schedule.stop();
    int source = 0, tag = 0;
    if (remote > 0 && comm.probe(&source, &tag)) {
      const auto m = comm.receive(source, tag);
      if (tag == kRequest) {
        const auto chunks = schedule.next(static_cast<std::size_t>(m.at(0)));
        comm.send(source, kAssign, {chunks.empty() ? 0 : chunks.front().id, static_cast<std::int64_t>(chunks.size())});
      } else if (tag == kResult) {
        Finished f;
        f.diverged = static_cast<std::size_t>(m.at(1));
        f.seconds = double_of(m.at(2));
        f.backend = m.at(3) ? "gpu" : "cpu";
        f.batch_of_chunks = static_cast<int>(m.at(4));
        f.chunk.id = m.at(0);
        schedule.finished_remote({f});
      } else if (tag == kGoodbye) {
        --remote;
        if (m.at(0)) {
          any_interrupted = true;
          schedule.stop();  // one rank interrupted: the run stops, as a one-process run would
        }
      }
      continue;
    }
    if (std::chrono::steady_clock::now() - last_tick > std::chrono::milliseconds(100)) {
      tick();
      last_tick = std::chrono::steady_clock::now();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return any_interrupted;
}

}  // namespace dlnflow::run
