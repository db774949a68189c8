// Everything a team needs to evaluate one Problem, in plain types: sizes, kinds, and pointers
// into one block of constants (global memory on the GPU, host memory in tests). Filled on the
// host by src/gpu/pack.cpp from a dlnflow::Problem, so nvcc never sees Eigen.
#pragma once

#include "team.cuh"

namespace dlnflow::device {

constexpr int kMaxDepth = 64;

enum class LossKind : int { Square, BuresWasserstein, Sensing, Completion };
enum class ParamKind : int { Deep, Symmetric, EndToEnd };

template <class T>
struct FlowData {
  // ---- parametrization
  ParamKind param = ParamKind::Deep;
  int depth = 0;                  // N (deep, end-to-end); 2 for the symmetric factorization
  int widths[kMaxDepth + 1] = {}; // deep: d_0 .. d_N
  int rows = 0, cols = 0;         // of the end-to-end matrix W
  int sym_k = 0;                  // symmetric: U is rows x sym_k
  int rank_cap = 0;               // end-to-end
  int rank_bound = 0;             // largest rank W can have (the BW polar factor is cut there)
  int state = 0;                  // entries of a state vector

  // ---- loss
  LossKind loss = LossKind::Square;
  // Square: G = W Cxx - Cyx; value in the centred form when w_opt is given (CPU convention).
  const T* cxx = nullptr;      // cols x cols
  const T* cyx = nullptr;      // rows x cols
  T yy = 0;
  const T* w_opt = nullptr;    // rows x cols or null
  T l_opt = 0;
  // Bures-Wasserstein
  const T* sigma0 = nullptr;       // rows x rows
  const T* sqrt_sigma0 = nullptr;  // rows x rows
  T trace0 = 0, tau = 0;
  // Sensing: measurements A_i (rows x cols each, one after another) and values y_i.
  int measurements = 0;
  const T* sense_a = nullptr;
  const T* sense_y = nullptr;
  // Completion: observed (i, j) pairs (2 ints each) and the target value at each.
  int observed = 0;
  const int* omega = nullptr;
  const T* omega_target = nullptr;

  // ---- the implicit methods (flow_jvp.cuh, frozen_jacobian.cuh)
  bool linearize = false;      // lay out the linearization's workspace (rodas5p or auto, not end-to-end)
  int sketch_cols = 0;         // > 0: the frozen Jacobian from a range finder started at `sketch`
  const T* sketch = nullptr;   // state x sketch_cols standard normal entries, shared by all teams
};

// The critical-point catalogue the recorder measures distances to (see catalog.hpp): either
// full representatives W_J (rows x cols each), or, for the BW loss, factors A_J (rows x |J|)
// with the Stiefel factor free.
template <class T>
struct CatalogData {
  int count = 0;
  int events = 0;               // the linear and distance events' matrices, after the points
  bool stiefel_free = false;
  const T* matrices = nullptr;  // one after another
  const int* offsets = nullptr; // count + events + 1 entries into `matrices`
  const int* ranks = nullptr;   // |J| of each point (stiefel_free only)
};

DLNFLOW_HD inline int imax(int a, int b) { return a > b ? a : b; }
DLNFLOW_HD inline int imin(int a, int b) { return a < b ? a : b; }

}  // namespace dlnflow::device
