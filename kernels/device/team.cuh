// The "team" the device math is written against: a group of threads that share memory and can
// barrier. On the GPU a team is a thread block (BlockTeam); in host tests it is one thread
// (HostTeam), so every routine's arithmetic runs and is checked on a machine without a GPU.
// Routines split work as `for (i = team.rank(); i < n; i += team.size())` and call
// team.sync() between phases that read what another member wrote.
#pragma once

#if defined(__CUDACC__)
#define DLNFLOW_HD __host__ __device__
#define DLNFLOW_D __device__
// For the large routines: inlining every product and eigensolver into the one fused kernel
// made it take 8 minutes to compile and 240 registers per thread; calls cost nothing next to
// the O(n^3) work inside.
#define DLNFLOW_HD_NOINLINE __host__ __device__ __noinline__
#else
#define DLNFLOW_HD
#define DLNFLOW_D
#define DLNFLOW_HD_NOINLINE
#endif

namespace dlnflow::device {

struct HostTeam {
  DLNFLOW_HD int rank() const { return 0; }
  DLNFLOW_HD int size() const { return 1; }
  DLNFLOW_HD void sync() const {}
};

#if defined(__CUDACC__)
struct BlockTeam {
  __device__ int rank() const { return static_cast<int>(threadIdx.x); }
  __device__ int size() const { return static_cast<int>(blockDim.x); }
  __device__ void sync() const { __syncthreads(); }
};
#endif

}  // namespace dlnflow::device
