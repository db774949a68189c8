// The chunk plan, what a finished trajectory leaves behind, and the checkpoint files that hold
// a chunk of them until the data files are written. Checkpoints store doubles as raw bytes, so
// a resumed run reassembles exactly the numbers an uninterrupted run would have, and end in a
// checksum (XXH3-64) so that a damaged one is recomputed, never trusted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dlnflow/app/experiment.hpp"
#include "dlnflow/app/results.hpp"

namespace dlnflow::run {

// A contiguous run of seed indices of one point: the unit of work and of checkpointing.
struct Chunk {
  std::int64_t id = 0;
  int point = 0;
  int first_seed = 0;
  int count = 0;
};

// Chunks in id order: point by point, seeds ascending within a point. Computed, not stored, so
// a plan of 1e8 chunks costs nothing.
class ChunkPlan {
 public:
  explicit ChunkPlan(const Experiment& ex);
  std::int64_t size() const { return per_point_ * static_cast<std::int64_t>(points_); }
  Chunk operator[](std::int64_t id) const;
  std::int64_t first_of_point(std::size_t point) const { return per_point_ * static_cast<std::int64_t>(point); }
  std::int64_t per_point() const { return per_point_; }

 private:
  std::size_t points_ = 0;
  int seeds_ = 1, chunk_size_ = 1;
  std::int64_t per_point_ = 1;
};

// What every record of a point's chunk must look like; a checkpoint that disagrees is damaged.
struct RecordShape {
  std::size_t times = 0, events = 0, spectrum = 0, state = 0, critical_points = 0;
  bool keep_states = false;
};
RecordShape record_shape(const PointConfig& config);

struct ChunkFile {
  std::vector<TrajectoryRecord> records;
  std::string backend;   // cpu | gpu
  double seconds = 0.0;  // of the batch that computed it
  std::size_t diverged = 0;
};

void write_chunk(const std::string& path, std::uint64_t fingerprint, const Chunk& chunk, const ChunkFile& file);
// nullopt when the file is missing, not a regular file, of another experiment or chunk, or
// damaged in any way (checksum, a length out of bounds, a record that is not the chunk's);
// *why then says which, for the warning.
std::optional<ChunkFile> read_chunk(const std::string& path, std::uint64_t fingerprint, const Chunk& chunk,
                                    const RecordShape& shape, std::string* why = nullptr);
// The id a checkpoint claims, its fingerprint and chunk fields, if the file is intact (checksum):
// how a lost manifest is rebuilt and how `merge` finds its chunks.
struct ChunkHeader {
  std::uint64_t fingerprint = 0;
  Chunk chunk;
  std::string backend;
  double seconds = 0.0;
};
std::optional<ChunkHeader> read_chunk_header(const std::string& path);

// chunks/chunk-<id>.bin
std::string chunk_file_name(std::int64_t id);

}  // namespace dlnflow::run
