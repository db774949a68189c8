// Files appear whole or not at all: written under a temporary name in the same folder, flushed,
// then renamed over the target (rename is atomic within a file system).
#pragma once

#include <string>

namespace dlnflow::io {

// Throws std::runtime_error naming the path and the system error.
void write_file_atomic(const std::string& path, const std::string& content);
// The temporary name write_file_atomic would use; for writers (HDF5) that need a path.
std::string temporary_name(const std::string& path);
void commit_file(const std::string& temporary, const std::string& path);

}  // namespace dlnflow::io
