// `dlnflow check`: validate an experiment file and show what a run would do, without running.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "../run/records.hpp"
#include "commands.hpp"
#include "dlnflow/app/experiment.hpp"
#include "dlnflow/app/run.hpp"

namespace dlnflow::cli {

int check(const std::string& file, const std::string& out_dir, bool force) {
  Experiment ex;
  try {
    ex = load_experiment(file);
  } catch (const ExperimentError& e) {
    std::fprintf(stderr, "dlnflow: %s\n", e.what());
    return kUsage;
  }
  const SweepPoint first = ex.point(0);
  const auto resolved = nlohmann::json::parse(first.config.resolved_json);
  std::printf("%s: valid\n", file.c_str());
  for (const auto& w : ex.warnings) std::printf("warning: %s\n", w.c_str());
  std::printf("experiment: %s%s%s\n", ex.name.c_str(), ex.description.empty() ? "" : " — ", ex.description.c_str());
  std::printf("loss: %s; parametrization: %s\n", resolved["problem"].value("loss", "?").c_str(),
              resolved["network"].value("parametrization", "?").c_str());
  std::printf("sweep: %zu point(s) x %d seed(s) = %zu trajectories, in %lld chunk(s) of <= %d\n", ex.point_count(), ex.seeds,
              ex.trajectories(), static_cast<long long>(run::ChunkPlan(ex).size()), ex.chunk_size);
  const std::size_t shown = std::min<std::size_t>(ex.point_count(), 20);
  double steps_total = 0;
  bool adaptive = false;
  for (std::size_t i = 0; i < ex.point_count(); ++i) {
    const SweepPoint p = i == 0 ? first : ex.point(i, false);
    const auto& c = p.config;
    const auto& in = c.options.integrator;
    const double T = c.options.stop.t_final;
    double steps = is_adaptive(in.method) ? static_cast<double>(in.max_steps)
                                                       : std::min<double>(std::ceil(T / in.dt), static_cast<double>(in.max_steps));
    adaptive |= is_adaptive(in.method);
    steps_total += steps * ex.seeds;
    if (i < shown) {
      std::printf("  point %d:", p.index);
      for (const auto& co : p.coordinates) std::printf(" %s = %s", co.path.c_str(), co.text.c_str());
      std::printf("%s state %lld numbers, %s, t_final = %g, %s %.4g steps per trajectory, %zu record times, %zu event(s)\n",
                  p.coordinates.empty() ? "" : ";", static_cast<long long>(c.problem->state_size()), to_string(in.method), T,
                  is_adaptive(in.method) ? "(adaptive) at most" : "", steps, c.options.record.times.size(),
                  c.event_names.size());
    }
  }
  if (shown < ex.point_count()) std::printf("  ... and %zu more point(s)\n", ex.point_count() - shown);
  if (const auto& catalog = first.config.catalog) {
    const auto& pts = catalog->points();
    // All of them: `init.kind = "critical_point"` takes an index from this list.
    std::printf("critical points (point 0, index: label, loss):");
    for (std::size_t i = 0; i < pts.size(); ++i)
      std::printf("%s %zu: %s %.6g", i % 4 ? "," : "\n ", i, pts[i].label.c_str(), pts[i].loss);
    std::printf("\n");
  }
  std::printf("steps bound: %.4g steps in all%s\n", steps_total,
              adaptive ? " (adaptive points counted at max_steps; real runs take far fewer)" : "");
  const std::string out = out_dir.empty() ? (std::filesystem::path("results") / ex.name).string() : out_dir;
  const auto need = estimate_resources(ex, out, 0);
  std::printf("needs: %s\n", need.describe().c_str());
  if (!need.fits()) {
    std::fprintf(stderr, "dlnflow: %s: this run needs more than the machine has (%s); `run` refuses it without --force\n",
                 file.c_str(), need.describe().c_str());
    return force ? kOk : kUsage;
  }
  return kOk;
}

}  // namespace dlnflow::cli
