// `dlnflow check`: validate an experiment file and show what a run would do, without running.
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "../run/records.hpp"
#include "commands.hpp"
#include "dlnflow/experiment.hpp"

namespace dlnflow::cli {

namespace {

std::string bytes_text(double b) {
  const char* unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g %s", b, unit[u]);
  return buf;
}

const char* method_name(Method m) {
  return m == Method::Euler ? "euler" : m == Method::RK4 ? "rk4" : "dopri5 (adaptive)";
}

}  // namespace

int check(const std::string& file) {
  Experiment ex;
  try {
    ex = load_experiment(file);
  } catch (const ExperimentError& e) {
    std::fprintf(stderr, "dlnflow: %s\n", e.what());
    return kUsage;
  }
  const auto resolved = nlohmann::json::parse(ex.points.front().config.resolved_json);
  std::printf("%s: valid\n", file.c_str());
  std::printf("experiment: %s%s%s\n", ex.name.c_str(), ex.description.empty() ? "" : " — ", ex.description.c_str());
  std::printf("loss: %s; parametrization: %s\n", resolved["problem"].value("loss", "?").c_str(),
              resolved["network"].value("parametrization", "?").c_str());
  std::printf("sweep: %zu point(s) x %d seed(s) = %zu trajectories, in %zu chunk(s) of <= %d\n", ex.points.size(), ex.seeds,
              ex.trajectories(), run::plan_chunks(ex).size(), ex.chunk_size);
  const std::size_t shown = std::min<std::size_t>(ex.points.size(), 20);
  double steps_total = 0, mem = 0, h5 = 0;
  bool adaptive = false;
  for (const auto& p : ex.points) {
    const auto& c = p.config;
    const auto& in = c.options.integrator;
    const double T = c.options.stop.t_final;
    double steps = in.method == Method::DormandPrince54 ? static_cast<double>(in.max_steps)
                                                       : std::min<double>(std::ceil(T / in.dt), static_cast<double>(in.max_steps));
    adaptive |= in.method == Method::DormandPrince54;
    steps_total += steps * ex.seeds;
    const double n_t = static_cast<double>(c.options.record.times.size());
    const double r = static_cast<double>(std::min(c.problem->rows(), c.problem->cols()));
    const double state = static_cast<double>(c.problem->state_size());
    const double per_traj_h5 = 8 * (n_t * (r + 6) + 12 + static_cast<double>(c.event_names.size())) +
                               (c.save_states == SaveStates::Final ? 8 * state : 0) +
                               (c.save_states == SaveStates::Endpoints ? 16 * state : 0) +
                               (c.save_states == SaveStates::Recorded ? 8 * n_t * state : 0);
    h5 += per_traj_h5 * ex.seeds;
    mem += (per_traj_h5 + 8 * state + 96 * n_t) * ex.seeds;
    if (static_cast<std::size_t>(p.index) < shown) {
      std::printf("  point %d:", p.index);
      for (const auto& co : p.coordinates) std::printf(" %s = %s", co.path.c_str(), co.text.c_str());
      std::printf("%s state %lld numbers, %s, t_final = %g, %s %.4g steps per trajectory, %zu record times, %zu event(s)\n",
                  p.coordinates.empty() ? "" : ";", static_cast<long long>(state), method_name(in.method), T,
                  in.method == Method::DormandPrince54 ? "at most" : "", steps, c.options.record.times.size(),
                  c.event_names.size());
    }
  }
  if (shown < ex.points.size()) std::printf("  ... and %zu more point(s)\n", ex.points.size() - shown);
  if (const auto& catalog = ex.points.front().config.catalog) {
    const auto& pts = catalog->points();
    std::printf("critical points (point 0, index: label, loss):");
    for (std::size_t i = 0; i < std::min<std::size_t>(pts.size(), 24); ++i)
      std::printf("%s %zu: %s %.6g", i % 4 ? "," : "\n ", i, pts[i].label.c_str(), pts[i].loss);
    std::printf("%s\n", pts.size() > 24 ? " ..." : "");
  }
  std::printf("steps bound: %.4g steps in all%s\n", steps_total,
              adaptive ? " (adaptive points counted at max_steps; real runs take far fewer)" : "");
  std::printf("memory estimate: %s of results held while writing; trajectories.h5 about %s\n", bytes_text(mem).c_str(),
              bytes_text(h5).c_str());
  return kOk;
}

}  // namespace dlnflow::cli
