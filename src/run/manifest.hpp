// manifest.json: what ran, how, and whether it finished (docs/results.md). The chunk list has
// one entry per finished chunk (a recomputed chunk replaces its entry), kept compact in memory
// and written as text, so that a run of a million chunks does not hold a million JSON objects.
// Everything in it can be rebuilt from the checkpoints when the file is lost or damaged.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "dlnflow/app/experiment.hpp"
#include "records.hpp"

namespace dlnflow::run {

struct ChunkEntry {
  Chunk chunk;
  double seconds = 0.0;     // NaN: not known (recovered from a checkpoint of a lost session)
  std::size_t diverged = 0;
  std::string backend;      // cpu | gpu
  int batch_of_chunks = 1;  // GPU: consecutive chunks run as one batch; seconds are the batch's
  bool recovered = false;   // listed from its checkpoint, not by the session that computed it
};

class Manifest {
 public:
  // The manifest of a new results folder for this experiment.
  static Manifest fresh(const Experiment& ex, const nlohmann::json& shard);
  // Read from a file; nullopt with the reason when it is missing, not JSON, or not a dlnflow
  // manifest. Chunk entries that are implausible (an id outside the plan, a wrong type) are
  // dropped: the checkpoints decide what is done.
  static std::optional<Manifest> load(const std::string& path, const ChunkPlan& plan, std::string* why);

  nlohmann::json meta;                        // every key but "chunks"
  std::map<std::int64_t, ChunkEntry> chunks;  // by chunk id

  std::string text() const;
  void write(const std::string& path) const;  // atomic
};

std::string now_iso();

}  // namespace dlnflow::run
