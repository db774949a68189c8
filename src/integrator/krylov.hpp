// The linear systems of an implicit step, (I - h gamma J) x = b, solved given only products with
// J (the flow's Jacobian-vector products: the state reaches N d^2 = 32768 entries at d = 64, N = 8,
// where a dense Jacobian is out of the question), by right-preconditioned GCR with the search
// directions kept across the solves of one step (Eisenstat, Elman & Schultz 1983, with the
// recycling of Parks et al. 2006 in its simplest form). GCR minimizes the residual over the same
// space as GMRES, but it keeps each direction p with its image A p; every stage of a Rosenbrock
// step solves with the same matrix, so a later stage's right-hand side is first projected on
// the directions the earlier stages found, and most stages need one new product or none. (With
// a frozen-Jacobian preconditioner the error A M^{-1} - I lives on the few directions the
// Jacobian has moved along since it was frozen: exactly what the kept directions span.)
// The inner product is the one the step's error is measured in (each entry scaled by
// 1 / (atol + rtol |y|)), so that "converged" means "below the tolerance the user asked for",
// whatever the entries' magnitudes.
#pragma once

#include <cmath>
#include <type_traits>

#include "team.hpp"

namespace dlnflow::integrator {

template <class T>
struct KrylovWork {
  int capacity = 0;   // directions kept per step
  int count = 0;      // directions kept so far in this step
  T* p = nullptr;     // capacity directions of n entries
  T* q = nullptr;     // their images A p, orthonormal in the weighted inner product
  T* r = nullptr;     // n: the residual

  template <class W>
  DLNFLOW_HD void layout(W& ws, int n, int dim) {
    capacity = dim;
    p = ws.take(static_cast<long long>(capacity) * n);
    q = ws.take(static_cast<long long>(capacity) * n);
    r = ws.take(n);
  }
};

// <x, y> with weights wt (squared inverse scales), the same on every member.
// Several partial sums: a reduction in one accumulator cannot be vectorized without
// reassociating it, and these products are most of the solver's own time (one accumulator made
// auto on the stiff benchmark, depth 4, alpha = 1e-8, take 0.90 s instead of 0.65-0.70 s).
// On the host, eight contiguous ones, which the compiler keeps in one vector register: four
// strided ones (the team form below) it vectorized across iterations and then summed lane by
// lane in order, 230 ns against 66 ns for n = 400 on an Intel Xeon with AVX-512.
template <class Team, class T>
DLNFLOW_HD T weighted_dot(const Team& team, int n, const T* x, const T* y, const T* wt, T* scratch) {
  if constexpr (std::is_same_v<Team, HostTeam>) {
    constexpr int kLanes = 8;
    T s[kLanes] = {};
    int i = 0;
    for (; i + kLanes <= n; i += kLanes)
      for (int u = 0; u < kLanes; ++u) s[u] += wt[i + u] * x[i + u] * y[i + u];
    for (; i < n; ++i) s[0] += wt[i] * x[i] * y[i];
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
  }
  T s[4] = {0, 0, 0, 0};
  const int stride = team.size();
  int i = team.rank();
  for (; i + 3 * stride < n; i += 4 * stride)
    for (int u = 0; u < 4; ++u) s[u] += wt[i + u * stride] * x[i + u * stride] * y[i + u * stride];
  for (; i < n; i += stride) s[0] += wt[i] * x[i] * y[i];
  return team_sum(team, (s[0] + s[1]) + (s[2] + s[3]), scratch);
}

struct KrylovResult {
  int iterations = 0;  // operator applications
  bool converged = false;
};

// Solves A x = b to ||b - A x||_wt <= tol sqrt(n) (the RMS of the scaled residual below tol),
// starting from the projection of b on the directions kept in `kw` (kw.count = 0 at the start of
// a step: A changes between steps), adding new ones until converged or `kw` is full.
// apply(in, out): out = A in; precondition(in, out): out ~ A^{-1} in. x and b may not alias kw.
template <class Team, class T, class Apply, class Precondition>
DLNFLOW_HD_NOINLINE KrylovResult gcr(const Team& team, int n, const T* b, T* x, const T* wt, T tol, KrylovWork<T>& kw,
                                     Apply&& apply, Precondition&& precondition, T* scratch) {
  KrylovResult res;
  const T target = tol * std::sqrt(T(n));
  for (int i = team.rank(); i < n; i += team.size()) x[i] = 0, kw.r[i] = b[i];
  team.sync();
  // x += a p_j, r -= a q_j with a = <q_j, r>: the residual's component along A p_j removed.
  auto absorb = [&](int j) {
    const T* pj = kw.p + static_cast<long long>(j) * n;
    const T* qj = kw.q + static_cast<long long>(j) * n;
    const T a = weighted_dot(team, n, qj, kw.r, wt, scratch);
    for (int i = team.rank(); i < n; i += team.size()) x[i] += a * pj[i], kw.r[i] -= a * qj[i];
    team.sync();
  };
  for (int j = 0; j < kw.count; ++j) absorb(j);
  while (true) {
    const T rn = std::sqrt(weighted_dot(team, n, kw.r, kw.r, wt, scratch));
    if (!(rn == rn)) return res;  // NaN: not converged
    if (rn <= target) {
      res.converged = true;
      return res;
    }
    if (kw.count == kw.capacity) return res;
    const int j = kw.count;
    T* pj = kw.p + static_cast<long long>(j) * n;
    T* qj = kw.q + static_cast<long long>(j) * n;
    precondition(kw.r, pj);
    apply(pj, qj);
    ++res.iterations;
    for (int m = 0; m < j; ++m) {  // modified Gram-Schmidt of A p against the kept images
      const T* pm = kw.p + static_cast<long long>(m) * n;
      const T* qm = kw.q + static_cast<long long>(m) * n;
      const T h = weighted_dot(team, n, qj, qm, wt, scratch);
      for (int i = team.rank(); i < n; i += team.size()) qj[i] -= h * qm[i], pj[i] -= h * pm[i];
      team.sync();
    }
    const T qn = std::sqrt(weighted_dot(team, n, qj, qj, wt, scratch));
    if (!(qn > 0) || !(qn == qn)) return res;  // breakdown: no new direction
    for (int i = team.rank(); i < n; i += team.size()) qj[i] /= qn, pj[i] /= qn;
    team.sync();
    ++kw.count;
    absorb(j);
  }
}

}  // namespace dlnflow::integrator
