// The data files of a results folder, written from the checkpoints read back from disk, chunk
// after chunk in plan order: an uninterrupted run, a resumed one, an MPI run and a merge of
// shards take the same path to the same bytes, in the memory of one chunk.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "records.hpp"

namespace dlnflow::run {

struct Assembled {
  std::size_t trajectories = 0, diverged = 0;
  std::vector<std::pair<std::string, std::size_t>> unfinished;  // statuses that did not finish the flow
};

// checkpoint(id): where chunk id's checkpoint is. Only chunks with done[id] are written.
Assembled write_data_files(const Experiment& ex, const ChunkPlan& plan, const std::vector<bool>& done,
                           const std::function<std::string(std::int64_t)>& checkpoint, const std::string& dir,
                           const std::string& status,
                           const std::function<void(std::int64_t, const ChunkFile&)>& on_chunk = {});

// After a complete run: the plan's checkpoints and the chunks/ folder if that leaves it empty.
// Returns what was kept (entries dlnflow did not write).
std::vector<std::string> remove_checkpoints(const std::string& dir, const ChunkPlan& plan);

}  // namespace dlnflow::run
