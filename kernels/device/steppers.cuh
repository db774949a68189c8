// Euler, classical RK4 and the Dormand-Prince 5(4) pair on a team, with the error norm, the
// starting-step heuristic and the dense output the driver needs: src/cpu/stepper.cpp,
// formula for formula and in the same evaluation order.
#pragma once

#include <cmath>

#include "dense.cuh"

namespace dlnflow::device {

enum class Method : int { Euler, RK4, DormandPrince54 };

namespace dp {
// Dormand-Prince 5(4) (Hairer, Norsett, Wanner, Table 5.2) and Hairer's dense output (contd5).
constexpr double a21 = 1.0 / 5;
constexpr double a31 = 3.0 / 40, a32 = 9.0 / 40;
constexpr double a41 = 44.0 / 45, a42 = -56.0 / 15, a43 = 32.0 / 9;
constexpr double a51 = 19372.0 / 6561, a52 = -25360.0 / 2187, a53 = 64448.0 / 6561, a54 = -212.0 / 729;
constexpr double a61 = 9017.0 / 3168, a62 = -355.0 / 33, a63 = 46732.0 / 5247, a64 = 49.0 / 176,
                 a65 = -5103.0 / 18656;
constexpr double b1 = 35.0 / 384, b3 = 500.0 / 1113, b4 = 125.0 / 192, b5 = -2187.0 / 6784, b6 = 11.0 / 84;
constexpr double d1 = -12715105075.0 / 11282082432, d3 = 87487479700.0 / 32700410799,
                 d4 = -10690763975.0 / 1880347072, d5 = 701980252875.0 / 199316789632,
                 d6 = -1453857185.0 / 822651844, d7 = 69997945.0 / 29380423;
constexpr double e1 = 71.0 / 57600, e3 = -71.0 / 16695, e4 = 71.0 / 1920, e5 = -17253.0 / 339200,
                 e6 = 22.0 / 525, e7 = -1.0 / 40;
}  // namespace dp

DLNFLOW_HD inline bool finite(double x) { return x - x == 0.0; }  // false for inf and NaN

struct StepConfig {
  Method method = Method::RK4;
  double dt = 1e-3;
  double rtol = 1e-8, atol = 1e-12;
  double dt_initial = 0, dt_min = 0, dt_max = 1e300;
};

// Stage vectors of one trajectory (n entries each): k2..k7, tmp, err.
template <class T>
struct Stages {
  T *k2, *k3, *k4, *k5, *k6, *k7, *tmp, *err;
};

// sqrt(mean((err_i / (atol + rtol max(|y0_i|, |y1_i|)))^2)); infinite when a zero scale meets a
// non-zero error or the norm overflows. Every member gets the same value.
template <class Team, class T>
DLNFLOW_HD_NOINLINE T error_norm(const Team& team, const StepConfig& c, int n, const T* err, const T* y0, const T* y1,
                        T* scratch) {
  T sum = 0, bad = 0;
  for (int i = team.rank(); i < n; i += team.size()) {
    const T a0 = std::fabs(y0[i]), a1 = std::fabs(y1[i]);
    const T sc = T(c.atol) + T(c.rtol) * (a0 > a1 ? a0 : a1);
    if (sc == T(0)) {
      if (err[i] != T(0)) bad = 1;
      continue;
    }
    const T q = err[i] / sc;
    sum += q * q;
  }
  if (team_max(team, bad, scratch) > 0) return T(INFINITY);
  const T e = std::sqrt(team_sum(team, sum, scratch) / T(n > 1 ? n : 1));
  return finite(e) ? e : T(INFINITY);
}

// Advances (y, f = rhs(y)) by h into y1; returns the scaled error estimate of the adaptive pair
// (0 for fixed-step methods). For Dormand-Prince f1 = rhs(y1) and loss1 come for free (FSAL);
// otherwise the caller evaluates them. rhs(state, dstate, want_loss) -> loss.
template <class Team, class T, class Rhs>
DLNFLOW_HD_NOINLINE T take_step(const Team& team, const StepConfig& c, int n, const T* y, const T* f, T h, T* y1, T* f1,
                       bool& have_f1, T& loss1, const Stages<T>& s, Rhs&& rhs, T* scratch) {
  have_f1 = false;
  const int r0 = team.rank(), st = team.size();
  using namespace dp;
  switch (c.method) {
    case Method::Euler:
      for (int i = r0; i < n; i += st) y1[i] = y[i] + h * f[i];
      team.sync();
      return 0;
    case Method::RK4:
      for (int i = r0; i < n; i += st) s.tmp[i] = y[i] + (T(0.5) * h) * f[i];
      team.sync();
      rhs(s.tmp, s.k2, false);
      for (int i = r0; i < n; i += st) s.tmp[i] = y[i] + (T(0.5) * h) * s.k2[i];
      team.sync();
      rhs(s.tmp, s.k3, false);
      for (int i = r0; i < n; i += st) s.tmp[i] = y[i] + h * s.k3[i];
      team.sync();
      rhs(s.tmp, s.k4, false);
      for (int i = r0; i < n; i += st)
        y1[i] = y[i] + (h / T(6)) * (((f[i] + T(2) * s.k2[i]) + T(2) * s.k3[i]) + s.k4[i]);
      team.sync();
      return 0;
    case Method::DormandPrince54: {
      for (int i = r0; i < n; i += st) s.tmp[i] = y[i] + (h * T(a21)) * f[i];
      team.sync();
      rhs(s.tmp, s.k2, false);
      for (int i = r0; i < n; i += st) s.tmp[i] = y[i] + h * (T(a31) * f[i] + T(a32) * s.k2[i]);
      team.sync();
      rhs(s.tmp, s.k3, false);
      for (int i = r0; i < n; i += st) s.tmp[i] = y[i] + h * ((T(a41) * f[i] + T(a42) * s.k2[i]) + T(a43) * s.k3[i]);
      team.sync();
      rhs(s.tmp, s.k4, false);
      for (int i = r0; i < n; i += st)
        s.tmp[i] = y[i] + h * (((T(a51) * f[i] + T(a52) * s.k2[i]) + T(a53) * s.k3[i]) + T(a54) * s.k4[i]);
      team.sync();
      rhs(s.tmp, s.k5, false);
      for (int i = r0; i < n; i += st)
        s.tmp[i] = y[i] + h * ((((T(a61) * f[i] + T(a62) * s.k2[i]) + T(a63) * s.k3[i]) + T(a64) * s.k4[i]) +
                               T(a65) * s.k5[i]);
      team.sync();
      rhs(s.tmp, s.k6, false);
      for (int i = r0; i < n; i += st)
        y1[i] = y[i] + h * ((((T(b1) * f[i] + T(b3) * s.k3[i]) + T(b4) * s.k4[i]) + T(b5) * s.k5[i]) + T(b6) * s.k6[i]);
      team.sync();
      loss1 = rhs(y1, f1, true);
      have_f1 = true;
      for (int i = r0; i < n; i += st) {
        s.k7[i] = f1[i];
        s.err[i] = h * (((((T(e1) * f[i] + T(e3) * s.k3[i]) + T(e4) * s.k4[i]) + T(e5) * s.k5[i]) + T(e6) * s.k6[i]) +
                        T(e7) * f1[i]);
      }
      team.sync();
      return error_norm(team, c, n, s.err, y, y1, scratch);
    }
  }
  return 0;
}

// The starting step of the adaptive pair from the norms d0 = ||y0||, d1 = ||f0|| and
// d2 = ||rhs(y0 + h0 f0) - f0|| / h0 (Hairer-Norsett-Wanner II.4, as the CPU computes it).
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
  const T fallback = T(1e-6) * t_span;
  return fallback < T(c.dt_max) ? fallback : T(c.dt_max);
}

