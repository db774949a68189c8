// One finished trajectory of an experiment, as the result files record it (docs/results.md).
#pragma once

#include "dlnflow/solve.hpp"

namespace dlnflow {

struct TrajectoryRecord {
  int point = 0;       // sweep point index
  int seed_index = 0;  // 0 .. seeds-1; the Philox trajectory key
  TrajectoryResult result;  // with its final rank and nearest critical point, from the backend that ran
};

}  // namespace dlnflow
