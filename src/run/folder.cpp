#include "folder.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "dlnflow/app/run.hpp"
#include "records.hpp"

namespace dlnflow::run {

namespace {

bool is_chunk_file(const std::string& name) {
  static const std::regex re("chunk-[0-9]{6,}\\.bin");
  return std::regex_match(name, re);
}

std::string holder_text() {
  char host[256] = "?";
  ::gethostname(host, sizeof host - 1);
  const std::time_t t = std::time(nullptr);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return "pid " + std::to_string(::getpid()) + " on " + host + ", since " + when;
}

}  // namespace

bool is_own_temporary(const std::string& name) {
  static const std::regex re("(manifest\\.json|summary\\.csv|trajectories\\.h5|chunk-[0-9]{6,}\\.bin)\\.tmp-[0-9]+");
  return std::regex_match(name, re);
}

void remove_own_temporaries(const fs::path& dir) {
  for (const fs::path& d : {dir, dir / "chunks"}) {
    std::error_code ec;
    if (!fs::is_directory(d, ec)) continue;
    for (const auto& e : fs::directory_iterator(d, ec))
      if (is_own_temporary(e.path().filename().string()) && e.is_regular_file(ec)) fs::remove(e.path(), ec);
  }
}

bool is_results_folder(const fs::path& dir, std::string* why) {
  std::error_code ec;
  auto no = [&](const std::string& w) {
    if (why) *why = w;
    return false;
  };
  if (!fs::exists(dir, ec)) return no("it does not exist");
  if (!fs::is_directory(dir, ec)) return no("it is not a folder");
  const fs::path manifest = dir / "manifest.json";
  if (fs::is_regular_file(manifest, ec)) {
    std::ifstream in(manifest);
    const auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_object() && j.contains("format") && j["format"].is_string() &&
        j["format"].get<std::string>().rfind("dlnflow-results/", 0) == 0)
      return true;
  }
  // A folder whose manifest was lost is still dlnflow's if it holds dlnflow's checkpoints.
  if (fs::is_directory(dir / "chunks", ec))
    for (const auto& e : fs::directory_iterator(dir / "chunks", ec))
      if (is_chunk_file(e.path().filename().string()) && read_chunk_header(e.path().string())) return true;
  return no(fs::exists(manifest, ec) ? "its manifest.json is not a dlnflow manifest" : "it has no manifest.json");
}

std::vector<std::string> remove_results(const fs::path& dir) {
  std::error_code ec;
  for (const auto& f : kResultFiles) fs::remove(dir / f, ec);
  remove_own_temporaries(dir);
  if (fs::is_directory(dir / "chunks", ec)) {
    for (const auto& e : fs::directory_iterator(dir / "chunks", ec))
      if (is_chunk_file(e.path().filename().string()) && e.is_regular_file(ec)) fs::remove(e.path(), ec);
    fs::remove(dir / "chunks", ec);  // only if empty
  }
  if (fs::is_directory(dir / "plots", ec)) {
    for (const auto& e : fs::directory_iterator(dir / "plots", ec))
      if (is_plot_file(e.path().filename().string()) && e.is_regular_file(ec)) fs::remove(e.path(), ec);
    fs::remove(dir / "plots", ec);
  }
  std::vector<std::string> kept;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec))  // files (and empty folders), not their folders
    if (e.path().filename() != kLockFile && (!e.is_directory(ec) || fs::is_empty(e.path(), ec)))
      kept.push_back(fs::relative(e.path(), dir, ec).string());
  std::sort(kept.begin(), kept.end());
  return kept;
}

FolderLock::FolderLock(const fs::path& dir) : path_(dir / kLockFile) {
  // A lock file removed by a finishing holder between our open and flock would leave us holding
  // a lock nobody else sees: retry until the locked file is the one at the path.
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw UsageError("cannot lock " + dir.string() + ": cannot open " + path_.string() + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      std::string holder;
      char buf[512];
      const auto n = ::pread(fd, buf, sizeof buf - 1, 0);
      if (n > 0) holder.assign(buf, static_cast<std::size_t>(n));
      ::close(fd);
      if (err == EWOULDBLOCK)
        throw UsageError(dir.string() + " is in use by another dlnflow run (" + (holder.empty() ? "holder unknown" : holder) +
                         "); wait for it to finish or stop it");
      throw UsageError("cannot lock " + dir.string() + ": " + std::strerror(err));
    }
    struct stat held {}, now {};
    if (::fstat(fd, &held) == 0 && ::stat(path_.c_str(), &now) == 0 && held.st_ino == now.st_ino && held.st_dev == now.st_dev) {
      const std::string who = holder_text();
      if (::ftruncate(fd, 0) == 0) [[maybe_unused]] auto w = ::pwrite(fd, who.data(), who.size(), 0);
      fd_ = fd;
      return;
    }
    ::close(fd);
  }
  throw UsageError("cannot lock " + dir.string() + ": its lock file keeps changing");
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);
}

FolderLock::FolderLock(FolderLock&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }

FolderLock& FolderLock::operator=(FolderLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_, path_ = std::move(o.path_), o.fd_ = -1;
  }
  return *this;
}

void FolderLock::release_and_remove() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still held: a waiter that opened it retries (inode check)
  ::close(fd_);
  fd_ = -1;
}

}  // namespace dlnflow::run
