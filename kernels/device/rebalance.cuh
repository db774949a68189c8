// The device math's restoring of the balancedness after an implicit step: the same gauge
// transform, operator, block-Lyapunov preconditioner and three conjugate-gradient iterations as
// the CPU backend's src/cpu/rebalance.hpp (which says why), on a team, with Jacobi eigensolves.
// The hidden layers' matrices lie one after another in each array (layer j at hidden_offset j).
#pragma once

#include <cmath>

#include "dense.cuh"
#include "flows.cuh"
#include "jacobi_eigh.cuh"

namespace dlnflow::device {

template <class T>
struct Rebalance {
  static constexpr int kIterations = 3;  // as src/cpu/rebalance.hpp
  int hidden = 0;                        // sum of widths[j]^2 over the hidden layers
  bool have_basis = false;               // u and lambda still precondition well (as on the CPU)
  T *d0 = nullptr, *c = nullptr, *u = nullptr, *lambda = nullptr;
  T *r = nullptr, *z = nullptr, *p = nullptr, *q = nullptr, *s = nullptr;
  T *t = nullptr, *x = nullptr, *m = nullptr, *eig = nullptr;

  template <class W>
  DLNFLOW_HD void layout(W& ws, const FlowData<T>& f) {
    hidden = 0;
    if (f.param != ParamKind::Deep || f.depth < 2) return;
    int wmax = 0, lam = 0;
    for (int j = 0; j <= f.depth; ++j) wmax = imax(wmax, f.widths[j]);
    for (int j = 1; j < f.depth; ++j) hidden += f.widths[j] * f.widths[j], lam += f.widths[j];
    d0 = ws.take(hidden), c = ws.take(hidden), u = ws.take(hidden), lambda = ws.take(lam);
    r = ws.take(hidden), z = ws.take(hidden), p = ws.take(hidden), q = ws.take(hidden), s = ws.take(hidden);
    t = ws.take(wmax * wmax), x = ws.take(wmax * wmax), m = ws.take(wmax * wmax);
    eig = ws.take(jacobi_workspace(wmax));
  }
};

template <class T>
DLNFLOW_HD int hidden_offset(const FlowData<T>& f, int j) {  // of hidden layer j (1-based)
  int o = 0;
  for (int i = 1; i < j; ++i) o += f.widths[i] * f.widths[i];
  return o;
}

// out_j = W_j W_j^T +- W_{j+1}^T W_{j+1} for every hidden layer (sign -1: the defect D_j).
template <class Team, class T>
DLNFLOW_HD void gram_sums(const Team& team, const FlowData<T>& f, const T* y, T sign, T* out) {
  for (int j = 1; j < f.depth; ++j) {
    const int w = f.widths[j];
    T* o = out + hidden_offset(f, j);
    const T* Wj = y + factor_offset(f, j);
    const T* Wn = y + factor_offset(f, j + 1);
    gemm(team, Op::N, Op::T, w, w, f.widths[j - 1], T(1), Wj, w, Wj, w, T(0), o, w);
    team.sync();
    gemm(team, Op::T, Op::N, w, w, f.widths[j + 1], sign, Wn, f.widths[j + 1], Wn, f.widths[j + 1], T(1), o, w);
    team.sync();
  }
}

// out_j = {S_j, C_j} - 2 W_j S_{j-1} W_j^T - 2 W_{j+1}^T S_{j+1} W_{j+1}.
template <class Team, class T>
DLNFLOW_HD_NOINLINE void rebalance_operator(const Team& team, const FlowData<T>& f, const T* y, const Rebalance<T>& rb,
                                            const T* S, T* out) {
  const int H = f.depth - 1;
  for (int j = 1; j <= H; ++j) {
    const int w = f.widths[j], o = hidden_offset(f, j);
    gemm(team, Op::N, Op::N, w, w, w, T(1), S + o, w, rb.c + o, w, T(0), out + o, w);
    team.sync();
    for (int idx = team.rank(); idx < w * w; idx += team.size()) {  // out += out^T, a pair per member
      const int a = idx % w, b = idx / w;
      if (a < b) {
        const T v = out[o + a + b * w] + out[o + b + a * w];
        out[o + a + b * w] = v, out[o + b + a * w] = v;
      } else if (a == b) {
        out[o + idx] *= 2;
      }
    }
    team.sync();
    if (j > 1) {
      const int wp = f.widths[j - 1];
      const T* Wj = y + factor_offset(f, j);
      gemm(team, Op::N, Op::N, w, wp, wp, T(1), Wj, w, S + hidden_offset(f, j - 1), wp, T(0), rb.t, w);
      team.sync();
      gemm(team, Op::N, Op::T, w, w, wp, T(-2), rb.t, w, Wj, w, T(1), out + o, w);
      team.sync();
    }
    if (j < H) {
      const int wn = f.widths[j + 1];
      const T* Wn = y + factor_offset(f, j + 1);
      gemm(team, Op::T, Op::N, w, wn, wn, T(1), Wn, wn, S + hidden_offset(f, j + 1), wn, T(0), rb.t, w);
      team.sync();
      gemm(team, Op::N, Op::N, w, w, wn, T(-2), rb.t, w, Wn, wn, T(1), out + o, w);
      team.sync();
    }
  }
}

// Z_j solves {Z_j, C_j} = R_j, in the eigenbasis U_j of C_j.
template <class Team, class T>
DLNFLOW_HD_NOINLINE void rebalance_precondition(const Team& team, const FlowData<T>& f, const Rebalance<T>& rb,
                                                const T* R, T* Z) {
  int lo = 0;
  for (int j = 1; j < f.depth; ++j) {
    const int w = f.widths[j], o = hidden_offset(f, j);
    const T* U = rb.u + o;
    const T* lam = rb.lambda + lo;
    T top = 0;
    for (int a = 0; a < w; ++a) top = lam[a] > top ? lam[a] : top;
    const T floor = (top > T(0) ? top : T(1)) * T(1e-14);  // below, an eigenvalue is noise
    gemm(team, Op::T, Op::N, w, w, w, T(1), U, w, R + o, w, T(0), rb.t, w);
    team.sync();
    gemm(team, Op::N, Op::N, w, w, w, T(1), rb.t, w, U, w, T(0), Z + o, w);
    team.sync();
    for (int idx = team.rank(); idx < w * w; idx += team.size()) {
      const T d = lam[idx % w] + lam[idx / w];
      Z[o + idx] /= d > floor ? d : floor;
    }
    team.sync();
    gemm(team, Op::N, Op::N, w, w, w, T(1), U, w, Z + o, w, T(0), rb.t, w);
    team.sync();
    gemm(team, Op::N, Op::T, w, w, w, T(1), rb.t, w, U, w, T(0), Z + o, w);
    team.sync();
    lo += w;
  }
}

template <class Team, class T>
DLNFLOW_HD void rebalance_keep(const Team& team, const FlowData<T>& f, Rebalance<T>& rb, const T* y0) {
  rb.have_basis = false;
  if (rb.hidden == 0) return;
  gram_sums(team, f, y0, T(-1), rb.d0);
}

// Moves y along its gauge orbit towards D(y) = D(y0) (src/cpu/rebalance.hpp); leaves it as it was
// where the correction is not small or an eigensolver did not converge.
template <class Team, class T>
DLNFLOW_HD_NOINLINE void rebalance(const Team& team, const FlowData<T>& f, Rebalance<T>& rb, T* y, T* scratch) {
  if (rb.hidden == 0) return;
  const int n = rb.hidden, H = f.depth - 1;
  gram_sums(team, f, y, T(-1), rb.r);
  for (int i = team.rank(); i < n; i += team.size()) rb.r[i] = rb.d0[i] - rb.r[i];
  team.sync();
  const T rr0 = dot(team, n, rb.r, rb.r, scratch);
  if (!(rr0 > 0)) return;
  gram_sums(team, f, y, T(1), rb.c);
  fill(team, n, T(0), rb.s);
  for (int round = 0; round < 2; ++round) {  // a kept eigenbasis that no longer works: refreshed
    const bool kept = rb.have_basis;
    bool ok = true;
    int lo = 0;
    for (int j = 1; j <= H && !rb.have_basis; ++j) {
      const int w = f.widths[j], o = hidden_offset(f, j);
      copy(team, w * w, rb.c + o, rb.m);
      team.sync();
      if (!jacobi_eigh(team, w, rb.m, rb.u + o, rb.lambda + lo, rb.eig)) ok = false;
      team.sync();
      for (int a = team.rank(); a < w; a += team.size()) rb.lambda[lo + a] = rb.lambda[lo + a] > 0 ? rb.lambda[lo + a] : T(0);
      team.sync();
      lo += w;
    }
    if (!ok) return;
    const T rr = round == 0 ? rr0 : dot(team, n, rb.r, rb.r, scratch);
    rebalance_precondition(team, f, rb, rb.r, rb.z);
    copy(team, n, rb.z, rb.p);
    team.sync();
    T rz = dot(team, n, rb.r, rb.z, scratch);
    for (int it = 0; it < Rebalance<T>::kIterations; ++it) {
      rebalance_operator(team, f, y, rb, rb.p, rb.q);
      const T pq = dot(team, n, rb.p, rb.q, scratch);
      if (!(pq > 0)) break;
      const T a = rz / pq;
      for (int i = team.rank(); i < n; i += team.size()) rb.s[i] += a * rb.p[i], rb.r[i] -= a * rb.q[i];
      team.sync();
      if (it + 1 == Rebalance<T>::kIterations) break;
      rebalance_precondition(team, f, rb, rb.r, rb.z);
      const T rz1 = dot(team, n, rb.r, rb.z, scratch);
      for (int i = team.rank(); i < n; i += team.size()) rb.p[i] = rb.z[i] + (rz1 / rz) * rb.p[i];
      team.sync();
      rz = rz1;
    }
    rb.have_basis = dot(team, n, rb.r, rb.r, scratch) <= T(1e-2) * rr;
    if (rb.have_basis || !kept) break;
  }
  T big = 0;
  for (int i = team.rank(); i < n; i += team.size()) {
    const T v = std::fabs(rb.s[i]);
    if (!(v <= big)) big = v;  // NaN wins
  }
  big = team_max(team, big, scratch);
  if (!(big <= T(1e-3))) return;  // not a drift: leave y alone
  // W_j -> (I + S_j) W_j (I - S_{j-1} + S_{j-1}^2), S_0 = S_N = 0.
  for (int j = 1; j <= f.depth; ++j) {
    const int w = f.widths[j], wp = f.widths[j - 1];
    T* Wj = y + factor_offset(f, j);
    copy(team, w * wp, Wj, rb.x);
    team.sync();
    if (j <= H) {
      gemm(team, Op::N, Op::N, w, wp, w, T(1), rb.s + hidden_offset(f, j), w, Wj, w, T(1), rb.x, w);
      team.sync();
    }
    if (j > 1) {
      const T* S = rb.s + hidden_offset(f, j - 1);
      gemm(team, Op::N, Op::N, wp, wp, wp, T(1), S, wp, S, wp, T(0), rb.m, wp);
      team.sync();
      axpby(team, wp * wp, T(-1), S, T(1), rb.m);
      team.sync();
      copy(team, w * wp, rb.x, Wj);
      team.sync();
      gemm(team, Op::N, Op::N, w, wp, wp, T(1), rb.x, w, rb.m, wp, T(1), Wj, w);
    } else {
      copy(team, w * wp, rb.x, Wj);
    }
    team.sync();
  }
}

}  // namespace dlnflow::device
