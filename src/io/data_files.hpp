// Numeric arrays from the files a researcher already has: NumPy .npy (v1-3, little-endian
// float64/float32/int64/int32/uint8/bool, C or Fortran order) and plain comma-separated text.
//
// Files are untrusted input: any malformed file ends in a std::runtime_error naming the file and
// what is wrong, and nothing is allocated beyond what the file's size can back (the .npy data
// must be in the file: the element count times the item size is checked, overflow-safe, against
// the bytes present before anything is allocated).
//
// .npy: the header must be the dictionary NumPy writes — 'descr' (a quoted dtype),
// 'fortran_order' (True or False) and 'shape' (a tuple of non-negative integers, 3L accepted),
// nothing else. An array without elements (a 0 in the shape) is an error, as an empty .csv is.
// Bytes after the data are ignored. Bool bytes read as 0 or 1.
// .csv: one row per line, values separated by commas, spaces and tabs around them allowed, CRLF
// line ends accepted. Lines that are blank or whose first non-blank character is '#' are
// skipped; '#' elsewhere is an error. One trailing comma at the end of a line is tolerated; any
// other empty value is an error, as is a row whose length differs from the first row's.
// A value is what strtod reads, in full: decimal or hexadecimal floats (0x1p-3), nan and inf
// (kept as values, as .npy files can hold them: rejecting non-finite data is the caller's job,
// which knows the key), subnormals; a value beyond the range of a double (1e999) is an error.
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
