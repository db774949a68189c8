// What a run will need, so that `check` can say it and `run` can refuse before the first chunk:
// memory is the peak of one chunk's records (a GPU batch on the GPU), the integrators'
// workspaces, the problem's data and catalogue; disk is the data files plus the checkpoints they
// are written from (both exist until the run completes).
#include <algorithm>
#include <cmath>
#include <sstream>
#include <thread>

#include "../io/memory_budget.hpp"
#include "dlnflow/app/run.hpp"

namespace dlnflow {

namespace {

double problem_doubles(const Problem& p) {
  const double r = static_cast<double>(p.rows()), c = static_cast<double>(p.cols());
  return std::visit(
      [&](const auto& l) -> double {
        using L = std::decay_t<decltype(l)>;
        if constexpr (std::is_same_v<L, SquareLoss>) return 2 * (c * c + r * c);  // statistics and the centred form
        if constexpr (std::is_same_v<L, BuresWassersteinLoss>) return 4 * r * r;
        if constexpr (std::is_same_v<L, SensingLoss>) return static_cast<double>(l.A.size()) * r * c + static_cast<double>(l.y.size());
        if constexpr (std::is_same_v<L, CompletionLoss>) return r * c + static_cast<double>(l.omega.size());
        return 0.0;
      },
      p.loss());
}

double max_block_doubles(const Problem& p) {
  double m = static_cast<double>(p.rows()) * static_cast<double>(p.cols());
  for (const auto& b : p.blocks()) m = std::max(m, static_cast<double>(b[0]) * static_cast<double>(b[1]));
  return m;
}

}  // namespace

std::string ResourceEstimate::describe() const {
  std::ostringstream s;
  s << "memory " << io::bytes_text(memory_bytes) << " (" << io::bytes_text(memory_available) << " available), disk "
    << io::bytes_text(disk_bytes);
  if (disk_available >= 0) s << " (" << io::bytes_text(disk_available) << " free)";
  return s.str();
}

ResourceEstimate estimate_resources(const Experiment& ex, const std::string& out_dir, int threads) {
  ResourceEstimate e;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::size_t n = ex.point_count();
  // A million points are estimated from 10000 of them, evenly spread, scaled.
  const std::size_t stride = std::max<std::size_t>(1, n / 10000);
  double disk = 0, peak = 0;
  std::size_t seen = 0;
  for (std::size_t i = 0; i < n; i += stride, ++seen) {
    const SweepPoint p = ex.point(i, false);
    const PointConfig& c = p.config;
    const Problem& prob = *c.problem;
    const double T = static_cast<double>(c.options.record.times.size());
    const double r = static_cast<double>(std::min(prob.rows(), prob.cols()));
    const double state = static_cast<double>(prob.state_size());
    const double E = static_cast<double>(c.options.events.size());
    const double states_saved = (c.save_states == SaveStates::Final ? 1 : 0) + (c.save_states == SaveStates::Endpoints ? 2 : 0) +
                                (c.save_states == SaveStates::Recorded ? T : 0);
    const double h5 = 8 * (T * (r + 6) + 12 + E + states_saved * state);
    const double csv = 120 + 24 * (E + static_cast<double>(ex.axes.size()));
    disk += (2 * h5 + csv) * ex.seeds;  // data files and the checkpoints they are read from
    // In memory: the records of a chunk (as results, as a checkpoint's bytes, as the writers'
    // arrays), about 80 bytes of bookkeeping per sample, and per thread a Model and a stepper.
    const double record = 8 * (T * (r + 6 + (c.options.record.keep_states ? state : 0)) + state + E) + 80 * T + 512;
    const double batch = std::min<double>(ex.seeds, ex.chunk_size);
    const double workspace = 8 * (16 * state + 4 * prob.depth() * max_block_doubles(prob));
    const double catalog = c.catalog ? 8.0 * static_cast<double>(c.catalog->points().size()) *
                                           static_cast<double>(prob.rows()) * static_cast<double>(prob.cols())
                                     : 0;
    peak = std::max(peak, 3 * record * batch + threads * workspace + 8 * problem_doubles(prob) + catalog);
  }
  e.disk_bytes = disk * static_cast<double>(n) / static_cast<double>(std::max<std::size_t>(seen, 1));
  e.memory_bytes = peak + 64.0 * (1 << 20);  // the program itself
  e.memory_available = static_cast<double>(io::available_memory_bytes());
  e.disk_available = io::free_disk_bytes(out_dir);
  return e;
}

}  // namespace dlnflow
