#include <map>
#include <nlohmann/json.hpp>

#include "dlnflow/app/catalog.hpp"
#include "dlnflow/error.hpp"

namespace dlnflow {

std::vector<CatalogGroup> catalog_groups(const Experiment& ex) {
  std::map<std::string, std::size_t> index;
  std::vector<CatalogGroup> groups;
  for (std::size_t i = 0; i < ex.point_count(); ++i) {
    const SweepPoint p = ex.point(i);
    const auto r = nlohmann::json::parse(p.config.resolved_json);
    auto [it, fresh] = index.emplace(r["problem"].dump() + r["network"].dump(), groups.size());
    if (fresh) {
      CatalogGroup g;
      for (const auto& c : p.coordinates)  // only what decides the catalogue
        if (c.path.rfind("problem.", 0) == 0 || c.path.rfind("network.", 0) == 0) g.coordinates.push_back(c);
      g.loss = r["problem"].value("loss", "?");
      g.parametrization = r["network"].value("parametrization", "?");
      g.problem = p.config.problem;
      try {
        g.catalog = std::make_shared<const CriticalPointCatalog>(*g.problem);
      } catch (const InputError& e) {
        throw InputError("problem", "sweep point " + std::to_string(p.index) + " has no catalogue: " + e.what());
      }
      g.stability = catalog_stability(*g.problem, *g.catalog);
      groups.push_back(std::move(g));
    }
    groups[it->second].points.push_back(p.index);
  }
  return groups;
}

}  // namespace dlnflow
