// Measured FP64 peak of one core: independent fused multiply-adds on register-resident vectors,
// compiled for the build machine's widest SIMD. The throughput benchmark reports its achieved
// GFLOP/s against this figure instead of a datasheet guess.
#include <chrono>

namespace dlnflow::bench {

double fp64_peak_gflops_one_core() {
  constexpr int kAcc = 32;  // more independent chains than FMA latency x ports
  constexpr int kWidth = 8; // doubles per accumulator lane group (vectorized by the compiler)
  double acc[kAcc][kWidth];
  for (int i = 0; i < kAcc; ++i)
    for (int k = 0; k < kWidth; ++k) acc[i][k] = 1.0 + 1e-9 * (i + k);
  const double a = 0.999999999, b = 1e-9;
  const long iters = 20000000;
  const auto t0 = std::chrono::steady_clock::now();
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < kAcc; ++i)
#pragma GCC unroll 8
      for (int k = 0; k < kWidth; ++k) acc[i][k] = acc[i][k] * a + b;
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double sink = 0;
  for (int i = 0; i < kAcc; ++i)
    for (int k = 0; k < kWidth; ++k) sink += acc[i][k];
  const double flops = 2.0 * kAcc * kWidth * static_cast<double>(iters);
  return (sink > 0 ? flops : flops * 1.0000001) / dt / 1e9;
}

}  // namespace dlnflow::bench