// Hairer-Norsett-Wanner's starting step (II.4), order 5, as the CPU stepper computes it.
template <class Team, class T, class Rhs>
DLNFLOW_HD_NOINLINE T initial_step(const Team& team, const StepConfig& c, int n, const T* y0, const T* f0, T t_span,
                                   const Stages<T>& s, Rhs&& rhs, T* scratch) {
  if (c.dt_initial > 0) return T(c.dt_initial);
  const T d0 = error_norm(team, c, n, y0, y0, y0, scratch), d1 = error_norm(team, c, n, f0, y0, y0, scratch);
  const T h0 = first_guess(d0, d1, t_span);
  for (int i = team.rank(); i < n; i += team.size()) s.tmp[i] = y0[i] + h0 * f0[i];
  team.sync();
  rhs(s.tmp, s.k2, false);
  for (int i = team.rank(); i < n; i += team.size()) s.err[i] = s.k2[i] - f0[i];
  team.sync();
  const T d2 = error_norm(team, c, n, s.err, y0, y0, scratch) / h0;
  return starting_step(c, h0, d1, d2, t_span);
}

// State at t0 + theta h inside the last accepted step (y0, f0) -> (y1, f1): Dormand-Prince's
// own fourth-order continuous extension (needs the step's stages), cubic Hermite otherwise.
template <class Team, class T>
DLNFLOW_HD_NOINLINE void interpolate(const Team& team, const StepConfig& c, int n, const T* y0, const T* f0, const T* y1,
                            const T* f1, T h, T th, const Stages<T>& s, T* out) {
  using namespace dp;
  if (c.method != Method::DormandPrince54) {
    const T th2 = th * th, th3 = th2 * th;
    const T h00 = 2 * th3 - 3 * th2 + 1, h10 = th3 - 2 * th2 + th;
    const T h01 = -2 * th3 + 3 * th2, h11 = th3 - th2;
    for (int i = team.rank(); i < n; i += team.size())
      out[i] = ((h00 * y0[i] + (h10 * h) * f0[i]) + h01 * y1[i]) + (h11 * h) * f1[i];
  } else {
    const T s1 = 1 - th;
    for (int i = team.rank(); i < n; i += team.size()) {
      const T dy = y1[i] - y0[i];
      const T bspl = h * f0[i] - dy;
      const T r4 = (dy - h * s.k7[i]) - bspl;
      const T r5 = h * (((((T(d1) * f0[i] + T(d3) * s.k3[i]) + T(d4) * s.k4[i]) + T(d5) * s.k5[i]) + T(d6) * s.k6[i]) +
                        T(d7) * s.k7[i]);
      out[i] = y0[i] + th * (dy + s1 * (bspl + th * (r4 + s1 * r5)));
    }
  }
  team.sync();
}

}  // namespace dlnflow::device
