// One step of an explicit Runge-Kutta method given as a Tableau, its error norm, the starting
// step of the adaptive pair and the dense output between two accepted steps — written once, on
// a team, for every backend (the CPU on a one-member team, the fused kernel on a block or warp).
#pragma once

#include "step_control.hpp"
#include "tableaux.hpp"
#include "team.hpp"
#include "workspace.hpp"

#include <type_traits>

namespace dlnflow::integrator {

// The stage vectors of one step (n entries each): k[1] .. k[s-1] (k_1 is the caller's f(y)),
// a trial state and the error estimate.
template <class T>
struct Stages {
  T* k[kMaxStages] = {};
  T* tmp = nullptr;
  T* err = nullptr;

  template <class W>
  DLNFLOW_HD void layout(W& ws, const Tableau& t, int n) {
    for (int i = 1; i < t.stages; ++i) k[i] = ws.take(n);
    if (t.stages > 1) tmp = ws.take(n);
    if (t.embedded) err = ws.take(n);
  }
};

// out = base + (h / divisor) sum_j coef[j] k[j] over the nonzero coefficients, summed left to
// right from the first of them (never from 0, which would turn a -0 into +0); with one nonzero
// coefficient out = base + (h coef) k. base may be null (then out is the increment alone).
template <class Team, class T>
DLNFLOW_HD void combine(const Team& team, int n, T* out, const T* base, T h, const double* coef, int count, double divisor,
                        const T* const* k) {
  int nonzero = 0, only = -1;
  for (int j = 0; j < count; ++j)
    if (coef[j] != 0) ++nonzero, only = only < 0 ? j : only;
  if (nonzero == 1 && divisor == 1) {
    const T hc = h * T(coef[only]);
    for (int i = team.rank(); i < n; i += team.size()) out[i] = base ? base[i] + hc * k[only][i] : hc * k[only][i];
  } else if constexpr (std::is_same_v<Team, HostTeam>) {
    // The same sums term by term over whole vectors: the loop over entries then vectorizes (with
    // the stages inside it, it did not: the largest self cost of an implicit run, a tenth),
    // and each entry still adds its terms in the same order. Not on a GPU team, where out[i]
    // would go to memory once per term instead of staying in a register. out aliases no input.
    const T hd = divisor == 1 ? h : h / T(divisor);
    const int first = only < 0 ? 0 : only;
    const T c0 = T(coef[first]);
    const T* k0 = k[first];
    for (int i = 0; i < n; ++i) out[i] = c0 * k0[i];
    for (int j = first + 1; j < count; ++j) {
      if (coef[j] == 0) continue;
      const T cj = T(coef[j]);
      const T* kj = k[j];
      for (int i = 0; i < n; ++i) out[i] = out[i] + cj * kj[i];
    }
    if (base)
      for (int i = 0; i < n; ++i) out[i] = base[i] + hd * out[i];
    else
      for (int i = 0; i < n; ++i) out[i] = hd * out[i];
  } else {
    const T hd = divisor == 1 ? h : h / T(divisor);
    for (int i = team.rank(); i < n; i += team.size()) {
      T acc = T(coef[only < 0 ? 0 : only]) * k[only < 0 ? 0 : only][i];
      for (int j = only + 1; j < count; ++j)
        if (coef[j] != 0) acc = acc + T(coef[j]) * k[j][i];
      out[i] = base ? base[i] + hd * acc : hd * acc;
    }
  }
  team.sync();
}

// One component of the adaptive pair's scaled error, (err / (atol + rtol max(|y0|, |y1|)))^2;
// -1 where the scale is 0 and the error is not (an unbounded error). The batched path sums the
// same components over a CUB block reduction (kernels/batched_deep.cu).
template <class T>
DLNFLOW_HD T scaled_error_sq(const StepConfig& c, T err, T y0, T y1) {
  const T a0 = std::fabs(y0), a1 = std::fabs(y1);
  const T sc = T(c.atol) + T(c.rtol) * (a0 > a1 ? a0 : a1);
  if (sc == T(0)) return err != T(0) ? T(-1) : T(0);
  const T q = err / sc;
  return q * q;
}
// The RMS norm from the sum of the n squared components; infinite where it is not finite.
template <class T>
DLNFLOW_HD T error_from_sum(T sum, int n) {
  const T e = std::sqrt(sum / T(n > 1 ? n : 1));
  return finite(e) ? e : T(INFINITY);
}

// sqrt(mean((err_i / (atol + rtol max(|y0_i|, |y1_i|)))^2)); infinite when a zero scale meets a
// non-zero error or the norm overflows. Every member gets the same value.
template <class Team, class T>
DLNFLOW_HD_NOINLINE T error_norm(const Team& team, const StepConfig& c, int n, const T* err, const T* y0, const T* y1,
                                 T* scratch) {
  T sum = 0, bad = 0;
  for (int i = team.rank(); i < n; i += team.size()) {
    const T q2 = scaled_error_sq(c, err[i], y0[i], y1[i]);
    if (q2 < T(0)) bad = 1;
    else sum += q2;
  }
  if (team_max(team, bad, scratch) > 0) return T(INFINITY);
  return error_from_sum(team_sum(team, sum, scratch), n);
}

// Advances (y, f = rhs(y)) by h into y1; returns the scaled error estimate of an embedded pair
// (0 otherwise). For an FSAL method f1 = rhs(y1) and loss1 come with the step (have_f1);
// otherwise the caller evaluates them. rhs(state, dstate, want_loss) -> loss.
template <class Team, class T, class Rhs>
DLNFLOW_HD_NOINLINE T take_step(const Team& team, const Tableau& t, const StepConfig& c, int n, const T* y, const T* f,
                                T h, T* y1, T* f1, bool& have_f1, T& loss1, const Stages<T>& s, Rhs&& rhs, T* scratch) {
  have_f1 = false;
  const T* k[kMaxStages];
  k[0] = f;
  for (int i = 1; i < t.stages; ++i) k[i] = s.k[i];
  const int explicit_stages = t.fsal ? t.stages - 1 : t.stages;
  for (int i = 1; i < explicit_stages; ++i) {
    combine(team, n, s.tmp, y, h, t.a[i], i, t.a_divisor[i], k);
    rhs(s.tmp, s.k[i], false);
  }
  combine(team, n, y1, y, h, t.b, explicit_stages, t.b_divisor, k);
  if (t.fsal) {
    loss1 = rhs(y1, f1, true);
    have_f1 = true;
    copy(team, n, f1, s.k[t.stages - 1]);
    team.sync();
  }
  if (!t.embedded) return T(0);
  combine(team, n, s.err, static_cast<const T*>(nullptr), h, t.e, t.stages, 1.0, k);
  return error_norm(team, c, n, s.err, y, y1, scratch);
}

// The starting step of the adaptive pair from the norms d0 = ||y0||, d1 = ||f0|| and
// d2 = ||rhs(y0 + h0 f0) - f0|| / h0 (Hairer-Norsett-Wanner, Solving ODEs I, II.4), order 5.
template <class T>
DLNFLOW_HD T first_guess(T d0, T d1, T t_span) {
  T h0 = (d0 < T(1e-5) || d1 < T(1e-5) || !finite(d1)) ? T(1e-6) : T(0.01) * d0 / d1;
  return h0 < t_span ? h0 : t_span;
}
template <class T>
DLNFLOW_HD T starting_step(const StepConfig& c, T h0, T d1, T d2, T t_span) {
  const T dm = d1 > d2 ? d1 : d2;
  const T h1 = dm <= T(1e-15) ? (T(1e-6) > h0 * T(1e-3) ? T(1e-6) : h0 * T(1e-3)) : std::pow(T(0.01) / dm, T(0.2));
  T h = 100 * h0;
  if (h1 < h) h = h1;
  if (t_span < h) h = t_span;
  if (T(c.dt_max) < h) h = T(c.dt_max);
  if (h > 0 && finite(h)) return h;
  // The heuristic degenerates when a norm is 0 or infinite (exact zeros with atol = 0).
  const T fallback = T(1e-6) * t_span;
  return fallback < T(c.dt_max) ? fallback : T(c.dt_max);
}

template <class Team, class T, class Rhs>
DLNFLOW_HD_NOINLINE T initial_step(const Team& team, const StepConfig& c, int n, const T* y0, const T* f0, T t_span,
                                   const Stages<T>& s, Rhs&& rhs, T* scratch) {
  if (c.dt_initial > 0) return T(c.dt_initial);
  const T d0 = error_norm(team, c, n, y0, y0, y0, scratch), d1 = error_norm(team, c, n, f0, y0, y0, scratch);
  const T h0 = first_guess(d0, d1, t_span);
  for (int i = team.rank(); i < n; i += team.size()) s.tmp[i] = y0[i] + h0 * f0[i];
  team.sync();
  rhs(s.tmp, s.k[1], false);
  for (int i = team.rank(); i < n; i += team.size()) s.err[i] = s.k[1][i] - f0[i];
  team.sync();
  const T d2 = error_norm(team, c, n, s.err, y0, y0, scratch) / h0;
  return starting_step(c, h0, d1, d2, t_span);
}

// State at t0 + theta h inside the last accepted step (y0, f0) -> (y1, f1): the method's own
// continuous extension where it has one (Dormand-Prince's fourth-order one, from the step's
// stages), cubic Hermite otherwise (third order, O(h^4) accurate).
template <class Team, class T>
DLNFLOW_HD_NOINLINE void interpolate(const Team& team, const Tableau& t, int n, const T* y0, const T* f0, const T* y1,
                                     const T* f1, T h, T th, const Stages<T>& s, T* out) {
  if (!t.dense) {
    const T th2 = th * th, th3 = th2 * th;
    const T h00 = 2 * th3 - 3 * th2 + 1, h10 = th3 - 2 * th2 + th;
    const T h01 = -2 * th3 + 3 * th2, h11 = th3 - th2;
    for (int i = team.rank(); i < n; i += team.size())
      out[i] = ((h00 * y0[i] + (h10 * h) * f0[i]) + h01 * y1[i]) + (h11 * h) * f1[i];
  } else {
    // y0 + th (dy + (1-th) (h f0 - dy + th (dy - h k_s - (h f0 - dy) + (1-th) h sum_j d_j k_j)))
    const T* k[kMaxStages];
    k[0] = f0;
    for (int j = 1; j < t.stages; ++j) k[j] = s.k[j];
    const T s1 = 1 - th;
    const T* ks = k[t.stages - 1];
    for (int i = team.rank(); i < n; i += team.size()) {
      const T dy = y1[i] - y0[i];
      const T bspl = h * f0[i] - dy;
      const T r4 = (dy - h * ks[i]) - bspl;
      T acc = T(t.d[0]) * k[0][i];
      for (int j = 1; j < t.stages; ++j)
        if (t.d[j] != 0) acc = acc + T(t.d[j]) * k[j][i];
      const T r5 = h * acc;
      out[i] = y0[i] + th * (dy + s1 * (bspl + th * (r4 + s1 * r5)));
    }
  }
  team.sync();
}

}  // namespace dlnflow::integrator
