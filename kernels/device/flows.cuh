// The right-hand side of every flow of the core library on a team, and the quantities the
// recorder needs (end-to-end matrix, spectrum, balance defect, gradient norm, rank
// truncation): the device counterpart of src/cpu/model.cpp, formula for formula.
#pragma once

#include <cmath>

#include "dense.cuh"
#include "flow_data.cuh"
#include "losses.cuh"
#include "svd.cuh"

namespace dlnflow::device {

// k_N(x, y) = sum_k a^k b^{N-1-k} with a = x^{2/N}, b = y^{2/N} and 0^0 = 1, summed as
// positive terms (no cancellation when x ~ y): src/core/matfun.cpp balanced_weight.
template <class T>
DLNFLOW_HD T balanced_weight(T x, T y, int N) {
  const T a = std::pow(x, T(2) / N), b = std::pow(y, T(2) / N);
  const T hi = a > b ? a : b, lo = a > b ? b : a;
  if (lo == T(0)) return std::pow(hi, T(N - 1));
  const T ratio = lo / hi;
  T term = std::pow(hi, T(N - 1)), sum = 0;
  for (int k = 0; k < N; ++k) {
    sum += term;
    term *= ratio;
  }
  return sum;
}

// Offset of factor j (1-based) in a deep state vector.
template <class T>
DLNFLOW_HD int factor_offset(const FlowData<T>& f, int j) {
  int o = 0;
  for (int i = 1; i < j; ++i) o += f.widths[i] * f.widths[i - 1];
  return o;
}

// Entries of one stack of per-factor products W_j..W_1 (widths[j] x d_0, j = 1..N).
template <class T>
DLNFLOW_HD int deep_stack(const FlowData<T>& f) {
  int s = 0;
  for (int j = 1; j <= f.depth; ++j) s += f.widths[j] * f.widths[0];
  return s;
}

// Workspace (entries of T) that flow_rhs, retract, spectrum, balance_defect and grad_norm need.
template <class T>
DLNFLOW_HD int flow_workspace(const FlowData<T>& f, int team_size) {
  const int d = f.rows, c = f.cols, k = imin(d, c), rc = d * c;
  const int lw = loss_workspace(f, team_size);
  const int svd_wc = d * k + k + c * k + svd_workspace(d, c);  // U, s, V, Jacobi workspace of W
  int rhs = 0, extra = 0;
  switch (f.param) {
    case ParamKind::Deep: {
      int wmax = 0;
      for (int j = 0; j <= f.depth; ++j) wmax = imax(wmax, f.widths[j]);
      rhs = 2 * deep_stack(f) + rc + lw;
      extra = imax(rc + 2 * wmax * f.widths[0] + svd_wc, 2 * wmax * wmax) + team_size;
      break;
    }
    case ParamKind::Symmetric: {
      const int ks = imin(d, f.sym_k);
      rhs = 3 * d * d + lw;
      extra = d * ks + ks + f.sym_k * ks + svd_workspace(d, f.sym_k) + team_size;
      break;
    }
    case ParamKind::EndToEnd:
      rhs = rc + svd_wc + 3 * k * c + d * k + 2 * k * k + k + lw;
      extra = svd_wc + d * k + rc + team_size;
      break;
  }
  return imax(rhs, extra);
}

// W = W_N ... W_1 (deep), U U^T (symmetric) or the state itself (end-to-end). Workspace for the
// deep product: 2 * max width * d_0.
template <class Team, class T>
DLNFLOW_HD_NOINLINE void end_to_end(const Team& team, const FlowData<T>& f, const T* state, T* W, T* work) {
  if (f.param == ParamKind::EndToEnd) {
    copy(team, f.rows * f.cols, state, W);
  } else if (f.param == ParamKind::Symmetric) {
    gemm(team, Op::N, Op::T, f.rows, f.rows, f.sym_k, T(1), state, f.rows, state, f.rows, T(0), W, f.rows);
  } else {
    const int d0 = f.widths[0], N = f.depth;
    int wmax = 0;
    for (int j = 0; j <= N; ++j) wmax = imax(wmax, f.widths[j]);
    const T* cur = state;  // W_1
    T* buf[2] = {work, work + wmax * d0};
    for (int j = 2; j <= N; ++j) {
      T* out = j == N ? W : buf[j % 2];
      gemm(team, Op::N, Op::N, f.widths[j], d0, f.widths[j - 1], T(1), state + factor_offset(f, j), f.widths[j], cur,
           f.widths[j - 1], T(0), out, f.widths[j]);
      team.sync();
      cur = out;
    }
    if (N == 1) copy(team, f.rows * f.cols, state, W);
  }
  team.sync();
}

// Z -> A_W(Z) from the thin SVD (U, s, V) of W, its first r triplets (src/core/matfun.cpp
// balanced_operator). Writes `out` (rows x cols). Workspace: 3 k c + d k + 2 k^2 + k.
template <class Team, class T>
DLNFLOW_HD_NOINLINE void balanced_operator(const Team& team, int d, int c, int N, int r, const T* U, const T* s, const T* V,
                                  const T* Z, T* out, T* work) {
  const int k = imin(d, c);
  if (N == 1) {  // A_W is the identity
    copy(team, d * c, Z, out);
    team.sync();
    return;
  }
  T* UtZ = work;           // r x c
  T* ZV = UtZ + k * c;     // d x r
  T* UtZV = ZV + d * k;    // r x r
  T* K = UtZV + k * k;     // r x r
  T* sc = K + k * k;       // r
  T* Lm = sc + k;          // r x c
  for (int idx = team.rank(); idx < r * r; idx += team.size()) K[idx] = balanced_weight(s[idx % r], s[idx / r], N);
  for (int a = team.rank(); a < r; a += team.size()) sc[a] = balanced_weight(s[a], T(0), N);
  gemm(team, Op::T, Op::N, r, c, d, T(1), U, d, Z, d, T(0), UtZ, r);
  gemm(team, Op::N, Op::N, d, r, c, T(1), Z, d, V, c, T(0), ZV, d);
  team.sync();
  gemm(team, Op::N, Op::N, r, r, c, T(1), UtZ, r, V, c, T(0), UtZV, r);
  team.sync();
  gemm(team, Op::N, Op::T, r, c, r, T(-1), UtZV, r, V, c, T(1), UtZ, r);  // UtZ (I - P_V)
  gemm(team, Op::N, Op::N, d, r, r, T(-1), U, d, UtZV, r, T(1), ZV, d);   // (I - P_U) Z V
  team.sync();
  for (int idx = team.rank(); idx < r * r; idx += team.size()) UtZV[idx] *= K[idx];
  for (int idx = team.rank(); idx < d * r; idx += team.size()) ZV[idx] *= sc[idx / d];
  for (int idx = team.rank(); idx < r * c; idx += team.size()) UtZ[idx] *= sc[idx % r];
  team.sync();
  copy(team, r * c, UtZ, Lm);
  team.sync();
  gemm(team, Op::N, Op::T, r, c, r, T(1), UtZV, r, V, c, T(1), Lm, r);  // (K o UtZV) V^T + sc UtZ_perp
  team.sync();
  gemm(team, Op::N, Op::N, d, c, r, T(1), U, d, Lm, r, T(0), out, d);
  team.sync();
  gemm(team, Op::N, Op::T, d, c, r, T(1), ZV, d, V, c, T(1), out, d);
  team.sync();
}

// dstate = the flow's right-hand side; returns L1 at the state (NaN when want_loss is false and
// the loss skipped it). `ok` turns false when a matrix function failed.
template <class Team, class T>
DLNFLOW_HD_NOINLINE T flow_rhs(const Team& team, const FlowData<T>& f, const T* state, T* dstate, T* work, bool& ok,
                      bool want_loss = true) {
  const int d = f.rows, c = f.cols, rc = d * c;
  switch (f.param) {
    case ParamKind::Deep: {
      // grad_{W_j} = B_j P_{j-1}^T with prefix products P_j = W_j..W_1 and back-propagated
      // B_j = (W_N..W_{j+1})^T G: 3(N-1) products (src/cpu/model.cpp rhs_deep).
      const int N = f.depth, d0 = f.widths[0];
      const int total = deep_stack(f);
      T* const prefix = work;
      T* const back = prefix + total;
      T* const G = back + total;
      T* const lw = G + rc;
      auto stack = [&](T* base, int j) {
        int o = 0;
        for (int i = 1; i < j; ++i) o += f.widths[i] * d0;
        return base + o;
      };
      copy(team, f.widths[1] * d0, state, stack(prefix, 1));
      team.sync();
      for (int j = 2; j <= N; ++j) {
        gemm(team, Op::N, Op::N, f.widths[j], d0, f.widths[j - 1], T(1), state + factor_offset(f, j), f.widths[j],
             stack(prefix, j - 1), f.widths[j - 1], T(0), stack(prefix, j), f.widths[j]);
        team.sync();
      }
      const T L = loss_gradient(team, f, stack(prefix, N), G, lw, ok, want_loss);
      if (!ok) return L;
      copy(team, rc, G, stack(back, N));
      team.sync();
      for (int j = N - 1; j >= 1; --j) {
        gemm(team, Op::T, Op::N, f.widths[j], d0, f.widths[j + 1], T(1), state + factor_offset(f, j + 1),
             f.widths[j + 1], stack(back, j + 1), f.widths[j + 1], T(0), stack(back, j), f.widths[j]);
        team.sync();
      }
      for (int j = 1; j <= N; ++j) {
        T* D = dstate + factor_offset(f, j);
        if (j == 1)
          axpby(team, f.widths[1] * d0, T(-1), stack(back, 1), T(0), D);
        else
          gemm(team, Op::N, Op::T, f.widths[j], f.widths[j - 1], d0, T(-1), stack(back, j), f.widths[j],
               stack(prefix, j - 1), f.widths[j - 1], T(0), D, f.widths[j]);
      }
      team.sync();
      return L;
    }
    case ParamKind::Symmetric: {  // dU = -sym(G) U
      T* W = work;
      T* G = W + d * d;
      T* S = G + d * d;
      T* lw = S + d * d;
      gemm(team, Op::N, Op::T, d, d, f.sym_k, T(1), state, d, state, d, T(0), W, d);
      team.sync();
      const T L = loss_gradient(team, f, W, G, lw, ok, want_loss);
      if (!ok) return L;
      for (int idx = team.rank(); idx < d * d; idx += team.size())
        S[idx] = T(0.5) * (G[idx] + G[(idx / d) + (idx % d) * d]);
      team.sync();
      gemm(team, Op::N, Op::N, d, f.sym_k, d, T(-1), S, d, state, d, T(0), dstate, d);
      team.sync();
      return L;
    }
    case ParamKind::EndToEnd: {  // dW = -A_W(grad L1(W))
      const int k = imin(d, c);
      T* G = work;
      T* U = G + rc;
      T* s = U + d * k;
      T* V = s + k;
      T* sw = V + c * k;
      T* bw = sw + svd_workspace(d, c);
      T* lw = bw + 3 * k * c + d * k + 2 * k * k + k;
      const T L = loss_gradient(team, f, state, G, lw, ok, want_loss);
      if (!ok) return L;
      ok = thin_svd(team, d, c, state, U, s, V, sw);
      if (!ok) return L;
      const int r = imin(f.rank_cap, k);
      balanced_operator(team, d, c, f.depth, r, U, s, V, G, dstate, bw);
      for (int i = team.rank(); i < rc; i += team.size()) dstate[i] = -dstate[i];
      team.sync();
      return L;
    }
  }
  return T(NAN);
}

// The end-to-end flow keeps W at rank <= rank_cap by truncating its SVD after every step.
template <class Team, class T>
DLNFLOW_HD_NOINLINE bool retract(const Team& team, const FlowData<T>& f, T* state, T* work) {
  if (f.param != ParamKind::EndToEnd) return true;
  const int d = f.rows, c = f.cols, k = imin(d, c);
  if (f.rank_cap >= k) return true;
  T* U = work;
  T* s = U + d * k;
  T* V = s + k;
  T* sw = V + c * k;
  T* US = sw + svd_workspace(d, c);
  const bool ok = thin_svd(team, d, c, state, U, s, V, sw);
  const int r = f.rank_cap;
  for (int idx = team.rank(); idx < d * r; idx += team.size()) US[idx] = U[idx] * s[idx / d];
  team.sync();
  gemm(team, Op::N, Op::T, d, c, r, T(1), US, d, V, c, T(0), state, d);
  team.sync();
  return ok;
}

// Entries of the spectrum: eigenvalues of U U^T (rows) or singular values of W (min(rows, cols)).
template <class T>
DLNFLOW_HD int spectrum_size(const FlowData<T>& f) {
  return f.param == ParamKind::Symmetric ? f.rows : imin(f.rows, f.cols);
}

// Singular values of W, decreasing, or the eigenvalues of W = U U^T as squared singular values
// of U (accurate down to 1e-300). Also leaves W (rows x cols) in `W` when not symmetric.
template <class Team, class T>
DLNFLOW_HD_NOINLINE bool spectrum(const Team& team, const FlowData<T>& f, const T* state, T* out, T* W, T* work) {
  if (f.param == ParamKind::Symmetric) {
    const int d = f.rows, ks = imin(d, f.sym_k);
    T* U = work;
    T* s = U + d * ks;
    T* V = s + ks;
    T* sw = V + f.sym_k * ks;
    const bool ok = thin_svd(team, d, f.sym_k, state, U, s, V, sw);
    for (int i = team.rank(); i < d; i += team.size()) out[i] = i < ks ? s[i] * s[i] : T(0);
    team.sync();
    return ok;
  }
  const int d = f.rows, c = f.cols, k = imin(d, c);
  int wmax = 0;
  for (int j = 0; j <= f.depth; ++j) wmax = imax(wmax, f.widths[j]);
  T* buf = work;
  end_to_end(team, f, state, W, buf);
  T* U = work + (f.param == ParamKind::Deep ? 2 * wmax * f.widths[0] : 0);
  T* V = U + d * k;
  T* sw = V + c * k;
  return thin_svd(team, d, c, W, U, out, V, sw);
}

// sum_j ||W_j W_j^T - W_{j+1}^T W_{j+1}||_F for the deep factorization, 0 otherwise.
template <class Team, class T>
DLNFLOW_HD_NOINLINE T balance_defect(const Team& team, const FlowData<T>& f, const T* state, T* work) {
  if (f.param != ParamKind::Deep) return T(0);
  T* scratch = work;
  T* A = work + team.size();
  T sum = 0;
  for (int j = 1; j < f.depth; ++j) {
    const int w = f.widths[j];
    const T* Wj = state + factor_offset(f, j);
    const T* Wn = state + factor_offset(f, j + 1);
    gemm(team, Op::N, Op::T, w, w, f.widths[j - 1], T(1), Wj, w, Wj, w, T(0), A, w);
    team.sync();
    gemm(team, Op::T, Op::N, w, w, f.widths[j + 1], T(-1), Wn, f.widths[j + 1], Wn, f.widths[j + 1], T(1), A, w);
    team.sync();
    sum += std::sqrt(squared_norm(team, w * w, A, scratch));
  }
  return sum;
}

// sqrt(-dL/dt) given the rhs at the state: ||dstate|| for the deep and symmetric flows,
// sqrt(<grad L1, A_W(grad L1)>) for the end-to-end flow.
template <class Team, class T>
DLNFLOW_HD_NOINLINE T grad_norm(const Team& team, const FlowData<T>& f, const T* state, const T* dstate, T* work, bool& ok) {
  T* scratch = work;
  if (f.param != ParamKind::EndToEnd) return std::sqrt(squared_norm(team, f.state, dstate, scratch));
  const int rc = f.rows * f.cols;
  T* G = work + team.size();
  loss_gradient(team, f, state, G, G + rc, ok, false);
  const T diss = -dot(team, rc, G, dstate, scratch);
  return std::sqrt(diss > 0 ? diss : T(0));
}

}  // namespace dlnflow::device
