// `dlnflow catalog`: every critical point the catalogue lists for an experiment file's problems,
// with what the Hessian says about it (dlnflow/stability.hpp). Never truncated.
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "dlnflow/app/catalog.hpp"
#include "dlnflow/error.hpp"
#include "dlnflow/stability.hpp"

namespace dlnflow::cli {

namespace {

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace

int catalog(const std::string& file, bool json) {
  std::vector<CatalogGroup> groups;
  try {
    groups = catalog_groups(load_experiment(file));
  } catch (const ExperimentError& e) {
    std::fprintf(stderr, "dlnflow: %s\n", e.what());
    return kUsage;
  } catch (const InputError& e) {
    std::fprintf(stderr, "dlnflow: %s: %s\n", file.c_str(), e.what());
    return kUsage;
  }
  nlohmann::json out = nlohmann::json::array();
  for (const CatalogGroup& g : groups) {
    std::string points, coordinates;
    for (std::size_t k = 0; k < g.points.size(); ++k) points += (k ? ", " : "") + std::to_string(g.points[k]);
    for (const auto& c : g.coordinates) coordinates += (coordinates.empty() ? "" : ", ") + c.path + " = " + c.text;
    const auto& st = g.stability;
    const auto& pts = g.catalog->points();
    if (json) {
      nlohmann::json cj = nlohmann::json::array();
      for (std::size_t i = 0; i < pts.size(); ++i) {
        const CriticalStability& s = st[i];
        nlohmann::json ev = nlohmann::json::array();
        for (Index k = 0; k < s.eigenvalues.size(); ++k) ev.push_back(s.eigenvalues(k));
        cj.push_back({{"index", i}, {"label", pts[i].label}, {"rank", pts[i].J.size()}, {"loss", pts[i].loss},
                      {"kind", to_string(s.kind)}, {"reason", s.reason}, {"hessian_negative", s.negative},
                      {"hessian_zero", s.zero}, {"hessian_positive", s.positive}, {"rate", s.rate},
                      {"escape_slope", num(s.escape_slope)}, {"order", s.order}, {"hessian_eigenvalues", ev}});
      }
      out.push_back({{"points", g.points}, {"loss", g.loss}, {"parametrization", g.parametrization},
                     {"depth", g.problem->depth()}, {"parameters", g.problem->state_size()}, {"critical_points", cj}});
      continue;
    }
    std::printf("points %s%s%s: loss %s, parametrization %s, depth %d: %zu critical points\n", points.c_str(),
                coordinates.empty() ? "" : " (", coordinates.empty() ? "" : (coordinates + ")").c_str(),
                g.loss.c_str(), g.parametrization.c_str(), g.problem->depth(), pts.size());
    std::printf("  %5s  %-14s %13s  %-17s %5s %5s %5s  %11s  %11s  %5s\n", "index", "label", "loss", "kind", "neg",
                "zero", "pos", "lambda_+", "1/lambda_+", "order");
    std::string reasons;
    for (std::size_t i = 0; i < pts.size(); ++i) {
      const CriticalStability& s = st[i];
      std::printf("  %5zu  %-14s %13.6g  %-17s", i, pts[i].label.c_str(), pts[i].loss, to_string(s.kind));
      if (s.kind == CriticalKind::NotComputed) {
        if (reasons.find(s.reason) == std::string::npos) reasons += "  not computed: " + s.reason + "\n";
        std::printf("\n");
        continue;
      }
      std::printf(" %5d %5d %5d", s.negative, s.zero, s.positive);
      if (s.kind == CriticalKind::StrictSaddle) std::printf("  %11.6g  %11.6g", s.rate, s.escape_slope);
      else std::printf("  %11s  %11s", "-", "-");
      if (s.order) std::printf("  %5d", s.order);
      std::printf("\n");
    }
    std::printf("%s", reasons.c_str());
  }
  if (json) {
    std::printf("%s\n", out.dump(1).c_str());
    return kOk;
  }
  std::printf(
      "neg/zero/pos: Hessian eigenvalues of the loss in the network's parameters below, within and above 1e-9 of "
      "the largest; lambda_+: the leading unstable rate, a start eps away leaves after ln(1/eps)/lambda_+ + O(1); "
      "order: of the first term that lowers the loss at a non-strict saddle (docs/theory.md §6.6)\n");
  return kOk;
}

}  // namespace dlnflow::cli
