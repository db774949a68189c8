// The "team" the trajectory driver and the device math are written against: a group of threads
// that share memory and can barrier. On the GPU a team is a thread block or a warp; on the CPU
// backend and in host tests it is one thread (HostTeam), or std::threads meeting at a barrier
// (tests), so the same arithmetic runs, and is checked, on a machine without a GPU. Routines split
// work as `for (i = team.rank(); i < n; i += team.size())` and call team.sync() between phases
// that read what another member wrote.
#pragma once

#include <cmath>

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

namespace dlnflow::integrator {

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

DLNFLOW_HD inline bool finite(double x) { return x - x == 0.0; }  // false for inf and NaN

template <class T>
struct Epsilon;
template <>
struct Epsilon<double> {
  static constexpr double value = 2.220446049250313e-16;
};
template <>
struct Epsilon<float> {
  static constexpr float value = 1.1920929e-7f;
};

template <class Team, class T>
DLNFLOW_HD void copy(const Team& team, int n, const T* x, T* y) {
  for (int i = team.rank(); i < n; i += team.size()) y[i] = x[i];
}

// The sum of every member's `value`, through `scratch` (team.size() entries). Every member
// gets the same total, summed in the same order, so control flow that depends on it stays
// uniform across the team.
template <class Team, class T>
DLNFLOW_HD T team_sum(const Team& team, T value, T* scratch) {
  scratch[team.rank()] = value;
  team.sync();
  T total = 0;
  for (int r = 0; r < team.size(); ++r) total += scratch[r];
  team.sync();
  return total;
}

// The largest of every member's `value` (NaN wins, so that a NaN is never hidden).
template <class Team, class T>
DLNFLOW_HD T team_max(const Team& team, T value, T* scratch) {
  scratch[team.rank()] = value;
  team.sync();
  T m = scratch[0];
  for (int r = 1; r < team.size(); ++r) {
    const T v = scratch[r];
    if (v != v || v > m) m = v;
    if (m != m) break;
  }
  team.sync();
  return m;
}

}  // namespace dlnflow::integrator
