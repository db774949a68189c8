// Writers of the results folder's data files (layout in docs/results.md). They are fed chunk
// by chunk, in chunk order, so that a run of a million trajectories is written in the memory of
// one chunk. Each file is written under a temporary name and renamed into place by commit(), so
// a reader never sees half a file; a writer destroyed without commit() removes its temporary.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "dlnflow/app/experiment.hpp"
#include "dlnflow/app/results.hpp"

namespace dlnflow::io {

// Shortest text that reads back to the same double; "nan", "inf", "-inf" otherwise.
std::string format_double(double v);

// One row per record, records in point then seed order.
class SummaryCsvWriter {
 public:
  SummaryCsvWriter(const std::string& path, const Experiment& ex);
  ~SummaryCsvWriter();
  SummaryCsvWriter(const SummaryCsvWriter&) = delete;
  SummaryCsvWriter& operator=(const SummaryCsvWriter&) = delete;
  void add(const SweepPoint& point, const std::vector<TrajectoryRecord>& records);
  void commit();

 private:
  std::string path_, tmp_;
  std::FILE* file_ = nullptr;
  int seeds_ = 1;
  bool implicit_ = false;  // some point may take implicit steps: their share gets columns
};

class TrajectoriesH5Writer {
 public:
  // done[p]: how many trajectories of point p will be added (the first dimension of its datasets).
  TrajectoriesH5Writer(const std::string& path, const Experiment& ex, const std::string& status,
                       std::vector<std::size_t> done);
  ~TrajectoriesH5Writer();
  TrajectoriesH5Writer(const TrajectoriesH5Writer&) = delete;
  TrajectoriesH5Writer& operator=(const TrajectoriesH5Writer&) = delete;
  // Points in increasing order, each point's records in seed order, chunk after chunk.
  void add(const SweepPoint& point, const std::vector<TrajectoryRecord>& records);
  void commit();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Names of the matrices of a state (W1..WN, U, or W), in state order.
std::vector<std::string> state_matrix_names(const Problem& problem);

}  // namespace dlnflow::io
