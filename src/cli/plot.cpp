// `dlnflow plot` and `dlnflow export`: the figures (scripts/dlnflow_plot.py, matplotlib) and the
// long-format time series (scripts/dlnflow_export.py) are written by Python scripts that read the
// results folder with h5py; these commands find the script and run it.
#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "commands.hpp"

extern char** environ;

namespace dlnflow::cli {

namespace {

// The installed copy beside the binary (share/dlnflow), else the source tree's; DLNFLOW_SCRIPTS_DIR
// overrides both.
std::string find_script(const std::string& name) {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("DLNFLOW_SCRIPTS_DIR")) return (fs::path(env) / name).string();
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = exe.parent_path().parent_path() / "share" / "dlnflow" / name;
    if (fs::exists(installed)) return installed.string();
  }
  return (fs::path(DLNFLOW_SCRIPTS_DIR) / name).string();  // the source tree this binary was built from
}

// Runs python3 <script> <args>; the script's exit status 2 (bad input) stays 2.
int run_script(const std::string& name, std::vector<std::string> args) {
  const std::string script = find_script(name);
  if (!std::filesystem::exists(script)) {
    std::fprintf(stderr, "dlnflow: script %s not found (set DLNFLOW_SCRIPTS_DIR)\n", script.c_str());
    return kRunFailure;
  }
  args.insert(args.begin(), {"python3", script});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, "python3", nullptr, nullptr, argv.data(), environ) != 0) {
    std::fprintf(stderr, "dlnflow: %s needs python3 on PATH (with numpy, h5py and matplotlib)\n", name.c_str());
    return kRunFailure;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return kOk;
  if (WIFEXITED(status) && WEXITSTATUS(status) == kUsage) return kUsage;
  return kRunFailure;
}

bool is_results(const std::string& dir) {
  if (std::filesystem::exists(std::filesystem::path(dir) / "trajectories.h5")) return true;
  std::fprintf(stderr, "dlnflow: %s has no trajectories.h5; is it a dlnflow results folder?\n", dir.c_str());
  return false;
}

}  // namespace

int plot(const std::string& dir, const std::string& out_dir, const std::string& formats, const std::string& data_file) {
  if (!is_results(dir)) return kUsage;
  std::vector<std::string> args{dir};
  if (!out_dir.empty()) args.insert(args.end(), {"--out", out_dir});
  if (!formats.empty()) args.insert(args.end(), {"--format", formats});
  if (!data_file.empty()) args.insert(args.end(), {"--data", data_file});
  return run_script("dlnflow_plot.py", args);
}

int export_series(const std::string& dir, const std::string& out_file) {
  if (!is_results(dir)) return kUsage;
  std::vector<std::string> args{dir};
  if (!out_file.empty()) args.insert(args.end(), {"--out", out_file});
  return run_script("dlnflow_export.py", args);
}

}  // namespace dlnflow::cli
