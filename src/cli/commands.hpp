// The subcommands of the dlnflow executable; each returns the process exit code.
#pragma once

#include <string>

namespace dlnflow::cli {

enum Exit { kOk = 0, kUsage = 2, kRunFailure = 3, kInterrupted = 130 };

int check(const std::string& experiment_file, const std::string& out_dir, bool force);
int stats(const std::string& results_dir, bool csv, bool json);
int plot(const std::string& results_dir, const std::string& out_dir, const std::string& formats,
         const std::string& data_file);
int export_series(const std::string& results_dir, const std::string& out_file);
int catalog(const std::string& experiment_file, bool json);

}  // namespace dlnflow::cli
