// Setting up a results folder for a run: a new one (it appears with its manifest already in it),
// one to resume (its checkpoints verified, its manifest rebuilt from them when it was lost), or
// one to replace. Everything that can be refused is refused before anything is written.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "dlnflow/app/run.hpp"
#include "folder.hpp"
#include "manifest.hpp"
#include "records.hpp"

namespace dlnflow::run {

// Which chunks this process is responsible for: all of them, or those with id % count == index.
struct Shard {
  int index = 0, count = 0;
  bool owns(std::int64_t id) const { return count == 0 || id % count == index; }
  nlohmann::json json() const;  // null when not sharded
};

struct PreparedFolder {
  fs::path dir;
  FolderLock lock;
  Manifest manifest;
  std::vector<bool> done;     // by chunk id: a verified checkpoint is on disk
  std::size_t reused = 0, diverged = 0;
  bool already_complete = false;
  std::vector<std::string> notes;  // what was found and repaired, for stderr and the session entry
};

// The folder for `run`: new, resumed (--resume) or replaced (--overwrite).
PreparedFolder prepare_folder(const Experiment& ex, const ChunkPlan& plan, const RunOptions& opt, const Shard& shard);

// A new results folder, locked, with this manifest (also what `merge` writes into).
PreparedFolder create_folder(const fs::path& dir, bool overwrite, const Manifest& manifest);

// The path of a checkpoint in a results folder.
std::string chunk_path(const fs::path& dir, std::int64_t id);

}  // namespace dlnflow::run
