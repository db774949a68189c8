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
// FNV-1a 64 of a file's bytes, as 16 hex digits: the manifest's record of which data was used.
std::string file_checksum(const std::string& path);

}  // namespace dlnflow::io
