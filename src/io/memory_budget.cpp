#include "memory_budget.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "toml_reader.hpp"

namespace dlnflow::io {

std::uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), size = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(size) : 0;
}

std::uint64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  for (std::string key; in >> key;) {
    std::uint64_t kib = 0;
    in >> kib;
    if (key == "MemAvailable:") return kib * 1024;
    in.ignore(1 << 10, '\n');
  }
  return physical_memory_bytes();
}

double free_disk_bytes(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  while (!p.empty() && !fs::exists(p, ec) && p != p.parent_path()) p = p.parent_path();
  struct statvfs s {};
  if (::statvfs(p.c_str(), &s) != 0) return -1;
  return static_cast<double>(s.f_bavail) * static_cast<double>(s.f_frsize);
}

std::string bytes_text(double b) {
  const char* unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.3g %s", b, unit[u]);
  return buf;
}

void require_fits(const TableReader& r, const std::string& key, double count, const std::string& what) {
  const double bytes = 8.0 * count;
  const double have = static_cast<double>(physical_memory_bytes());
  if (have > 0 && !(bytes <= have))
    r.fail(key, what + " needs " + bytes_text(bytes) + " of memory; this machine has " + bytes_text(have));
}

}  // namespace dlnflow::io
