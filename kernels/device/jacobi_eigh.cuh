// Symmetric eigendecomposition by parallel cyclic Jacobi on a team. Each round applies n/2
// disjoint rotations (round-robin "tournament" pairing), so members rotate different rows and
// columns without conflicts. A rotation is skipped when |a_pq| <= eps sqrt(|a_pp a_qq|): this
// threshold gives eigenvalues of positive semidefinite matrices to high *relative* accuracy
// (Demmel & Veselic), which the spectra of small-initialization flows need (values ~1e-300).
#pragma once

#include <cmath>

#include "team.cuh"

namespace dlnflow::device {

// (x, y) <- (c x - s y, s x + c y): one rotation applied to the p and q entries of a row or column.
template <class T>
DLNFLOW_HD inline void rotate(T c, T s, T& x, T& y) {
  const T a = x, b = y;
  x = c * a - s * b;
  y = s * a + c * b;
}

// Workspace entries jacobi_eigh needs.
DLNFLOW_HD inline int jacobi_workspace(int n) { return 3 * ((n + 1) / 2); }

// Pair k of round r among m (even) players; -1 marks the dummy player of an odd n.
DLNFLOW_HD inline void tournament_pair(int m, int n, int r, int k, int& p, int& q) {
  if (k == 0) {
    p = r, q = m - 1;
  } else {
    p = (r + k) % (m - 1), q = (r - k + m - 1) % (m - 1);
  }
  if (p > q) {
    const int t = p;
    p = q, q = t;
  }
  if (q >= n) p = q = -1;
}

// A (n x n, symmetric, column-major) is destroyed. On return V holds orthonormal eigenvectors
// (columns) and w the eigenvalues, decreasing. Returns false if max_sweeps did not converge.
template <class Team, class T>
DLNFLOW_HD_NOINLINE bool jacobi_eigh(const Team& team, int n, T* A, T* V, T* w, T* work, int max_sweeps = 40) {
  const int m = n + (n & 1);
  const int pairs = m / 2;
  T* cs = work;
  T* sn = work + pairs;
  T* rotated = work + 2 * pairs;
  const T eps = Epsilon<T>::value;
  for (int idx = team.rank(); idx < n * n; idx += team.size()) V[idx] = (idx % n == idx / n) ? T(1) : T(0);
  team.sync();
  bool converged = n <= 1;
  for (int sweep = 0; sweep < max_sweeps && !converged; ++sweep) {
    for (int k = team.rank(); k < pairs; k += team.size()) rotated[k] = 0;
    for (int r = 0; r < m - 1; ++r) {
      for (int k = team.rank(); k < pairs; k += team.size()) {  // rotation angles
        int p, q;
        tournament_pair(m, n, r, k, p, q);
        T c = 1, s = 0;
        if (p >= 0) {
          // Rounding makes the two triangles drift apart by ~eps; their mean is the value.
          const T apq = T(0.5) * (A[p + q * n] + A[q + p * n]), app = A[p + p * n], aqq = A[q + q * n];
          if (apq != T(0) && std::fabs(apq) > eps * std::sqrt(std::fabs(app * aqq))) {
            const T theta = (aqq - app) / (2 * apq);
            const T t = (theta >= 0 ? T(1) : T(-1)) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
            c = 1 / std::sqrt(t * t + 1);
            s = t * c;
            rotated[k] = 1;
          }
        }
        cs[k] = c, sn[k] = s;
      }
      team.sync();
      for (int idx = team.rank(); idx < pairs * n; idx += team.size()) {  // rows: A <- P^T A
        const int k = idx / n, j = idx % n;
        int p, q;
        tournament_pair(m, n, r, k, p, q);
        if (p < 0 || sn[k] == T(0)) continue;
        rotate(cs[k], sn[k], A[p + j * n], A[q + j * n]);
      }
      team.sync();
      for (int idx = team.rank(); idx < pairs * n; idx += team.size()) {  // columns: A <- A P, V <- V P
        const int k = idx / n, i = idx % n;
        int p, q;
        tournament_pair(m, n, r, k, p, q);
        if (p < 0 || sn[k] == T(0)) continue;
        rotate(cs[k], sn[k], A[i + p * n], A[i + q * n]);
        rotate(cs[k], sn[k], V[i + p * n], V[i + q * n]);
      }
      team.sync();
      for (int k = team.rank(); k < pairs; k += team.size()) {  // the rotation zeroes a_pq exactly
        int p, q;
        tournament_pair(m, n, r, k, p, q);
        if (p >= 0 && sn[k] != T(0)) A[p + q * n] = A[q + p * n] = 0;
      }
      team.sync();
    }
    converged = true;  // every member reads the same flags in the same order
    for (int k = 0; k < pairs; ++k) converged = converged && rotated[k] == T(0);
    team.sync();
  }
  if (team.rank() == 0) {  // decreasing order: selection sort, n is small
    for (int i = 0; i < n; ++i) w[i] = A[i + i * n];
    for (int i = 0; i < n; ++i) {
      int best = i;
      for (int j = i + 1; j < n; ++j)
        if (w[j] > w[best]) best = j;
      if (best == i) continue;
      const T t = w[i];
      w[i] = w[best], w[best] = t;
      for (int r = 0; r < n; ++r) {
        const T v = V[r + i * n];
        V[r + i * n] = V[r + best * n], V[r + best * n] = v;
      }
    }
  }
  team.sync();
  return converged;
}

}  // namespace dlnflow::device
