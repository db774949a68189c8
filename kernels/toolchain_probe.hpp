// The smallest device round trip, for the test that shows the CUDA toolchain works
// (tests/test_cuda_toolchain.cpp); not part of the library's API.
#pragma once

#include <string>

namespace dlnflow::kernels {

// y = a x + y on the device. Returns false with the reason in *why on any CUDA error.
bool cuda_axpy(int n, double a, const double* x, double* y, std::string* why = nullptr);

}  // namespace dlnflow::kernels
