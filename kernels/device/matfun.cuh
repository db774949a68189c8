// Functions of symmetric positive semidefinite matrices from one Jacobi eigendecomposition:
// f(A) = V diag(f(lambda)) V^T. The same conventions as the CPU backend (src/core/matfun.cpp):
// eigenvalues below n eps lambda_max are set to zero before a power is taken, and X^0 = I.
#pragma once

#include <cmath>

#include "dense.cuh"
#include "jacobi_eigh.cuh"

namespace dlnflow::device {

// Workspace: n*n (V) + n (w) + n*n (V scaled) + jacobi_workspace(n).
DLNFLOW_HD inline int psd_function_workspace(int n) { return 2 * n * n + n + jacobi_workspace(n); }

enum class PsdFunction { Power, InverseSqrt };

// out = A^p (PSD A, clamped) or A^{-1/2} (SPD A). A is destroyed. Returns false if the
// eigensolver did not converge (out is then unspecified).
template <class Team, class T>
DLNFLOW_HD_NOINLINE bool psd_function(const Team& team, int n, T* A, PsdFunction f, T p, T* out, T* work) {
  T* V = work;
  T* w = V + n * n;
  T* Vs = w + n;
  T* jw = Vs + n * n;
  const bool ok = jacobi_eigh(team, n, A, V, w, jw);
  const T floor = static_cast<T>(n) * Epsilon<T>::value * (w[0] > 0 ? w[0] : T(0));
  for (int idx = team.rank(); idx < n * n; idx += team.size()) {
    const int j = idx / n;
    T lam = w[j], g;
    if (f == PsdFunction::InverseSqrt) {
      g = 1 / std::sqrt(lam);
    } else {
      if (lam < floor) lam = 0;
      g = p == T(0) ? T(1) : (lam > 0 ? std::pow(lam, p) : T(0));
    }
    Vs[idx] = V[idx] * g;
  }
  team.sync();
  gemm(team, Op::N, Op::T, n, n, n, T(1), Vs, n, V, n, T(0), out, n);
  team.sync();
  return ok;
}

}  // namespace dlnflow::device
