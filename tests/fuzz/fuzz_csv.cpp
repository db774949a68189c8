// Any bytes as a .csv file: std::runtime_error is the documented answer to a bad one; anything
// else (another exception, a crash, a sanitizer report) is a finding.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "../../src/io/data_files.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto a = dlnflow::io::read_csv_text(text, "fuzz.csv");
    // What matrix_source.cpp relies on: a rows x cols matrix with every value present.
    if (a.shape.size() != 2 || a.shape[0] < 1 || a.shape[1] < 1 ||
        static_cast<std::size_t>(a.shape[0] * a.shape[1]) != a.data.size())
      __builtin_trap();
  } catch (const std::runtime_error&) {
  }
  return 0;
}
