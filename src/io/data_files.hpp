// Numeric arrays from the files a researcher already has: NumPy .npy (v1-3, little-endian
// float64/float32/int64/int32/uint8/bool, C or Fortran order) and plain comma-separated text.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace dlnflow::io {

struct Array {
  std::vector<std::int64_t> shape;
  std::vector<double> data;  // row-major (C order)
};

// Throws std::runtime_error saying what is wrong with the file.
Array read_npy(const std::string& path);
// One row per line, values separated by commas (spaces allowed); '#' starts a comment line.
Array read_csv(const std::string& path);
// The same from the file's contents, for callers (and fuzzers) that already hold them; `name`
// stands for the path in error messages.
Array read_npy_bytes(const std::string& bytes, const std::string& name);
Array read_csv_text(const std::string& text, const std::string& name);
// FNV-1a 64: the fingerprints of data files and of resolved experiments (not a security hash).
std::uint64_t fnv1a64(const std::string& bytes, std::uint64_t h = 1469598103934665603ull);
std::string hex64(std::uint64_t v);  // 16 hex digits
// fnv1a64 of a file's bytes in hex: the manifest's record of which data was used.
std::string file_checksum(const std::string& path);

}  // namespace dlnflow::io
