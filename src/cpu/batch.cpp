// Many trajectories of one Problem across all cores: one Model (scratch space) per thread, a
// shared atomic work index, results stored by trajectory so the order never depends on timing.
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

#include "batch.hpp"
#include "solve_internal.hpp"

namespace dlnflow::cpu {

std::vector<TrajectoryResult> solve_batch(const Problem& problem, const std::vector<TrajectorySpec>& specs,
                                          const SolveOptions& options, const TrajectoryDone& on_done) {
  if (specs.empty()) return {};
  std::vector<TrajectoryResult> results(specs.size());
  int threads = options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, std::min<int>(threads, static_cast<int>(specs.size())));
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;

  auto worker = [&] {
    Model model(problem);
    Runner runner(model, options, options.record.catalog);
    while (true) {
      const std::size_t i = next.fetch_add(1);
      if (i >= specs.size()) return;
      try {
        const Vec y0 = initial_state(problem, specs[i].init, specs[i].seed, specs[i].trajectory);
        results[i] = runner.run(y0);
        if (on_done) on_done(i, results[i]);
      } catch (...) {  // bad input in an initial condition: the whole batch is misconfigured
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next.store(specs.size());
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
  return results;
}

}  // namespace dlnflow::cpu
