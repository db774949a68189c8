// The exception of the CUDA backend; free of Eigen so that .cu files can include it.
#pragma once

#include <stdexcept>

namespace dlnflow {

// A CUDA call that failed (named in the message), no device, or a problem the GPU path does not cover.
class GpuError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace dlnflow
