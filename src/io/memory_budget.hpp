// What this machine can hold. Every size an experiment file controls is checked against it
// before anything of that size is allocated, so that a typo (width = 1e9) is a named error and
// not a 23 GB allocation the kernel kills.
#pragma once

#include <cstdint>
#include <string>

namespace dlnflow::io {

class TableReader;

std::uint64_t physical_memory_bytes();
// MemAvailable of /proc/meminfo (what can be allocated without swapping); physical if unknown.
std::uint64_t available_memory_bytes();
// Free bytes on the file system holding `path` (or its nearest existing parent); -1 if unknown.
double free_disk_bytes(const std::string& path);
// "1.5 GiB", "3.2e+04 TiB".
std::string bytes_text(double bytes);

// Fails at `key` when `count` float64 values (`what`, e.g. "a 100000000 x 100000000 matrix")
// cannot fit in this machine's memory. `count` is a double so that no product overflows first.
void require_fits(const TableReader& r, const std::string& key, double count, const std::string& what);

}  // namespace dlnflow::io
