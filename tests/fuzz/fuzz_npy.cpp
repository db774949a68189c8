// Any bytes as a .npy file: std::runtime_error is the documented answer to a bad one; anything
// else (another exception, a crash, a sanitizer report, an allocation the file cannot back) is a
// finding.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "../../src/io/data_files.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto a = dlnflow::io::read_npy_bytes(bytes, "fuzz.npy");
    // What matrix_source.cpp relies on: the shape accounts for exactly the values read (a count
    // that wraps around would let a 2^32 x 2^32 shape pass with no data).
    std::size_t n = 1;
    for (auto d : a.shape)
      if (d < 0 || __builtin_mul_overflow(n, static_cast<std::size_t>(d), &n)) __builtin_trap();
    if (n != a.data.size()) __builtin_trap();
  } catch (const std::runtime_error&) {
  }
  return 0;
}
