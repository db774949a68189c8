// Any bytes as an experiment file. The documented answer to a bad file is ExperimentError; any
// other exception, a crash, a sanitizer report, a timeout or an allocation beyond the RSS limit
// is a finding. The base folder holds target.npy and mask.npy, so data-file keys can resolve.
#include <cstddef>
#include <cstdint>
#include <string>

#include "dlnflow/app/experiment.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    dlnflow::parse_experiment(text, "fuzz.toml", DLNFLOW_FUZZ_DATA_DIR);
  } catch (const dlnflow::ExperimentError&) {
  }
  return 0;
}
