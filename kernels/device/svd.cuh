// Thin SVD by one-sided (Hestenes) Jacobi on a team: column pairs of a working copy are
// orthogonalized by plane rotations until no pair needs one. Like the CPU backend's
// Eigen::JacobiSVD it resolves small singular values to high *relative* accuracy, which the
// spectra of small-initialization flows (values down to 1e-300) and the rank decisions of the
// Bures-Wasserstein polar factor need.
#pragma once

#include <cmath>

#include "dense.cuh"
#include "jacobi_eigh.cuh"

namespace dlnflow::device {

// Workspace entries thin_svd needs for an m x n matrix.
DLNFLOW_HD inline int svd_workspace(int m, int n) {
  const int k = m < n ? m : n;
  return 3 * ((k + 1) / 2) + 1;
}

// ||x|| without underflow or overflow of the squares (LAPACK dnrm2's scaling, in two passes).
template <class T>
DLNFLOW_HD T column_norm(int p, const T* x) {
  T big = 0;
  for (int l = 0; l < p; ++l) big = std::fabs(x[l]) > big ? std::fabs(x[l]) : big;
  if (big == T(0) || !(big < T(INFINITY))) return big;
  T ss = 0;
  for (int l = 0; l < p; ++l) {
    const T q = x[l] / big;
    ss += q * q;
  }
  return big * std::sqrt(ss);
}

// Orthogonalizes the k columns of X (p x k) in place and accumulates the rotations in Q
// (k x k, starts as the identity). Returns false if max_sweeps did not converge.
template <class Team, class T>
DLNFLOW_HD_NOINLINE bool one_sided_jacobi(const Team& team, int p, int k, T* X, T* Q, T* work, int max_sweeps) {
  const int m = k + (k & 1);
  const int pairs = m / 2;
  T* cs = work;
  T* sn = work + pairs;
  T* rotated = work + 2 * pairs;
  const T eps = Epsilon<T>::value;
  for (int idx = team.rank(); idx < k * k; idx += team.size()) Q[idx] = (idx % k == idx / k) ? T(1) : T(0);
  team.sync();
  bool converged = k <= 1;
  for (int sweep = 0; sweep < max_sweeps && !converged; ++sweep) {
    for (int i = team.rank(); i < pairs; i += team.size()) rotated[i] = 0;
    for (int r = 0; r < m - 1; ++r) {
      for (int i = team.rank(); i < pairs; i += team.size()) {
        int a, b;
        tournament_pair(m, k, r, i, a, b);
        T c = 1, s = 0;
        if (a >= 0) {
          // Norms and the cosine from scaled columns: squared entries of a column of 1e-200s
          // would underflow, and graded columns (1 ... 1e-200) are the small-init regime.
          const T na = column_norm(p, X + a * p), nb = column_norm(p, X + b * p);
          if (na > 0 && nb > 0) {
            T cosine = 0;
            for (int l = 0; l < p; ++l) cosine += (X[l + a * p] / na) * (X[l + b * p] / nb);
            if (std::fabs(cosine) > eps * T(p)) {  // m eps: noise columns of a rank-deficient A settle
              const T zeta = (nb / na - na / nb) / (2 * cosine);  // (beta - alpha) / (2 gamma)
              // hypot: zeta ~ 1e200 between graded columns, where zeta^2 overflows.
              const T t = (zeta >= 0 ? T(1) : T(-1)) / (std::fabs(zeta) + std::hypot(T(1), zeta));
              c = 1 / std::sqrt(1 + t * t);
              s = c * t;
              if (s != T(0)) rotated[i] = 1;
            }
          }
        }
        cs[i] = c, sn[i] = s;
      }
      team.sync();
      for (int idx = team.rank(); idx < pairs * (p + k); idx += team.size()) {
        const int i = idx / (p + k), l = idx % (p + k);
        int a, b;
        tournament_pair(m, k, r, i, a, b);
        if (a < 0 || sn[i] == T(0)) continue;
        if (l < p)
          rotate(cs[i], sn[i], X[l + a * p], X[l + b * p]);
        else
          rotate(cs[i], sn[i], Q[(l - p) + a * k], Q[(l - p) + b * k]);
      }
      team.sync();
    }
    converged = true;
    for (int i = 0; i < pairs; ++i) converged = converged && rotated[i] == T(0);
    team.sync();
  }
  return converged;
}

// Thin SVD of A (m x n, column-major, not modified): A = U diag(s) V^T with U m x k, V n x k,
// k = min(m, n), s decreasing. Columns of U (or V) belonging to zero singular values are
// completed to an orthonormal set, so projectors built from them are exact.
template <class Team, class T>
DLNFLOW_HD_NOINLINE bool thin_svd(const Team& team, int m, int n, const T* A, T* U, T* s, T* V, T* work,
                         int max_sweeps = 60) {
  const bool wide = m < n;
  const int k = wide ? m : n, p = wide ? n : m;
  // Jacobi runs on X = A (tall) or A^T (wide): X Q = (left vectors) diag(s).
  T* X = wide ? V : U;
  T* Q = wide ? U : V;
  for (int idx = team.rank(); idx < p * k; idx += team.size()) {
    const int l = idx % p, j = idx / p;
    X[idx] = wide ? A[j + l * m] : A[l + j * m];
  }
  team.sync();
  const bool ok = one_sided_jacobi(team, p, k, X, Q, work, max_sweeps);
  T* order = work;  // reuse: column norms
  for (int j = team.rank(); j < k; j += team.size()) order[j] = column_norm(p, X + j * p);
  team.sync();
  for (int idx = team.rank(); idx < p * k; idx += team.size()) {
    const T nrm = order[idx / p];
    if (nrm > 0) X[idx] /= nrm;
  }
  team.sync();
  if (team.rank() == 0) {
    for (int j = 0; j < k; ++j) s[j] = order[j];
    for (int i = 0; i < k; ++i) {  // decreasing order, columns of X and Q follow
      int best = i;
      for (int j = i + 1; j < k; ++j)
        if (s[j] > s[best]) best = j;
      if (best == i) continue;
      const T t = s[i];
      s[i] = s[best], s[best] = t;
      for (int l = 0; l < p; ++l) {
        const T x = X[l + i * p];
        X[l + i * p] = X[l + best * p], X[l + best * p] = x;
      }
      for (int l = 0; l < k; ++l) {
        const T q = Q[l + i * k];
        Q[l + i * k] = Q[l + best * k], Q[l + best * k] = q;
      }
    }
    // Zero singular values leave zero columns in X: complete them from unit vectors by
    // Gram-Schmidt (twice, for orthogonality to working precision).
    for (int j = 0; j < k; ++j) {
      if (s[j] > 0) continue;
      for (int e = 0; e < p; ++e) {
        T* x = X + j * p;
        for (int l = 0; l < p; ++l) x[l] = l == e ? T(1) : T(0);
        for (int pass = 0; pass < 2; ++pass)
          for (int c = 0; c < k; ++c) {
            if (c == j || (c > j && !(s[c] > 0))) continue;
            T d = 0;
            for (int l = 0; l < p; ++l) d += X[l + c * p] * x[l];
            for (int l = 0; l < p; ++l) x[l] -= d * X[l + c * p];
          }
        T nn = 0;
        for (int l = 0; l < p; ++l) nn += x[l] * x[l];
        if (nn > T(0.25)) {
          const T inv = 1 / std::sqrt(nn);
          for (int l = 0; l < p; ++l) x[l] *= inv;
          break;
        }
      }
    }
  }
  team.sync();
  return ok;
}

}  // namespace dlnflow::device
