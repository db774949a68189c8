// The CUDA toolchain probe: runs on a GPU machine, skips with the reason elsewhere.
#include <gtest/gtest.h>

#include "../kernels/toolchain_probe.hpp"
#include "dlnflow/cuda_probe.hpp"

TEST(CudaToolchain, AxpyRoundTripOnDevice) {
  if (!dlnflow::cuda_compiled()) GTEST_SKIP() << "dlnflow was built without CUDA (no nvcc or DLNFLOW_CUDA=OFF)";
  std::string why;
  if (dlnflow::cuda_device_count(&why) == 0) GTEST_SKIP() << "no CUDA device: " << why;
  std::vector<double> x(1000), y(1000), expected(1000);
  for (int i = 0; i < 1000; ++i) {
    x[i] = 0.5 * i;
    y[i] = 1.0 - i;
    expected[i] = 3.0 * x[i] + y[i];
  }
  ASSERT_TRUE(dlnflow::kernels::cuda_axpy(1000, 3.0, x.data(), y.data(), &why)) << why;
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(y[i], expected[i]);
}
