// Dense column-major blocks on a team: the products and reductions every flow needs.
// A matrix is (pointer, rows, cols) with leading dimension = rows (no padding): the layout of
// the CPU backend's state vector, so states move between backends unchanged.
#pragma once

#include <cmath>

#include "team.cuh"

namespace dlnflow::device {

enum class Op { N, T };

// C = alpha * op(A) * op(B) + beta * C, with op(A) m x k, op(B) k x n. C must not alias A or B.
// Each member computes whole output entries, so no reduction crosses members.
template <class Team, class T>
DLNFLOW_HD_NOINLINE void gemm(const Team& team, Op opa, Op opb, int m, int n, int k, T alpha, const T* A, int lda,
                     const T* B, int ldb, T beta, T* C, int ldc) {
  for (int idx = team.rank(); idx < m * n; idx += team.size()) {
    const int i = idx % m, j = idx / m;
    T s = 0;
    for (int l = 0; l < k; ++l) {
      const T a = opa == Op::N ? A[i + l * lda] : A[l + i * lda];
      const T b = opb == Op::N ? B[l + j * ldb] : B[j + l * ldb];
      s += a * b;
    }
    C[i + j * ldc] = alpha * s + (beta == T(0) ? T(0) : beta * C[i + j * ldc]);
  }
}

// y = a * x + b * y over n entries.
template <class Team, class T>
DLNFLOW_HD void axpby(const Team& team, int n, T a, const T* x, T b, T* y) {
  for (int i = team.rank(); i < n; i += team.size()) y[i] = a * x[i] + b * y[i];
}

// sum_i x[i] * y[i]; every member gets it. Scratch: team.size() entries.
template <class Team, class T>
DLNFLOW_HD T dot(const Team& team, int n, const T* x, const T* y, T* scratch) {
  T s = 0;
  for (int i = team.rank(); i < n; i += team.size()) s += x[i] * y[i];
  return team_sum(team, s, scratch);
}

template <class Team, class T>
DLNFLOW_HD T squared_norm(const Team& team, int n, const T* x, T* scratch) {
  return dot(team, n, x, x, scratch);
}

template <class Team, class T>
DLNFLOW_HD void fill(const Team& team, int n, T value, T* x) {
  for (int i = team.rank(); i < n; i += team.size()) x[i] = value;
}

}  // namespace dlnflow::device
