// One finished trajectory of an experiment, as the result files record it (docs/results.md).
#pragma once

#include "dlnflow/solve.hpp"

namespace dlnflow {

struct TrajectoryRecord {
  int point = 0;       // sweep point index
  int seed_index = 0;  // 0 .. seeds-1; the Philox trajectory key
  TrajectoryResult result;
  int final_rank = -1;                   // -1 when the final state is not finite
  int final_critical = -1;               // nearest catalogued critical point, -1 without a catalog
  double final_critical_distance = 0.0;  // NaN without a catalog
};

}  // namespace dlnflow
