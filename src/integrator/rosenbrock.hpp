// One step of a Rosenbrock method given as a RosenbrockTableau (Rodas5P), its error estimate and
// dense output, on a team, for every Math that linearizes its flow (see driver.hpp):
//   bool linearize(const T* y)            the point the next jvp() calls differentiate at
//   bool jvp(const T* v, T* out)           out = J v at that point
//   bool refresh_preconditioner()          freeze J at that point for precondition()
//   void precondition(T hg, const T* r, T* z)   z ~ (I - hg J_frozen)^{-1} r (z = r while
//                                          nothing is frozen)
//   void forget_preconditioner()           drop the frozen Jacobian (a trajectory's start)
// and, for the driver around the step,
//   void keep_balance(const T* y0)         remember the invariant the exact flow conserves
//   void rebalance(T* y)                   move y back to it without changing W (a no-op but for
//                                          the deep factorization: src/cpu/rebalance.hpp)
// The linear systems are solved by GCR (krylov.hpp) on the exact Jacobian-vector products, so
// the method keeps its order; the frozen Jacobian only preconditions them, and is refreshed when
// the solves start to need many iterations (the Jacobian has moved away from it).
#pragma once

#include <type_traits>

#include "krylov.hpp"
#include "step_control.hpp"
#include "steppers.hpp"
#include "tableaux.hpp"

namespace dlnflow::integrator {

// The linear solves stop at a scaled residual of kLinearTol (RMS over the entries, in units of
// the step's error tolerance). The stage coefficients amplify a stage's error by up to ~100
// (gamma c[i][j] reaches 31), so 1e-3 leaves the step's error a tenth of the tolerance. What the
// solves leave in the flat directions (a deep network's rescalings between factors, where
// nothing pulls it back) used to accumulate as drift of the balancedness invariant (1e-3 drifted
// it 80 times more than dopri5 does); the driver now restores that invariant every few
// implicit steps (src/cpu/rebalance.hpp), and 1e-3 instead of 1e-6 halved the linear iterations
// on the stiff benchmark (depth 4, alpha = 1e-8: 7 400 to 3 600 a trajectory, 20% less time).
constexpr double kLinearTol = 1e-3;
constexpr int kKrylovDim = 40;  // directions kept per step (across its 8 solves)
// The roundoff floor of an implicit step's entries, kRoundoffFloor eps ||y||_inf, and the band
// above it (a factor) where an entry is measured against the floor (see rosenbrock_step).
constexpr double kRoundoffFloor = 16, kRoundoffBand = 1e3;
// More directions than this in one step: refresh the frozen Jacobian before the next step. A
// small state's refresh is a dense one of n products, and its unpreconditioned solves can never
// need more than n directions: there, more than a quarter of n refreshes.
constexpr int kRefreshIterations = 24;
DLNFLOW_HD constexpr int refresh_directions(int n) {
  return n / 4 >= kRefreshIterations ? kRefreshIterations : (n / 4 > 1 ? n / 4 : 1);
}

template <class T>
struct RosenbrockStages {
  T* k[kRosenbrockStages] = {};
  T* u = nullptr;      // the stage state U_i
  T* fu = nullptr;     // f(U_i)
  T* r = nullptr;      // the right-hand side of a stage's linear system
  T* wt = nullptr;     // squared inverse error scales at the step's start
  T* hd[3] = {};       // the accepted step's dense-output vectors
  KrylovWork<T> kw;

