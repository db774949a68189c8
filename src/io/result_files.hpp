// Writers of the results folder's data files (layout in docs/results.md). Each is written to a
// temporary name and renamed into place, so a reader never sees half a file.
#pragma once

#include <string>
#include <vector>

#include "dlnflow/experiment.hpp"
#include "dlnflow/results.hpp"

namespace dlnflow::io {

// Shortest text that reads back to the same double; "nan", "inf", "-inf" otherwise.
std::string format_double(double v);

// One row per record (records sorted by point, then seed).
void write_summary_csv(const std::string& path, const Experiment& ex, const std::vector<TrajectoryRecord>& records);

void write_trajectories_h5(const std::string& path, const Experiment& ex,
                           const std::vector<TrajectoryRecord>& records, const std::string& status);

// Names of the matrices of a state (W1..WN, U, or W), in state order.
std::vector<std::string> state_matrix_names(const Problem& problem);

}  // namespace dlnflow::io
