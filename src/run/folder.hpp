// The results folder as a place on disk: what in it is dlnflow's, the lock that keeps two runs
// out of one folder, and removing only what dlnflow wrote. Nothing here deletes a file that
// dlnflow did not create.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dlnflow::run {

namespace fs = std::filesystem;

// The files dlnflow writes at the top of a results folder (timeseries.csv: `dlnflow export`).
inline const std::vector<std::string> kResultFiles = {"manifest.json", "summary.csv", "trajectories.h5",
                                                      "timeseries.csv"};
// Whether `name` is a figure `dlnflow plot` writes into <results>/plots by default
// (scripts/dlnflow_plot.py): escape[-<page>], loss, singular_values[-<page>], event_times,
// timeline[-<page>], sweep, each as .png, .pdf or .svg.
inline bool is_plot_file(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  const std::string stem = name.substr(0, dot), ext = name.substr(dot + 1);
  if (ext != "png" && ext != "pdf" && ext != "svg") return false;
  for (const char* s : {"escape", "loss", "singular_values", "event_times", "timeline", "sweep"})
    if (stem == s) return true;
  for (const std::string pages : {"escape-", "singular_values-", "timeline-"})
    if (stem.size() > pages.size() && stem.compare(0, pages.size(), pages) == 0 &&
        stem.find_first_not_of("0123456789", pages.size()) == std::string::npos)
      return true;
  return false;
}
inline constexpr const char* kLockFile = ".dlnflow-lock";

// Whether `dir` is a dlnflow results folder: a manifest.json of format dlnflow-results/*, or
// (its manifest lost) checkpoint files of dlnflow's format in chunks/. *why says what it is not.
bool is_results_folder(const fs::path& dir, std::string* why);

// Removes what dlnflow writes into a results folder (the files above, chunks/chunk-*.bin,
// temporaries, the lock, the default plots) and then the folders that are left empty. Returns
// the entries it kept because dlnflow did not write them.
std::vector<std::string> remove_results(const fs::path& dir);

// Temporaries of writes a killed run never finished: <file>.tmp-<pid> of dlnflow's own files.
bool is_own_temporary(const std::string& name);
void remove_own_temporaries(const fs::path& dir);

// An exclusive lock on a results folder (flock on <dir>/.dlnflow-lock), held for the lifetime
// of the object. The lock file records who holds it, so that a refusal can name the holder.
class FolderLock {
 public:
  FolderLock() = default;
  // Throws UsageError naming the holder when another process holds the lock.
  explicit FolderLock(const fs::path& dir);
  ~FolderLock();
  FolderLock(FolderLock&& other) noexcept;
  FolderLock& operator=(FolderLock&& other) noexcept;
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;
  // The locked folder was renamed (a staging folder moved into place).
  void moved_to(const fs::path& dir) { path_ = dir / kLockFile; }
  // Drops the lock and removes the lock file (a finished folder holds only results).
  void release_and_remove();

 private:
  int fd_ = -1;
  fs::path path_;
};

}  // namespace dlnflow::run
