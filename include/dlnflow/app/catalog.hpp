// The critical-point catalogues of an experiment's sweep and what their Hessians say
// (dlnflow/stability.hpp): what `dlnflow catalog` prints and dlnflow.catalog() returns.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dlnflow/app/experiment.hpp"
#include "dlnflow/stability.hpp"

namespace dlnflow {

// Points whose [problem] and [network] resolve the same share one catalogue.
struct CatalogGroup {
  std::vector<int> points;               // sweep point indices, increasing
  std::vector<Coordinate> coordinates;   // of the first point: its swept problem.* and network.* keys
  std::string loss, parametrization;     // as the file resolves them
  std::shared_ptr<const Problem> problem;
  std::shared_ptr<const CriticalPointCatalog> catalog;
  std::vector<CriticalStability> stability;  // one per catalogued point
};

// Throws InputError naming the loss where a group's problem has no catalogue (the catalogue
// exists for the square and Bures-Wasserstein losses).
std::vector<CatalogGroup> catalog_groups(const Experiment& ex);

}  // namespace dlnflow
