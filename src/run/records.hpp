// What a finished trajectory leaves behind, and the chunk files that hold them between
// checkpoints. Chunk files store doubles as raw bytes, so a resumed run reassembles exactly
// the numbers an uninterrupted run would have.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dlnflow/experiment.hpp"
#include "dlnflow/model.hpp"
#include "dlnflow/results.hpp"

namespace dlnflow::run {

// A contiguous run of seed indices of one point: the unit of work and of checkpointing.
struct Chunk {
  int id = 0;
  int point = 0;
  int first_seed = 0;
  int count = 0;
};
std::vector<Chunk> plan_chunks(const Experiment& ex);

// Final rank and nearest critical point of a finished trajectory (model: of config's problem).
void finish_record(const PointConfig& config, Model& model, TrajectoryRecord& record);

void write_chunk(const std::string& path, std::uint64_t fingerprint, const Chunk& chunk,
                 const std::vector<TrajectoryRecord>& records);
// nullopt if the file is missing, truncated, or from another experiment or chunk.
std::optional<std::vector<TrajectoryRecord>> read_chunk(const std::string& path, std::uint64_t fingerprint,
                                                        const Chunk& chunk);

}  // namespace dlnflow::run
