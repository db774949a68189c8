// The square loss and the gradient flow of a deep factorization on a team, and one RK4 step:
// the arithmetic of the fused kernel, checked on the host against the CPU Model.
#pragma once

#include "dense.cuh"

namespace dlnflow::device {

// L(W) = 1/2 tr((W - W*) Cxx (W - W*)^T) + L*, the centred form of the CPU backend (no
// cancellation near the optimum; needs Cxx positive definite). Its gradient is (W - W*) Cxx.
template <class T>
struct SquareLossData {
  int rows, cols;
  const T* Cxx;     // cols x cols
  const T* w_opt;   // rows x cols, W* = Cyx Cxx^{-1}
  T l_opt;          // L(W*)
};

// Writes G = grad L(W) and returns L(W). Workspace: rows*cols + team.size().
template <class Team, class T>
DLNFLOW_HD T square_loss_gradient(const Team& team, const SquareLossData<T>& d, const T* W, T* G, T* work) {
  const int n = d.rows * d.cols;
  T* D = work;
  for (int i = team.rank(); i < n; i += team.size()) D[i] = W[i] - d.w_opt[i];
  team.sync();
  gemm(team, Op::N, Op::N, d.rows, d.cols, d.cols, T(1), D, d.rows, d.Cxx, d.cols, T(0), G, d.rows);
  team.sync();
  return T(0.5) * dot(team, n, D, G, work + n) + d.l_opt;
}

// Workspace of deep_square_rhs for widths d_0..d_N.
DLNFLOW_HD inline int deep_rhs_workspace(int N, const int* widths, int team_size) {
  int s = 0;
  for (int j = 1; j <= N; ++j) s += 2 * widths[j] * widths[0];  // prefix_j and back_j
  return s + 2 * widths[N] * widths[0] + team_size;            // G, loss scratch
}

// dstate = -grad of L(W_N ... W_1) with respect to every factor; returns L. Factors are stored
// one after another, column-major, W_j of size widths[j] x widths[j-1] (the CPU state layout).
template <class Team, class T>
DLNFLOW_HD T deep_square_rhs(const Team& team, int N, const int* widths, const SquareLossData<T>& loss,
                             const T* state, T* dstate, T* work) {
  const int d0 = widths[0];
  int total = 0;  // entries of one stack of prefix (or back) products
  for (int j = 1; j <= N; ++j) total += widths[j] * d0;
  T* const prefix = work;  // prefix_j = W_j ... W_1, widths[j] x d0, j = 1..N
  T* const back = prefix + total;  // back_j = (W_N ... W_{j+1})^T G, widths[j] x d0
  T* const G = back + total;
  T* const scratch = G + widths[N] * d0;
  // Offsets are recomputed rather than stored in per-thread arrays: on the GPU such arrays
  // would live in local memory (a 2 KB stack frame per thread for depth 64).
  auto state_offset = [&](int j) {
    int o = 0;
    for (int i = 1; i < j; ++i) o += widths[i] * widths[i - 1];
    return o;
  };
  auto stack_offset = [&](int j) {
    int o = 0;
    for (int i = 1; i < j; ++i) o += widths[i] * d0;
    return o;
  };
  auto factor = [&](int j) { return state + state_offset(j); };
  auto dfactor = [&](int j) { return dstate + state_offset(j); };
  auto pre = [&](int j) { return prefix + stack_offset(j); };
  auto bk = [&](int j) { return back + stack_offset(j); };
  copy(team, widths[1] * d0, factor(1), pre(1));
  team.sync();
  for (int j = 2; j <= N; ++j) {
    gemm(team, Op::N, Op::N, widths[j], d0, widths[j - 1], T(1), factor(j), widths[j], pre(j - 1), widths[j - 1], T(0),
         pre(j), widths[j]);
    team.sync();
  }
  const T L = square_loss_gradient(team, loss, pre(N), G, scratch);
  copy(team, widths[N] * d0, G, bk(N));
  team.sync();
  for (int j = N - 1; j >= 1; --j) {
    gemm(team, Op::T, Op::N, widths[j], d0, widths[j + 1], T(1), factor(j + 1), widths[j + 1], bk(j + 1), widths[j + 1],
         T(0), bk(j), widths[j]);
    team.sync();
  }
  for (int j = 1; j <= N; ++j) {
    if (j == 1)
      axpby(team, widths[1] * d0, T(-1), bk(1), T(0), dfactor(1));
    else
      gemm(team, Op::N, Op::T, widths[j], widths[j - 1], d0, T(-1), bk(j), widths[j], pre(j - 1), widths[j - 1], T(0),
           dfactor(j), widths[j]);
  }
  team.sync();
  return L;
}

// One classical RK4 step y <- y + h/6 (k1 + 2k2 + 2k3 + k4) of dy/dt = f(y), where
// rhs(y, dy) evaluates f on the team. Workspace: 5 n.
template <class Team, class T, class Rhs>
DLNFLOW_HD void rk4_step(const Team& team, int n, T* y, T h, Rhs&& rhs, T* work) {
  T *k1 = work, *k2 = k1 + n, *k3 = k2 + n, *k4 = k3 + n, *z = k4 + n;
  rhs(y, k1);
  for (int i = team.rank(); i < n; i += team.size()) z[i] = y[i] + T(0.5) * h * k1[i];
  team.sync();
  rhs(z, k2);
  for (int i = team.rank(); i < n; i += team.size()) z[i] = y[i] + T(0.5) * h * k2[i];
  team.sync();
  rhs(z, k3);
  for (int i = team.rank(); i < n; i += team.size()) z[i] = y[i] + h * k3[i];
  team.sync();
  rhs(z, k4);
  for (int i = team.rank(); i < n; i += team.size()) y[i] += h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
  team.sync();
}

}  // namespace dlnflow::device
