// L1(W) and grad L1(W) for every loss of the core library, on a team: the device counterpart
// of src/cpu/losses.cpp, formula for formula (the same centred square loss, the same corrected
// Bures-Wasserstein expressions, the same rank decisions), so that the backends agree to
// rounding.
#pragma once

#include <cmath>

#include "dense.cuh"
#include "flow_data.cuh"
#include "matfun.cuh"
#include "svd.cuh"

namespace dlnflow::device {

template <class T>
DLNFLOW_HD int loss_workspace(const FlowData<T>& f, int team_size) {
  const int d = f.rows, c = f.cols, k = imin(d, c), rc = d * c;
  int need = 0;
  switch (f.loss) {
    case LossKind::Square: need = rc; break;
    case LossKind::BuresWasserstein:
      need = f.tau > 0 ? rc + 3 * d * d + psd_function_workspace(d) + rc
                       : rc + d * k + k + c * k + svd_workspace(d, c) + 2 * rc + d * k;
      break;
    case LossKind::Sensing: need = f.measurements; break;
    case LossKind::Completion: need = 0; break;
  }
  return need + team_size;
}

// Each loss on its own: G = grad L1(W), the value returned; w is the loss's workspace after the
// team's reduction scratch.
template <class Team, class T>
DLNFLOW_HD_NOINLINE T square_loss_gradient(const Team& team, const FlowData<T>& f, const T* W, T* G, T* w, T* scratch,
                                           bool want_value) {
  const int d = f.rows, c = f.cols, rc = d * c;
  gemm(team, Op::N, Op::N, d, c, c, T(1), W, d, f.cxx, c, T(0), G, d);
  team.sync();
  axpby(team, rc, T(-1), f.cyx, T(1), G);
  team.sync();
  if (!want_value) return T(NAN);
  if (f.w_opt) {  // 1/2 tr((W - W*) Cxx (W - W*)^T) + L*
    T* D = w;
    for (int i = team.rank(); i < rc; i += team.size()) D[i] = W[i] - f.w_opt[i];
    team.sync();
    T part = 0;  // <D Cxx, D> entry by entry, without storing D Cxx
    for (int idx = team.rank(); idx < rc; idx += team.size()) {
      const int i = idx % d, j = idx / d;
      T e = 0;
      for (int l = 0; l < c; ++l) e += D[i + l * d] * f.cxx[l + j * c];
      part += e * D[idx];
    }
    return T(0.5) * team_sum(team, part, scratch) + f.l_opt;
  }
  // 1/2 (<W Cxx, W> - 2 <W, Cyx> + yy), from G = W Cxx - Cyx: <G, W> = <W Cxx, W> - <Cyx, W>.
  T part = 0;
  for (int i = team.rank(); i < rc; i += team.size()) part += G[i] * W[i] - f.cyx[i] * W[i];
  return T(0.5) * (team_sum(team, part, scratch) + f.yy);
}

// tau > 0: T = Sigma0^{1/2} (M M^T + tau Sigma0)^{-1/2} Sigma0^{1/2} - I with M = Sigma0^{1/2} W
// (at w, from bw_loss_gradient); L = ||T W||^2 + tau ||T||^2 (docs/theory.md, the Bures-Wasserstein loss).
template <class Team, class T>
DLNFLOW_HD_NOINLINE T bw_smooth_loss_gradient(const Team& team, const FlowData<T>& f, const T* W, T* G, T* w,
                                              T* scratch, bool& ok) {
  const int d = f.rows, c = f.cols, rc = d * c;
  T* M = w;
  T* A = M + rc;
  T* R = A + d * d;
  T* Tm = R + d * d;
  T* TW = Tm + d * d;
  T* pw = TW + rc;
  gemm(team, Op::N, Op::T, d, d, c, T(1), M, d, M, d, T(0), A, d);
  team.sync();
  axpby(team, d * d, f.tau, f.sigma0, T(1), A);
  team.sync();
  ok = psd_function(team, d, A, PsdFunction::InverseSqrt, T(0), R, pw);
  // psd_function leaves the eigenvalues at pw + n*n, decreasing: A must be definite.
  const T lam_min = pw[d * d + d - 1];
  if (!(lam_min > 0)) ok = false;
  team.sync();
  if (!ok) return T(NAN);
  gemm(team, Op::N, Op::N, d, d, d, T(1), f.sqrt_sigma0, d, R, d, T(0), A, d);
  team.sync();
  gemm(team, Op::N, Op::N, d, d, d, T(1), A, d, f.sqrt_sigma0, d, T(0), Tm, d);
  team.sync();
  for (int i = team.rank(); i < d; i += team.size()) Tm[i + i * d] -= T(1);
  team.sync();
  gemm(team, Op::N, Op::N, d, c, d, T(1), Tm, d, W, d, T(0), TW, d);
  team.sync();
  axpby(team, rc, T(-2), TW, T(0), G);
  T part = 0;
  for (int i = team.rank(); i < rc; i += team.size()) part += TW[i] * TW[i];
  for (int i = team.rank(); i < d * d; i += team.size()) part += f.tau * Tm[i] * Tm[i];
  return team_sum(team, part, scratch);
}

// tau = 0: the polar factor of M = Sigma0^{1/2} W on its numerical range, cut at the rank bound
// (Bréchet et al. eq. (38)); M = Sigma0^{1/2} W at w, from bw_loss_gradient.
template <class Team, class T>
DLNFLOW_HD_NOINLINE T bw_plain_loss_gradient(const Team& team, const FlowData<T>& f, const T* W, T* G, T* w,
                                             T* scratch, bool& ok) {
  const int d = f.rows, c = f.cols, rc = d * c;
  T* M = w;
  const int k = imin(d, c);
  T* U = M + rc;
  T* s = U + d * k;
  T* V = s + k;
  T* sw = V + c * k;
  T* UV = sw + svd_workspace(d, c);
  T* P = UV + rc;
  T* S0U = P + rc;
  ok = thin_svd(team, d, c, M, U, s, V, sw);
  if (!ok) return T(NAN);
  const T cutoff = 4 * Epsilon<T>::value * static_cast<T>(imax(d, c)) * (k ? s[0] : T(0));
  int r = 0;
  while (r < k && r < f.rank_bound && s[r] > cutoff) ++r;
  gemm(team, Op::N, Op::T, d, c, r, T(1), U, d, V, c, T(0), UV, d);
  team.sync();
  gemm(team, Op::N, Op::N, d, c, d, T(1), f.sqrt_sigma0, d, UV, d, T(0), P, d);
  gemm(team, Op::N, Op::N, d, r, d, T(1), f.sigma0, d, U, d, T(0), S0U, d);
  team.sync();
  T part = 0, cap = 0;
  for (int i = team.rank(); i < rc; i += team.size()) {
    const T D = W[i] - P[i];
    G[i] = 2 * D;
    part += D * D;
  }
  for (int i = team.rank(); i < d * r; i += team.size()) cap += U[i] * S0U[i];
  const T sq = team_sum(team, part, scratch);
  const T captured = team_sum(team, cap, scratch);
  const T rest = f.trace0 - captured;
  return sq + (rest > 0 ? rest : T(0));
}

// Both forms of the BW loss start from M = Sigma0^{1/2} W, written at the start of w.
template <class Team, class T>
DLNFLOW_HD T bw_loss_gradient(const Team& team, const FlowData<T>& f, const T* W, T* G, T* w, T* scratch, bool& ok) {
  gemm(team, Op::N, Op::N, f.rows, f.cols, f.rows, T(1), f.sqrt_sigma0, f.rows, W, f.rows, T(0), w, f.rows);
  team.sync();
  return f.tau > 0 ? bw_smooth_loss_gradient(team, f, W, G, w, scratch, ok)
                   : bw_plain_loss_gradient(team, f, W, G, w, scratch, ok);
}

template <class Team, class T>
DLNFLOW_HD_NOINLINE T sensing_loss_gradient(const Team& team, const FlowData<T>& f, const T* W, T* G, T* w) {
  const int rc = f.rows * f.cols;
  T* res = w;  // residuals <A_i, W> - y_i
  for (int i = team.rank(); i < f.measurements; i += team.size()) {
    const T* Ai = f.sense_a + static_cast<long long>(i) * rc;
    T e = 0;
    for (int l = 0; l < rc; ++l) e += Ai[l] * W[l];
    res[i] = e - f.sense_y[i];
  }
  team.sync();
  for (int l = team.rank(); l < rc; l += team.size()) {
    T g = 0;
    for (int i = 0; i < f.measurements; ++i) g += res[i] * f.sense_a[static_cast<long long>(i) * rc + l];
    G[l] = g;
  }
  T sum = 0;  // every member sums all residuals in order: no extra barrier
  for (int i = 0; i < f.measurements; ++i) sum += res[i] * res[i];
  team.sync();
  return T(0.5) * sum;
}

template <class Team, class T>
DLNFLOW_HD_NOINLINE T completion_loss_gradient(const Team& team, const FlowData<T>& f, const T* W, T* G, T* scratch) {
  const int d = f.rows, rc = d * f.cols;
  fill(team, rc, T(0), G);
  team.sync();
  T sum = 0;
  if (team.rank() == 0)  // one member: an entry may be listed twice
    for (int o = 0; o < f.observed; ++o) {
      const int i = f.omega[2 * o], j = f.omega[2 * o + 1];
      const T r = W[i + j * d] - f.omega_target[o];
      sum += r * r;
      G[i + j * d] += r;
    }
  return T(0.5) * team_sum(team, team.rank() == 0 ? sum : T(0), scratch);
}

// Writes G = grad L1(W) (rows x cols) and returns L1(W); with want_value false the square loss
// skips its value and returns NaN (the intermediate Runge-Kutta stages never need it). `ok`
// turns false, on every member, when an eigensolver fails or a matrix that must be positive
// definite is not.
template <class Team, class T>
DLNFLOW_HD T loss_gradient(const Team& team, const FlowData<T>& f, const T* W, T* G, T* work, bool& ok,
                           bool want_value = true) {
  T* const scratch = work;  // team.size() entries for reductions
  T* const w = work + team.size();
  ok = true;
  switch (f.loss) {
    case LossKind::Square: return square_loss_gradient(team, f, W, G, w, scratch, want_value);
    case LossKind::BuresWasserstein: return bw_loss_gradient(team, f, W, G, w, scratch, ok);
    case LossKind::Sensing: return sensing_loss_gradient(team, f, W, G, w);
    case LossKind::Completion: return completion_loss_gradient(team, f, W, G, scratch);
  }
  return T(NAN);
}

}  // namespace dlnflow::device
