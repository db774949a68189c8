#include "setup.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <regex>

#include "../io/data_files.hpp"

namespace dlnflow::run {

namespace {

std::string list_text(const std::vector<std::string>& items, std::size_t max = 5) {
  std::string s;
  for (std::size_t i = 0; i < items.size() && i < max; ++i) s += (i ? ", " : "") + items[i];
  if (items.size() > max) s += ", ... (" + std::to_string(items.size()) + " in all)";
  return s;
}

// A staging folder of a run killed before it renamed it into place: <dir>.tmp-<pid> of a
// process that no longer exists, holding nothing but what set-up writes.
void remove_stale_staging(const fs::path& dir) {
  std::error_code ec;
  const fs::path parent = dir.has_parent_path() ? dir.parent_path() : fs::path(".");
  const std::regex re(std::regex_replace(dir.filename().string(), std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                      R"(\.tmp-([0-9]+))");
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (!std::regex_match(name, m, re) || !e.is_directory(ec)) continue;
    const long pid = std::stol(m[1].str());
    if (pid <= 0 || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    bool only_setup = true;
    for (const auto& f : fs::recursive_directory_iterator(e.path(), ec)) {
      const std::string n = f.path().filename().string();
      if (!(n == "manifest.json" || n == kLockFile || n == "chunks" || is_own_temporary(n))) only_setup = false;
    }
    if (!only_setup) continue;
    for (const char* f : {"manifest.json", kLockFile}) fs::remove(e.path() / f, ec);
    remove_own_temporaries(e.path());
    fs::remove(e.path() / "chunks", ec);
    fs::remove(e.path(), ec);
  }
}

}  // namespace

nlohmann::json Shard::json() const {
  if (count == 0) return nullptr;
  return {{"index", index}, {"count", count}};
}

std::string chunk_path(const fs::path& dir, std::int64_t id) { return (dir / "chunks" / chunk_file_name(id)).string(); }

PreparedFolder create_folder(const fs::path& dir, bool overwrite, const Manifest& manifest) {
  PreparedFolder out;
  out.dir = dir;
  out.manifest = manifest;
  std::error_code ec;
  try {
    if (fs::exists(dir, ec)) {
      if (!fs::is_directory(dir, ec))
        throw UsageError(dir.string() + " exists and is not a folder; give --out a folder that does not exist yet");
      if (!overwrite)
        throw UsageError(dir.string() + " already exists; use --resume to continue it, --overwrite to replace it, or another --out");
      std::string why;
      if (!is_results_folder(dir, &why))
        throw UsageError("refusing to --overwrite " + dir.string() + ": it is not a dlnflow results folder (" + why +
                         "); nothing was changed");
      out.lock = FolderLock(dir);
      const auto kept = remove_results(dir);
      if (!kept.empty())
        out.notes.push_back("--overwrite kept " + std::to_string(kept.size()) + " entr" + (kept.size() == 1 ? "y" : "ies") +
                            " of " + dir.string() + " that dlnflow did not write: " + list_text(kept));
      fs::create_directories(dir / "chunks");
      out.manifest.write((dir / "manifest.json").string());
      return out;
    }
    if (dir.has_parent_path()) fs::create_directories(dir.parent_path());
    remove_stale_staging(dir);
    // The folder appears with its manifest already in it: built under a temporary name.
    const fs::path staging = dir.string() + ".tmp-" + std::to_string(::getpid());
    fs::create_directories(staging / "chunks");
    out.lock = FolderLock(staging);
    out.manifest.write((staging / "manifest.json").string());
    fs::rename(staging, dir, ec);
    if (ec) {
      out.lock.release_and_remove();
      fs::remove(staging / "manifest.json");
      fs::remove(staging / "chunks");
      fs::remove(staging);
      if (fs::exists(dir)) throw UsageError(dir.string() + " was created by another run meanwhile; use another --out");
      throw UsageError("cannot create " + dir.string() + ": " + ec.message());
    }
    out.lock.moved_to(dir);
    return out;
  } catch (const fs::filesystem_error& e) {
    throw UsageError("cannot set up the results folder " + dir.string() + ": " + e.code().message() +
                     (e.path1().empty() ? "" : " (" + e.path1().string() + ")"));
  }
}

PreparedFolder prepare_folder(const Experiment& ex, const ChunkPlan& plan, const RunOptions& opt, const Shard& shard) {
  const fs::path dir = opt.out_dir;
  std::error_code ec;
  if (!opt.resume || !fs::exists(dir, ec)) {
    if (opt.resume) throw UsageError("nothing to resume: " + dir.string() + " does not exist");
    PreparedFolder out = create_folder(dir, opt.overwrite, Manifest::fresh(ex, shard.json()));
    out.done.assign(static_cast<std::size_t>(plan.size()), false);
    return out;
  }

  PreparedFolder out;
  out.dir = dir;
  std::string why;
  if (!fs::is_directory(dir, ec)) throw UsageError("nothing to resume: " + dir.string() + " is not a folder");
  if (!is_results_folder(dir, &why))
    throw UsageError("nothing to resume: " + dir.string() + " is not a dlnflow results folder (" + why + ")");
  out.lock = FolderLock(dir);
  const std::string manifest_path = (dir / "manifest.json").string();
  auto loaded = Manifest::load(manifest_path, plan, &why);
  if (loaded) {
    if (loaded->meta.value("fingerprint", "") != io::hex64(ex.fingerprint))
      throw UsageError("cannot resume " + dir.string() +
                       ": the experiment (file, data, chunk plan or defaults) differs from the one that started it; "
                       "run it into a new --out folder");
    const auto recorded = loaded->meta.contains("shard") ? loaded->meta["shard"] : nlohmann::json(nullptr);
    if (recorded != shard.json())
      throw UsageError("cannot resume " + dir.string() + ": it was started as " +
                       (recorded.is_null() ? std::string("an unsharded run") : "shard " + recorded.dump()) +
                       "; resume it with the same --shard");
    out.manifest = std::move(*loaded);
    if (out.manifest.meta.value("status", "") == "complete") {
      out.already_complete = true;
      return out;
    }
  } else {
    out.manifest = Manifest::fresh(ex, shard.json());
    out.manifest.meta["rebuilt"] = {{"when", now_iso()}, {"why", "manifest.json " + why}};
    out.notes.push_back("manifest.json of " + dir.string() + ": " + why + "; rebuilt from the checkpoints");
  }
  remove_own_temporaries(dir);
  try {
    fs::create_directories(dir / "chunks");
  } catch (const fs::filesystem_error& e) {
    throw UsageError("cannot resume " + dir.string() + ": " + e.code().message());
  }

  // ---- The checkpoints decide what is done ----
  out.done.assign(static_cast<std::size_t>(plan.size()), false);
  static const std::regex chunk_re("chunk-([0-9]{6,18})\\.bin");
  std::map<int, RecordShape> shapes;
  std::size_t foreign = 0, unusable = 0;
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(dir / "chunks", ec)) entries.push_back(e.path());
  std::sort(entries.begin(), entries.end());
  for (const auto& path : entries) {
    std::smatch m;
    const std::string name = path.filename().string();
    if (!std::regex_match(name, m, chunk_re)) continue;
    const std::int64_t id = std::stoll(m[1].str());
    if (id >= plan.size() || !shard.owns(id)) continue;
    const Chunk c = plan[id];
    if (!fs::is_regular_file(path, ec)) {
      // Not dlnflow's to delete, and in the way of the checkpoint: moved aside, kept.
      fs::path aside = path;
      for (int k = 1; fs::exists(aside, ec); ++k) aside = path.string() + ".unusable-" + std::to_string(k);
      fs::rename(path, aside, ec);
      if (ec) throw UsageError("cannot resume " + dir.string() + ": " + path.string() + " is not a file and cannot be moved aside (" + ec.message() + ")");
      out.notes.push_back(path.string() + " is not a checkpoint file; moved it aside to " + aside.filename().string() +
                          " and recomputing chunk " + std::to_string(id));
      ++unusable;
      continue;
    }
    auto shape = shapes.find(c.point);
    if (shape == shapes.end()) {
      if (shapes.size() > 256) shapes.clear();
      shape = shapes.emplace(c.point, record_shape(ex.point(static_cast<std::size_t>(c.point), false).config)).first;
    }
    std::string reason;
    auto file = read_chunk(path.string(), ex.fingerprint, c, shape->second, &reason);
    if (!file) {
      if (reason == "written by another experiment") ++foreign;
      else ++unusable;
      out.notes.push_back("checkpoint " + path.string() + " " + (reason == "written by another experiment" ? "was " : "is unusable: ") +
                          reason + "; recomputing chunk " + std::to_string(id));
      continue;
    }
    out.done[static_cast<std::size_t>(id)] = true;
    out.reused += file->records.size();
    out.diverged += file->diverged;
    auto& entry = out.manifest.chunks[id];
    if (entry.backend.empty() || entry.chunk.id != id) {  // finished by a session that did not list it
      entry = ChunkEntry{c, file->seconds, file->diverged, file->backend, 1, true};
    }
    entry.diverged = file->diverged;
  }
  if (!loaded && out.reused == 0 && foreign > 0)
    throw UsageError("cannot resume " + dir.string() + ": its manifest is lost and its checkpoints belong to another experiment");
  for (auto it = out.manifest.chunks.begin(); it != out.manifest.chunks.end();)
    it = out.done[static_cast<std::size_t>(it->first)] ? std::next(it) : out.manifest.chunks.erase(it);
  (void)unusable;
  return out;
}

}  // namespace dlnflow::run
