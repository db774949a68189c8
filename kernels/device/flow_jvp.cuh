// The Jacobian-vector products of the deep and symmetric flows on a team, for the implicit
// methods (src/integrator/rosenbrock.hpp): the device counterpart of Model::linearize / jvp and
// LossEvaluator::hessian_vector (src/cpu/model.cpp, src/cpu/losses.cpp), formula for formula.
// The end-to-end flow has none on either backend (its rank-cap retraction is not smooth).
//
// Linearizing at y is evaluating the flow there into a workspace of its own (`lin`, the size of
// flow_workspace) and keeping it: the deep flow's prefix products P_j = W_j..W_1 and
// back-propagated B_j, the symmetric flow's W = U U^T and S = sym(G), and what the loss
// factorized on the way (the BW loss's eigendecomposition or SVD). Every product after that is
// then a handful of matrix products, with no eigensolver.
#pragma once

#include "flows.cuh"

namespace dlnflow::device {

// Where flow_rhs (flows.cuh) leaves the loss's own workspace inside `lin`: after the flow's
// products and the team's reduction scratch (loss_gradient's layout).
template <class T>
DLNFLOW_HD int lin_loss_offset(const FlowData<T>& f, int team_size) {
  const int rc = f.rows * f.cols;
  return (f.param == ParamKind::Deep ? 2 * deep_stack(f) + rc : 3 * f.rows * f.rows) + team_size;
}

// Workspace of one loss Hessian-vector product.
template <class T>
DLNFLOW_HD int hvp_workspace(const FlowData<T>& f) {
  const int d = f.rows, c = f.cols, k = imin(d, c), rc = d * c;
  switch (f.loss) {
    case LossKind::Square: return 0;
    case LossKind::BuresWasserstein: return f.tau > 0 ? rc + 2 * d * d : 3 * rc + d * k + 2 * k * k + k * c;
    case LossKind::Sensing: return f.measurements;
    case LossKind::Completion: return 0;
  }
  return 0;
}

// Workspace of one flow_jvp (after the linearization's).
template <class T>
DLNFLOW_HD int jvp_workspace(const FlowData<T>& f) {
  const int d = f.rows, rc = d * f.cols;
  const int own = f.param == ParamKind::Deep ? 2 * deep_stack(f) : 2 * d * d;
  (void)rc;
  return own + hvp_workspace(f);
}

// dG = D(grad L1)(W)[E] for the loss linearized at W, with `lw` the loss's workspace as
// loss_gradient left it there. False: the linearization point had no valid factorization.
template <class Team, class T>
DLNFLOW_HD_NOINLINE void loss_hessian_vector(const Team& team, const FlowData<T>& f, const T* W, const T* lw, const T* E,
                                             T* dG, T* w) {
  const int d = f.rows, c = f.cols, rc = d * c;
  switch (f.loss) {
    case LossKind::Square:  // G = W Cxx - Cyx
      gemm(team, Op::N, Op::N, d, c, c, T(1), E, d, f.cxx, c, T(0), dG, d);
      team.sync();
      return;
    case LossKind::Sensing: {  // G = sum_i (<A_i, W> - y_i) A_i
      T* a = w;
      for (int i = team.rank(); i < f.measurements; i += team.size()) {
        const T* Ai = f.sense_a + static_cast<long long>(i) * rc;
        T e = 0;
        for (int l = 0; l < rc; ++l) e += Ai[l] * E[l];
        a[i] = e;
      }
      team.sync();
      for (int l = team.rank(); l < rc; l += team.size()) {
        T g = 0;
        for (int i = 0; i < f.measurements; ++i) g += a[i] * f.sense_a[static_cast<long long>(i) * rc + l];
        dG[l] = g;
      }
      team.sync();
      return;
    }
    case LossKind::Completion:
      fill(team, rc, T(0), dG);
      team.sync();
      if (team.rank() == 0)  // one member: an entry listed twice counts twice
        for (int o = 0; o < f.observed; ++o) {
          const int at = f.omega[2 * o] + f.omega[2 * o + 1] * d;
          dG[at] += E[at];
        }
      team.sync();
      return;
    case LossKind::BuresWasserstein:
      break;
  }
  const T* S = f.sqrt_sigma0;
  T* dM = w;
  gemm(team, Op::N, Op::N, d, c, d, T(1), S, d, E, d, T(0), dM, d);
  team.sync();
  if (f.tau > 0) {
    // G = -2 (T - I) W, T = S A^{-1/2} S, A = M M^T + tau Sigma0 = Q diag(lambda) Q^T (kept by
    // bw_smooth_loss_gradient): dG = -2 (S dR S W + (T - I) E), dR = Q X Q^T with
    // X = Q^T dA Q scaled by the divided differences of x^{-1/2}, -1 / (r_a r_b (r_a + r_b)),
    // r = sqrt(lambda): no cancellation.
    const T* M = lw;
    const T* Tm = lw + rc + 2 * d * d;
    const T* Q = lw + 2 * rc + 3 * d * d;
    const T* lambda = Q + d * d;
    T* B1 = dM + rc;
    T* B2 = B1 + d * d;
    gemm(team, Op::N, Op::T, d, d, c, T(1), dM, d, M, d, T(0), B1, d);
    team.sync();
    for (int idx = team.rank(); idx < d * d; idx += team.size()) B2[idx] = B1[idx] + B1[(idx / d) + (idx % d) * d];
    team.sync();
    gemm(team, Op::T, Op::N, d, d, d, T(1), Q, d, B2, d, T(0), B1, d);
    team.sync();
    gemm(team, Op::N, Op::N, d, d, d, T(1), B1, d, Q, d, T(0), B2, d);
    team.sync();
    for (int idx = team.rank(); idx < d * d; idx += team.size()) {
      const T ra = std::sqrt(lambda[idx % d]), rb = std::sqrt(lambda[idx / d]);
      B2[idx] *= T(-1) / (ra * rb * (ra + rb));
    }
    team.sync();
    gemm(team, Op::N, Op::N, d, d, d, T(1), Q, d, B2, d, T(0), B1, d);
    team.sync();
    gemm(team, Op::N, Op::T, d, d, d, T(1), B1, d, Q, d, T(0), B2, d);  // dR
    team.sync();
    gemm(team, Op::N, Op::N, d, d, d, T(1), S, d, B2, d, T(0), B1, d);
    team.sync();
    gemm(team, Op::N, Op::N, d, d, d, T(1), B1, d, S, d, T(0), B2, d);
    team.sync();
    gemm(team, Op::N, Op::N, d, c, d, T(-2), B2, d, W, d, T(0), dG, d);
    team.sync();
    gemm(team, Op::N, Op::N, d, c, d, T(-2), Tm, d, E, d, T(1), dG, d);
    team.sync();
    return;
  }
  // tau = 0: G = 2 (W - S U_r V_r^T), the polar factor of M = S W = U diag(s) V^T on its first r
  // triplets (bw_plain_loss_gradient's cut). Its derivative along dM:
  //   U K V^T + (I - U U^T) dM V s^-1 V^T + U s^-1 U^T dM (I - V V^T),
  //   K_ab = (Om_ab - Om_ba) / (s_a + s_b), Om = U^T dM V.
  const int k = imin(d, c);
  const T* U = lw + rc;
  const T* s = U + d * k;
  const T* V = s + k;
  const T cutoff = 4 * Epsilon<T>::value * static_cast<T>(imax(d, c)) * (k ? s[0] : T(0));
  int r = 0;
  while (r < k && r < f.rank_bound && s[r] > cutoff) ++r;
  T* Z1 = dM + rc;    // dM V, then (I - U U^T) dM V s^-1     d x r
  T* Om = Z1 + d * k; // r x r
  T* K = Om + k * k;  // r x r
  T* Z2 = K + k * k;  // U^T dM, then the r x c factor L       r x c
  T* P = Z2 + k * c;  // the polar factor's derivative          d x c
  T* SP = P + rc;
  gemm(team, Op::N, Op::N, d, r, c, T(1), dM, d, V, c, T(0), Z1, d);
  gemm(team, Op::T, Op::N, r, c, d, T(1), U, d, dM, d, T(0), Z2, r);
  team.sync();
  gemm(team, Op::T, Op::N, r, r, d, T(1), U, d, Z1, d, T(0), Om, r);
  team.sync();
  for (int idx = team.rank(); idx < r * r; idx += team.size()) {
    const int a = idx % r, b = idx / r;
    K[idx] = (Om[idx] - Om[b + a * r]) / (s[a] + s[b]);
  }
  gemm(team, Op::N, Op::N, d, r, r, T(-1), U, d, Om, r, T(1), Z1, d);   // (I - U U^T) dM V
  gemm(team, Op::N, Op::T, r, c, r, T(-1), Om, r, V, c, T(1), Z2, r);   // U^T dM (I - V V^T)
  team.sync();
  for (int idx = team.rank(); idx < d * r; idx += team.size()) Z1[idx] /= s[idx / d];
  for (int idx = team.rank(); idx < r * c; idx += team.size()) Z2[idx] /= s[idx % r];
  team.sync();
  gemm(team, Op::N, Op::T, r, c, r, T(1), K, r, V, c, T(1), Z2, r);
  team.sync();
  gemm(team, Op::N, Op::N, d, c, r, T(1), U, d, Z2, r, T(0), P, d);
  team.sync();
  gemm(team, Op::N, Op::T, d, c, r, T(1), Z1, d, V, c, T(1), P, d);
  team.sync();
  gemm(team, Op::N, Op::N, d, c, d, T(1), S, d, P, d, T(0), SP, d);
  team.sync();
  for (int i = team.rank(); i < rc; i += team.size()) dG[i] = 2 * (E[i] - SP[i]);
  team.sync();
}

// out = J v, J the flow's Jacobian at `state`, with `lin` the flow workspace flow_rhs filled
// there. Deep: along V, dP_j = V_j P_{j-1} + W_j dP_{j-1}, dB_N = H(P_N)[dP_N],
// dB_j = V_{j+1}^T B_{j+1} + W_{j+1}^T dB_{j+1}, out_j = -(dB_j P_{j-1}^T + B_j dP_{j-1}^T).
// Symmetric: out = -(sym(dG) U + S V), dG = H(U U^T)[V U^T + U V^T].
template <class Team, class T>
DLNFLOW_HD_NOINLINE void flow_jvp(const Team& team, const FlowData<T>& f, const T* state, const T* lin, const T* v,
                                  T* out, T* work) {
  const int d = f.rows, rc = d * f.cols;
  const T* lw = lin + lin_loss_offset(f, team.size());
  if (f.param == ParamKind::Symmetric) {
    const int k = f.sym_k;
    const T* W = lin;
    const T* S = lin + 2 * d * d;
    T* Y = work;
    T* dW = Y + d * d;  // then sym(dG)
    T* hw = dW + d * d;
    gemm(team, Op::N, Op::T, d, d, k, T(1), v, d, state, d, T(0), Y, d);
    team.sync();
    for (int idx = team.rank(); idx < d * d; idx += team.size()) dW[idx] = Y[idx] + Y[(idx / d) + (idx % d) * d];
    team.sync();
    loss_hessian_vector(team, f, W, lw, dW, Y, hw);
    for (int idx = team.rank(); idx < d * d; idx += team.size())
      dW[idx] = T(0.5) * (Y[idx] + Y[(idx / d) + (idx % d) * d]);
    team.sync();
    gemm(team, Op::N, Op::N, d, k, d, T(-1), dW, d, state, d, T(0), out, d);
    team.sync();
    gemm(team, Op::N, Op::N, d, k, d, T(-1), S, d, v, d, T(1), out, d);
    team.sync();
    return;
  }
  const int N = f.depth, d0 = f.widths[0];
  const int total = deep_stack(f);
  const T* P = lin;
  const T* B = lin + total;
  T* dP = work;
  T* dB = dP + total;
  T* hw = dB + total;
  auto at = [&](int j) {  // offset of product j in a stack
    int o = 0;
    for (int i = 1; i < j; ++i) o += f.widths[i] * d0;
    return o;
  };
  copy(team, f.widths[1] * d0, v, dP);
  team.sync();
  for (int j = 2; j <= N; ++j) {
    const int wj = f.widths[j], wp = f.widths[j - 1];
    gemm(team, Op::N, Op::N, wj, d0, wp, T(1), v + factor_offset(f, j), wj, P + at(j - 1), wp, T(0), dP + at(j), wj);
    team.sync();
    gemm(team, Op::N, Op::N, wj, d0, wp, T(1), state + factor_offset(f, j), wj, dP + at(j - 1), wp, T(1), dP + at(j), wj);
    team.sync();
  }
  loss_hessian_vector(team, f, P + at(N), lw, dP + at(N), dB + at(N), hw);
  for (int j = N - 1; j >= 1; --j) {
    const int wj = f.widths[j], wn = f.widths[j + 1];
    gemm(team, Op::T, Op::N, wj, d0, wn, T(1), v + factor_offset(f, j + 1), wn, B + at(j + 1), wn, T(0), dB + at(j), wj);
    team.sync();
    gemm(team, Op::T, Op::N, wj, d0, wn, T(1), state + factor_offset(f, j + 1), wn, dB + at(j + 1), wn, T(1), dB + at(j),
         wj);
    team.sync();
  }
  for (int j = 1; j <= N; ++j) {
    T* D = out + factor_offset(f, j);
    const int wj = f.widths[j], wp = f.widths[j - 1];
    if (j == 1) {
      axpby(team, wj * d0, T(-1), dB, T(0), D);
    } else {
      gemm(team, Op::N, Op::T, wj, wp, d0, T(-1), dB + at(j), wj, P + at(j - 1), wp, T(0), D, wj);
      team.sync();
      gemm(team, Op::N, Op::T, wj, wp, d0, T(-1), B + at(j), wj, dP + at(j - 1), wp, T(1), D, wj);
    }
  }
  team.sync();
  (void)rc;
}

}  // namespace dlnflow::device
