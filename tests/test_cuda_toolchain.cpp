// The CUDA toolchain probe: runs on a GPU machine, skips with the reason elsewhere.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "../kernels/cuda_libraries.hpp"
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

// cuBLAS and cuSOLVER load on first use (kernels/cuda_libraries.cpp): a program that links the
// GPU backend maps neither until it needs them, and every entry point the backend forwards to
// them resolves in the toolkit's libraries (no GPU needed). The oracle is the process's own
// memory map, as the kernel reports it.
namespace {
bool mapped(const std::string& soname) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find(soname) != std::string::npos) return true;
  return false;
}
}  // namespace

TEST(CudaLibraries, LoadOnFirstUseAndResolveEveryEntryPoint) {
  if (!dlnflow::cuda_compiled()) GTEST_SKIP() << "dlnflow was built without CUDA (no nvcc or DLNFLOW_CUDA=OFF)";
  const std::vector<std::string> sonames = dlnflow::kernels::cuda_library_sonames();
  ASSERT_EQ(sonames.size(), 2u);
  for (const auto& s : sonames) EXPECT_FALSE(mapped(s)) << s << " was loaded before anything asked for it";
  const int resolved = dlnflow::kernels::resolve_cuda_libraries();
  EXPECT_GE(resolved, 16);  // the 16 cuBLAS and cuSOLVER functions kernels/batched_deep.cu calls
  for (const auto& s : sonames) EXPECT_TRUE(mapped(s)) << s << " is not mapped after resolving its entry points";
}
