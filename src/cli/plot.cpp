// `dlnflow plot`: the figures are drawn by scripts/dlnflow_plot.py (matplotlib), which reads the
// results folder with h5py; this command finds the script and runs it.
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

std::string find_script() {
  if (const char* env = std::getenv("DLNFLOW_PLOT_SCRIPT")) return env;
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = exe.parent_path().parent_path() / "share" / "dlnflow" / "dlnflow_plot.py";
    if (fs::exists(installed)) return installed.string();
  }
  return DLNFLOW_PLOT_SCRIPT;  // the source tree this binary was built from
}

}  // namespace

int plot(const std::string& dir, const std::string& out_dir, const std::string& formats) {
  namespace fs = std::filesystem;
  if (!fs::exists(fs::path(dir) / "trajectories.h5")) {
    std::fprintf(stderr, "dlnflow: %s has no trajectories.h5; is it a dlnflow results folder?\n", dir.c_str());
    return kUsage;
  }
  const std::string script = find_script();
  if (!fs::exists(script)) {
    std::fprintf(stderr, "dlnflow: plot script %s not found (set DLNFLOW_PLOT_SCRIPT)\n", script.c_str());
    return kRunFailure;
  }
  std::vector<std::string> args{"python3", script, dir};
  if (!out_dir.empty()) args.insert(args.end(), {"--out", out_dir});
  if (!formats.empty()) args.insert(args.end(), {"--format", formats});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, "python3", nullptr, nullptr, argv.data(), environ) != 0) {
    std::fprintf(stderr, "dlnflow: plot needs python3 on PATH (with numpy, h5py and matplotlib)\n");
    return kRunFailure;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return kOk;
  if (WIFEXITED(status) && WEXITSTATUS(status) == kUsage) return kUsage;
  return kRunFailure;
}

}  // namespace dlnflow::cli