  template <class W>
  DLNFLOW_HD void layout(W& ws, int n) {
    for (int i = 0; i < kRosenbrockStages; ++i) k[i] = ws.take(n);
    u = ws.take(n), fu = ws.take(n), r = ws.take(n), wt = ws.take(n);
    for (int i = 0; i < 3; ++i) hd[i] = ws.take(n);
    kw.layout(ws, n, n < kKrylovDim ? n : kKrylovDim);
  }
};

struct ImplicitCounters {
  long long jvps = 0, linear_iterations = 0;
  int step_directions = 0;  // directions the last step's solves needed together
};

enum class ImplicitOutcome : int { Done, LinearFailed, MathFailed };

// Advances (y, f = rhs(y)) by h into y1 and returns the scaled error (the stiffly accurate k_s).
// rhs(state, dstate, want_loss) -> loss as for take_step. A linear solve that does not converge
// returns LinearFailed (the caller refreshes the preconditioner or shrinks the step). refresh:
// freeze the Jacobian at y for the preconditioner first.
template <class Team, class T, class Math, class Rhs>
DLNFLOW_HD_NOINLINE ImplicitOutcome rosenbrock_step(const Team& team, const RosenbrockTableau& t, const StepConfig& c,
                                                    int n, const T* y, const T* f, T h, T* y1, T& err,
                                                    RosenbrockStages<T>& s, Math& math, Rhs&& rhs,
                                                    ImplicitCounters& count, bool refresh, T* scratch) {
  if (!math.linearize(y)) return ImplicitOutcome::MathFailed;
  if (refresh && !math.refresh_preconditioner()) return ImplicitOutcome::MathFailed;
  // The stages' linear algebra (a dense preconditioner mixes entries) cannot keep an entry that
  // the flow keeps exactly zero (an off-diagonal entry of a diagonal problem) any closer to zero
  // than the roundoff of the whole state, ~eps ||y||_inf; with the user's atol far below that
  // (1e-60 in the greedy-low-rank examples) every error test and linear solve would fail on
  // such entries. So an entry within kRoundoffBand of that floor is measured with atol raised to
  // it; every larger entry, however small (a mode of 1e-8 beside converged O(1) ones), keeps the
  // relative control it is given.
  T ymax = 0;
  for (int i = team.rank(); i < n; i += team.size()) ymax = std::fabs(y[i]) > ymax ? std::fabs(y[i]) : ymax;
  ymax = team_max(team, ymax, scratch);
  const T noise = T(kRoundoffFloor) * Epsilon<T>::value * ymax;
  auto scale = [&](T m) {
    T sc = T(c.atol) + T(c.rtol) * m;
    if (m < T(kRoundoffBand) * noise && sc < noise) sc = noise;
    return sc;
  };
  for (int i = team.rank(); i < n; i += team.size()) {
    T sc = scale(std::fabs(y[i]));
    if (!(sc > 0)) sc = 1;
    s.wt[i] = 1 / (sc * sc);
  }
  team.sync();
  const T hg = h * T(t.gamma);
  bool math_ok = true;
  auto apply = [&](const T* in, T* out) {  // out = (I - h gamma J) in
    ++count.jvps;
    if (!math.jvp(in, out)) math_ok = false;
    team.sync();
    for (int i = team.rank(); i < n; i += team.size()) out[i] = in[i] - hg * out[i];
    team.sync();
  };
  auto precondition = [&](const T* in, T* out) {
    math.precondition(hg, in, out);
    team.sync();
  };
  const T* kc[kRosenbrockStages];
  for (int i = 0; i < t.stages; ++i) kc[i] = s.k[i];
  count.step_directions = 0;
  s.kw.count = 0;
  for (int i = 0; i < t.stages; ++i) {
    const T* fi = f;
    if (i > 0) {
      combine(team, n, s.u, y, T(1), t.a[i], i, 1.0, kc);
      rhs(s.u, s.fu, false);
      fi = s.fu;
    }
    if constexpr (std::is_same_v<Team, HostTeam>) {  // term by term, vectorized (combine in steppers.hpp)
      for (int q = 0; q < n; ++q) s.r[q] = hg * fi[q];
      for (int j = 0; j < i; ++j) {
        if (t.c[i][j] == 0) continue;
        const T cj = T(t.gamma * t.c[i][j]);
        const T* kj = s.k[j];
        for (int q = 0; q < n; ++q) s.r[q] += cj * kj[q];
      }
    } else {
      for (int q = team.rank(); q < n; q += team.size()) {
        T acc = hg * fi[q];
        for (int j = 0; j < i; ++j)
          if (t.c[i][j] != 0) acc += T(t.gamma * t.c[i][j]) * s.k[j][q];
        s.r[q] = acc;
      }
    }
    team.sync();
    const KrylovResult kr =
        gcr(team, n, s.r, s.k[i], s.wt, T(kLinearTol), s.kw, apply, precondition, scratch);
    count.linear_iterations += kr.iterations;
    count.step_directions = s.kw.count;
    if (!math_ok) return ImplicitOutcome::MathFailed;
    if (!kr.converged) return ImplicitOutcome::LinearFailed;
  }
  combine(team, n, y1, y, T(1), t.b, t.stages, 1.0, kc);
  // An entry the step started at exactly zero and moved by no more than the roundoff noise stays
  // exactly zero: the flow's structure keeps such entries at zero (the off-diagonal entries of a
  // diagonal problem), an explicit step does too, and a speck of roundoff there would be chased
  // by the relative error control of every step after (docs/numerics.md).
  for (int q = team.rank(); q < n; q += team.size())
    if (y[q] == T(0) && std::fabs(y1[q]) < noise) y1[q] = T(0);
  team.sync();
  // The error estimate sum_j e_j k_j (k_s alone for Rodas5P).
  T sum = 0, bad = 0;
  for (int q = team.rank(); q < n; q += team.size()) {
    T e = 0;
    for (int j = 0; j < t.stages; ++j)
      if (t.e[j] != 0) e += T(t.e[j]) * s.k[j][q];
    const T a0 = std::fabs(y[q]), a1 = std::fabs(y1[q]);
    const T sc = scale(a0 > a1 ? a0 : a1);
    if (sc == T(0)) {
      if (e != T(0)) bad = 1;
    } else {
      sum += (e / sc) * (e / sc);
    }
  }
  if (team_max(team, bad, scratch) > 0) err = T(INFINITY);
  else err = error_from_sum(team_sum(team, sum, scratch), n);
  return ImplicitOutcome::Done;
}

// After an accepted step: the dense-output vectors h_r = sum_j hd[r][j] k_j.
template <class Team, class T>
DLNFLOW_HD void rosenbrock_dense(const Team& team, const RosenbrockTableau& t, int n, const RosenbrockStages<T>& s) {
  if constexpr (std::is_same_v<Team, HostTeam>) {  // term by term, vectorized (combine in steppers.hpp)
    for (int r = 0; r < 3; ++r) {
      T* out = s.hd[r];
      for (int q = 0; q < n; ++q) out[q] = 0;
      for (int j = 0; j < t.stages; ++j) {
        const T c = T(t.hd[r][j]);
        const T* kj = s.k[j];
        for (int q = 0; q < n; ++q) out[q] += c * kj[q];
      }
    }
    return;
  }
  for (int q = team.rank(); q < n; q += team.size())
    for (int r = 0; r < 3; ++r) {
      T acc = 0;
      for (int j = 0; j < t.stages; ++j) acc += T(t.hd[r][j]) * s.k[j][q];
      s.hd[r][q] = acc;
    }
  team.sync();
}

// y(t0 + th h) = (1 - th) y0 + th (y1 + (1 - th) (h_1 + th (h_2 + th h_3))): order 4.
template <class Team, class T>
DLNFLOW_HD void rosenbrock_interpolate(const Team& team, int n, const T* y0, const T* y1, T th,
                                       const RosenbrockStages<T>& s, T* out) {
  const T s1 = 1 - th;
  for (int q = team.rank(); q < n; q += team.size())
    out[q] = s1 * y0[q] + th * (y1[q] + s1 * (s.hd[0][q] + th * (s.hd[1][q] + th * s.hd[2][q])));
  team.sync();
}

}  // namespace dlnflow::integrator
