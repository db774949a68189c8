// One trajectory from start to stop: step control, recording on the time grid by interpolation,
// event location, stop rules, the final rank and nearest critical point, and failure reporting.
// Written once for every backend, as a template over the team that runs it and the backend's
// linear algebra (Math): the CPU backend runs it on a one-member team over Eigen (src/cpu/), the
// fused GPU kernel on a block or a warp over the device math (kernels/device/). Every scalar that
// steers control flow (loss, error norm, event values, finiteness) is the same on every member of
// a team, so that all members take the same branches.
//
// Math, for one trajectory on the driver's team (every member calls every method):
//   int state() const, spectrum_size() const, catalog_count() const
//   T rhs(const T* y, T* dy, bool want_loss, bool& ok)   dy/dt and the loss (NaN unless wanted)
//   T loss(const T* y, T* scratch, bool& ok)              the loss alone (scratch: a state vector)
//   T grad_norm(const T* y, const T* dy, bool& ok)
//   bool spectrum(const T* y, T* out)                     singular values of W, decreasing
//   T balance_defect(const T* y)
//   bool retract(T* y)                                    back onto the rank cap (a no-op elsewhere)
//   bool nearest(const T* y, T& distance, T& index)       the nearest catalogued critical point
//   T matrix_event(const T* y, bool distance, int slot)   <C, W> or ||W - M||_F, slot-th event matrix
//   int product_size() const; bool product(const T* y, T* W)   W itself (rows x cols, column-major)
// `ok` false (a method returning false) means a matrix function failed: the trajectory ends
// Failed at its last accepted state.
// A Math that also linearizes its flow (the methods rosenbrock.hpp lists, and
// bool linearizable() for the problems it can) runs the implicit methods, rodas5p and auto;
// one that does not runs auto as dopri5.
#pragma once

#include "dlnflow/codes.hpp"
#include "rosenbrock.hpp"
#include "step_control.hpp"
#include "steppers.hpp"
#include "stiffness.hpp"
#include "team.hpp"
#include "workspace.hpp"

#include <limits>
#include <type_traits>

namespace dlnflow::integrator {

// Whether a Math linearizes its flow (has the methods an implicit step needs).
template <class M, class = void>
struct Linearizes {
  static constexpr bool value = false;
};
template <class M>
struct Linearizes<M, decltype(void(&M::linearizable))> {
  static constexpr bool value = true;
};

struct EventData {
  EventKind kind = EventKind::Loss;
  int index = 0;  // singular value, 0-based (the public API's 1-based index minus one); for linear
                  // and distance events, which of the run's event matrices (in event order)
  double level = 0;
  Crossing crossing = Crossing::Either;
  bool terminal = false;
};

template <class T>
struct DriverConfig {
  StepConfig step;
  long long max_steps = 0;
  T t_final = 1, loss_below = -T(INFINITY), grad_norm_below = 0, grad_min_time = 0, blowup_norm = T(1e150);
  T rank_rtol = T(1e-8);
  int n_times = 0;
  const T* times = nullptr;
  int n_events = 0;
  int n_spectrum_events = 0;  // of them singular-value events (sizes the SVD skip's buffers)
  const EventData* events = nullptr;
  bool keep_states = false;
};

// Where one trajectory's output block (OutputLayout) lies.
template <class T>
struct TrajectoryOut {
  T* header;       // OutputLayout::kHeaderSize
  T* final_state;  // state
  T* event_times;  // events
  T* samples;      // times * sample_stride

  DLNFLOW_HD static TrajectoryOut at(T* block, const OutputLayout& L) {
    return {block, block + L.final_state(), block + L.event_times(), block + L.samples()};
  }
};

template <class T>
DLNFLOW_HD OutputLayout output_layout(const DriverConfig<T>& c, int state, int spectrum) {
  OutputLayout L;
  L.state = state, L.events = c.n_events, L.times = c.n_times, L.spectrum = spectrum, L.keep_states = c.keep_states;
  return L;
}

template <class Team, class T, class Math>
class Driver {
 public:
  // Implicit steps between two rebalancings of the state (src/cpu/rebalance.hpp). One costs
  // about a sixth of an implicit step on the stiff benchmark (14% of auto's time when done at
  // every step, 3% at every fourth); every fourth keeps the drift of the balancedness at four
  // steps' worth, still far below dopri5's.
  static constexpr int kRebalanceEvery = 4;

  // The driver's scratch, then the math's: one layout for the size query and the carving.
  template <class W>
  DLNFLOW_HD static void layout(W& ws, const DriverConfig<T>& c, const Tableau& t, Math& math, int team_size,
                                Driver* d = nullptr) {
    const int n = math.state();
    T* y = ws.take(n);
    T* f0 = ws.take(n);
    T* y1 = ws.take(n);
    T* f1 = ws.take(n);
    const bool observes = c.n_times > 0 || c.n_events > 0;
    T* ys = observes ? ws.take(n) : nullptr;
    T* fs = observes ? ws.take(n) : nullptr;
    Stages<T> s;
    s.layout(ws, t, n);
    T* spec = ws.take(math.spectrum_size());
    T* scratch = ws.take(team_size);
    T* ev_t = ws.take(c.n_events);    // first crossing time of each event
    T* g_prev = ws.take(c.n_events);  // each event function at the last accepted state
    T* g_new = ws.take(c.n_events);   // ... and at the step's end
    // For singular-value events: W and its spectrum where the spectrum was last computed, and W
    // now (spectrum_unchanged). Sized by their count, not by reading the events: those may not
    // be readable where the workspace is measured (the device's packed run binds them later).
    const bool sv = c.n_spectrum_events > 0;
    T* w_ref = sv ? ws.take(math.product_size()) : nullptr;
    T* w_now = sv ? ws.take(math.product_size()) : nullptr;
    T* spec_ref = sv ? ws.take(math.spectrum_size()) : nullptr;
    if constexpr (Linearizes<Math>::value) {
      ImplicitState im;
      if (is_implicit(c.step.method)) {
        im.stages.layout(ws, n);
        if (c.step.method == Method::Auto) im.pv = ws.take(n), im.pw = ws.take(n);
      }
      if (d) d->im_ = im;
    }
    math.layout(ws);
    if (d) {
      d->y_ = y, d->f0_ = f0, d->y1_ = y1, d->f1_ = f1, d->ys_ = ys, d->fs_ = fs, d->s_ = s;
      d->spec_ = spec, d->scratch_ = scratch, d->ev_t_ = ev_t, d->g_prev_ = g_prev, d->g_new_ = g_new;
      d->w_ref_ = w_ref, d->w_now_ = w_now, d->spec_ref_ = spec_ref;
    }
  }

  // Entries of `work` a trajectory needs, each array aligned to `align` entries.
  DLNFLOW_HD static long long workspace(const DriverConfig<T>& c, Math& math, int team_size, int align = 1) {
    Workspace<T> ws = Workspace<T>::measure(align);
    layout(ws, c, tableau(c.step.method), math, team_size);
    return ws.used();
  }

  DLNFLOW_HD Driver(const Team& team, Math& math, const DriverConfig<T>& c, T* work, int align = 1)
      : team_(team), math_(math), c_(c), t_(tableau(c.step.method)), n_(math.state()) {
    Workspace<T> ws(work, align);
    layout(ws, c, t_, math, team.size(), this);
  }

  DLNFLOW_HD_NOINLINE void run(const T* y0, const TrajectoryOut<T>& out) {
    const int stride = sample_stride();
    for (int i = team_.rank(); i < c_.n_times * stride; i += team_.size())
      out.samples[i] = (i % stride == OutputLayout::kValid) ? T(0) : T(NAN);
    T* const ev_t = ev_t_;
    T* const g_prev = g_prev_;
    if (team_.rank() == 0)
      for (int e = 0; e < c_.n_events; ++e) ev_t[e] = T(NAN);
    copy(team_, n_, y0, y_);
    team_.sync();
    const StepClock<T> start;
    if (!math_.retract(y_)) return fail(out, ev_t, start);
    if (!finite_and_bounded(y_)) {
      reason_ = StopReason::InitialNotFinite;
      return finish(out, Status::Diverged, 0, ev_t, start);
    }
    T loss = rhs(y_, f0_, true);
    ++evals_;
    if (failed_) return fail(out, ev_t, start);
    int next = 0;
    while (next < c_.n_times && c_.times[next] <= 0) sample(out, next++, y_);
    bool have_spec = false;
    for (int e = 0; e < c_.n_events; ++e) {
      const T g = event_value(c_.events[e], y_, f0_, loss, have_spec);
      team_.sync();  // every member has read g_prev before one of them writes it
      if (team_.rank() == 0) g_prev[e] = g;
    }
    team_.sync();
    if (failed_) return fail(out, ev_t, start);
    if (have_spec) keep_spectrum_reference(y_);

    const bool adaptive = is_adaptive(c_.step.method);
    bool can_linearize = false;
    if constexpr (Linearizes<Math>::value) {
      can_linearize = is_implicit(c_.step.method) && math_.linearizable();
      if (can_linearize) {
        math_.keep_balance(y_);
        // No frozen Jacobian yet (nor one left by the trajectory this Math ran before, which
        // would make a result depend on the batch's order): the first implicit steps, as short
        // as the explicit ones they follow, solve unpreconditioned in a few directions, and the
        // first step that needs more than refresh_directions(n) (or a solve that fails) freezes one.
        // Freezing at the first implicit step cost mildly stiff trajectories a range finder
        // for an implicit phase of a few steps: on the stiff benchmark, depth 3, alpha = 1e-4,
        // 256 seeds, one thread, auto took 2.0 s against dopri5's 1.4 s; 1.6 s lazily
        // (docs/numerics.md).
        math_.forget_preconditioner();
        need_refresh_ = false;
      }
    }
    implicit_ = can_linearize && c_.step.method == Method::Rodas5P;
    const bool switches = can_linearize && c_.step.method == Method::Auto;
    const T Tf = c_.t_final;
    auto rhs_fn = [&](const T* s, T* ds, bool want) {  // the stepper's evaluations count too
      ++evals_;
      return rhs(s, ds, want);
    };
    StepClock<T> k;
    k.h = adaptive ? initial_step(team_, c_.step, n_, y_, f0_, Tf, s_, rhs_fn, scratch_) : T(c_.step.dt);
    Status status = Status::Completed;
    while (k.t < Tf) {
      T hs = 0;
      bool last = false;
      const StepPlan plan = plan_step(c_.step, c_.max_steps, Tf, k, hs, last);
      if (plan != StepPlan::Go) {
        status = plan == StepPlan::Underflow ? Status::StepUnderflow : Status::MaxSteps;
        if (plan == StepPlan::Underflow) reason_ = StopReason::StepCollapsed, reason_value_ = k.h;
        break;
      }
      bool have_f1 = false;
      T loss1 = 0;
      T err = 0;
      if (implicit_) {
        if (!implicit_step(hs, err, rhs_fn)) return fail(out, ev_t, k);
      } else {
        err = take_step(team_, t_, c_.step, n_, y_, f0_, hs, y1_, f1_, have_f1, loss1, s_, rhs_fn, scratch_);
      }
      if (failed_) return fail(out, ev_t, k);
      const T t0 = k.t, c0 = k.comp;  // the step's start is t0 - c0 (Kahan's compensation)
      if (last_implicit_ != implicit_) k.h_acc = 0;  // a new phase: no step of this method to predict from
      if (!conclude_step(c_.step, Tf, hs, last, err, k, implicit_)) {
        if (implicit_) monitor_.implicit_rejection();
        continue;
      }
      const T t1 = k.t;
      last_implicit_ = implicit_;
      if constexpr (Linearizes<Math>::value) {
        if (implicit_) {
          rosenbrock_dense(team_, im_.tab, n_, im_.stages);
          ++implicit_steps_, implicit_time_ += hs;
          // Back to the conserved balancedness along the gauge orbit (W unchanged): a Rosenbrock
          // step's local error is the whole tolerance, and none of it in those directions would
          // ever be pulled back (src/cpu/rebalance.hpp). Every kRebalanceEvery implicit steps:
          // the drift then stays at that many steps' worth, for a fraction of the cost.
          if (++unbalanced_steps_ >= kRebalanceEvery) {
            math_.rebalance(y1_);
            unbalanced_steps_ = 0;
          }
        }
      }
      if (math_.retracts()) {
        if (!math_.retract(y1_)) return fail(out, ev_t, k);
        have_f1 = false;
      }
      if (!finite_and_bounded(y1_)) {
        reason_ = StopReason::NotFinite;
        return finish(out, Status::Diverged, t1, ev_t, k);
      }
      if (!have_f1) {
        loss1 = rhs(y1_, f1_, true);
        ++evals_;
        if (failed_) return fail(out, ev_t, k);
      }
      bool stop_event = false;
      T t_stop = t1;
      // Every event function at y1 first (locating a crossing evaluates the spectrum elsewhere),
      // without an SVD where Weyl's inequality shows no singular value crossed its level.
      bool have_spec1 = spectrum_unchanged(y1_, ev_t);
      const bool reused = have_spec1;
      for (int e = 0; e < c_.n_events; ++e) {
        const T g = event_value(c_.events[e], y1_, f1_, loss1, have_spec1);
        team_.sync();
        if (team_.rank() == 0) g_new_[e] = g;
      }
      team_.sync();
      if (failed_) return fail(out, ev_t, k);
      if (have_spec1 && !reused) keep_spectrum_reference(y1_);
      for (int e = 0; e < c_.n_events; ++e) {
        const T g1 = g_new_[e];
        const T g0 = g_prev[e];
        T te = ev_t[e];
        if (te != te && crosses(c_.events[e].crossing, g0, g1)) {
          te = locate(c_.events[e], t0, hs, g0, g1);
          if (c_.events[e].terminal && te <= t_stop) {
            stop_event = true;
            t_stop = te;
          }
        }
        team_.sync();  // every member has read this event's entries before one of them writes them
        if (team_.rank() == 0) ev_t[e] = te, g_prev[e] = g1;
      }
      team_.sync();
      if (failed_) return fail(out, ev_t, k);
      // A terminal event ends the trajectory at its time: nothing is recorded past it, and the
      // final state is the interpolated state there, so t_end, final state and loss agree.
      while (next < c_.n_times && c_.times[next] <= t_stop) {
        // (t - t0) is exact near t0; the compensation places the step's start to well under the
        // clock's resolution, which a step may be shorter than (at t = 2e14, say).
        dense_output(hs, ((c_.times[next] - t0) + c0) / hs, ys_);
        if (!math_.retract(ys_)) return fail(out, ev_t, k);  // the interpolant leaves the rank-r manifold
        rebalance_interpolant();
        sample(out, next++, ys_);
        if (failed_) return fail(out, ev_t, k);
      }
      if (stop_event) {
        dense_output(hs, (t_stop - t0) / hs, ys_);
        if (!math_.retract(ys_)) return fail(out, ev_t, k);
        rebalance_interpolant();
        swap(y_, ys_);
        status = Status::EventStop;
        k.t = t_stop, k.comp = 0;
        break;
      }
      if (switches && !consider_switch(hs)) return fail(out, ev_t, k);
      swap(y_, y1_);
      swap(f0_, f1_);
      loss = loss1;
      if (loss < c_.loss_below) {
        status = Status::LossConverged;
        break;
      }
      if (c_.grad_norm_below > 0 && t1 >= c_.grad_min_time) {
        bool ok = true;
        const T g = math_.grad_norm(y_, f0_, ok);
        if (!ok) return fail(out, ev_t, k);
        if (g < c_.grad_norm_below) {
          status = Status::GradConverged;
          break;
        }
      }
    }
    if constexpr (Linearizes<Math>::value)
      if (implicit_steps_ > 0) rebalance_twice(y_);  // the final state, as every recorded one
    bool ok = true;
    final_loss_ = math_.loss(y_, f1_, ok);  // f1 is free once the loop is over
    if (!ok) return fail(out, ev_t, k);
    finish(out, status, k.t, ev_t, k);
  }

 private:
  DLNFLOW_HD int sample_stride() const {
    return OutputLayout::kSampleFixed + math_.spectrum_size() + (c_.keep_states ? n_ : 0);
  }

  DLNFLOW_HD static void swap(T*& a, T*& b) {
    T* t = a;
    a = b, b = t;
  }

  DLNFLOW_HD T rhs(const T* s, T* ds, bool want_loss) {
    bool ok = true;
    const T L = math_.rhs(s, ds, want_loss, ok);
    if (!ok) failed_ = true;
    return L;
  }

  // The state at t0 + th h inside the last accepted step, from the dense output of the method
  // that took it.
  DLNFLOW_HD void dense_output(T h, T th, T* out) {
    if constexpr (Linearizes<Math>::value) {
      if (last_implicit_) return rosenbrock_interpolate(team_, n_, y_, y1_, th, im_.stages, out);
    }
    interpolate(team_, t_, n_, y_, f0_, y1_, f1_, h, th, s_, out);
  }

  // One Rodas5P attempt of size h from (y_, f0_) into y1_. The frozen Jacobian that
  // preconditions the linear solves (none at a trajectory's start) is refreshed when the last
  // step's solves needed many directions, and once more when a solve does not converge; a solve
  // that fails with a fresh one rejects the step (err infinite). False: a matrix function
  // failed.
  template <class Rhs>
  DLNFLOW_HD bool implicit_step(T h, T& err, Rhs& rhs_fn) {
    if constexpr (Linearizes<Math>::value) {
      bool fresh = need_refresh_;
      ImplicitOutcome o = rosenbrock_step(team_, im_.tab, c_.step, n_, y_, f0_, h, y1_, err, im_.stages, math_, rhs_fn,
                                          counts_, need_refresh_, scratch_);
      if (o == ImplicitOutcome::LinearFailed && !fresh) {
        fresh = true;
        o = rosenbrock_step(team_, im_.tab, c_.step, n_, y_, f0_, h, y1_, err, im_.stages, math_, rhs_fn, counts_, true,
                            scratch_);
      }
      if (o == ImplicitOutcome::MathFailed || failed_) return false;
      if (o == ImplicitOutcome::LinearFailed) err = T(INFINITY);
      need_refresh_ = !fresh && counts_.step_directions > refresh_directions(n_);
    } else {
      (void)h, (void)err, (void)rhs_fn;
    }
    return true;
  }

  // An implicit step's interpolant carries the drift of the steps since the last rebalancing
  // and its own, which the rebalancing of step ends does not reach: recorded states and a
  // terminal event's state are moved back too, by two passes, as the final state (one pass
  // leaves up to half of it near an escape; the few recorded states make a second one cheap).
  DLNFLOW_HD void rebalance_interpolant() {
    if constexpr (Linearizes<Math>::value)
      if (implicit_) rebalance_twice(ys_);
  }
  DLNFLOW_HD void rebalance_twice(T* y) {
    if constexpr (Linearizes<Math>::value) {
      math_.rebalance(y);
      math_.rebalance(y);
    }
  }

  // Method auto, after an accepted step (y_, f0_) -> (y1_, f1_) of size h: whether to change
  // method for the next one (stiffness.hpp). False: a matrix function failed.
  DLNFLOW_HD bool consider_switch(T h) {
    if constexpr (Linearizes<Math>::value) {
      if (!implicit_) {
        // h ||f(y1) - f(Y_6)|| / ||y1 - Y_6||: k_7 = f(y1), k_6 = f(Y_6), Y_6 in the stage buffer.
        T num = 0, den = 0;
        for (int i = team_.rank(); i < n_; i += team_.size()) {
          const T a = s_.k[6][i] - s_.k[5][i], b = y1_[i] - s_.tmp[i];
          num += a * a, den += b * b;
        }
        num = team_sum(team_, num, scratch_), den = team_sum(team_, den, scratch_);
        const T hl = den > 0 ? h * std::sqrt(num / den) : T(0);
        bool stiff = monitor_.explicit_step(static_cast<double>(hl));
        if (!have_direction_) {  // start the power iteration along the direction the test saw
          for (int i = team_.rank(); i < n_; i += team_.size()) im_.pv[i] = s_.k[6][i] - s_.k[5][i];
          team_.sync();
          normalize(im_.pv, f1_);
          have_direction_ = true;
        }
        if (!stiff && monitor_.radius_due()) {
          // The spectral radius at y1, from kRadiusIterations steps of the carried power iteration.
          if (!math_.linearize(y1_)) return false;
          T rho = 0;
          for (int it = 0; it < StiffnessMonitor::kRadiusIterations; ++it) {
            ++counts_.jvps;
            if (!math_.jvp(im_.pv, im_.pw)) return false;
            team_.sync();
            rho = normalize(im_.pw, f1_);
            swap(im_.pv, im_.pw);
          }
          stiff = monitor_.explicit_radius(static_cast<double>(h), static_cast<double>(rho));
        }
        // The frozen Jacobian of an earlier implicit phase is kept: before an escape the stiff
        // modes are those it froze, and after one the first step's solves need more directions
        // than refresh_directions(n) (or fail), which refreshes it then. Refreshing at every switch
        // cost 4.2 range finders a trajectory instead of 3.0 on the stiff benchmark (depth 4,
        // alpha = 1e-8), each about as much as 30 implicit steps there (docs/numerics.md).
        if (stiff) {
          implicit_ = true;
          ++switches_;
        }
      } else {
        // J at the step's start (still the linearization point) times the carried vector.
        ++counts_.jvps;
        if (!math_.jvp(im_.pv, im_.pw)) return false;
        team_.sync();
        const T rho = normalize(im_.pw, f1_);
        swap(im_.pv, im_.pw);
        if (monitor_.implicit_step(static_cast<double>(h), static_cast<double>(rho))) {
          implicit_ = false;
          ++switches_;
        }
      }
    } else {
      (void)h;
    }
    return true;
  }

  // Scales v to unit norm and returns its norm; a zero (or non-finite) v becomes `fallback`
  // normalized.
  DLNFLOW_HD T normalize(T* v, const T* fallback) {
    T sq = 0;
    for (int i = team_.rank(); i < n_; i += team_.size()) sq += v[i] * v[i];
    T nrm = std::sqrt(team_sum(team_, sq, scratch_));
    if (!(nrm > 0) || !finite(nrm)) {
      copy(team_, n_, fallback, v);
      team_.sync();
      sq = 0;
      for (int i = team_.rank(); i < n_; i += team_.size()) sq += v[i] * v[i];
      const T f = std::sqrt(team_sum(team_, sq, scratch_));
      for (int i = team_.rank(); i < n_; i += team_.size()) v[i] = f > 0 ? v[i] / f : T(1);
      team_.sync();
      return finite(nrm) ? nrm : T(0);
    }
    for (int i = team_.rank(); i < n_; i += team_.size()) v[i] /= nrm;
    team_.sync();
    return nrm;
  }

  DLNFLOW_HD bool finite_and_bounded(const T* y) {
    T bad = 0;
    for (int i = team_.rank(); i < n_; i += team_.size())
      if (!(std::fabs(y[i]) <= c_.blowup_norm)) bad = 1;  // NaN fails the comparison too
    return !(team_max(team_, bad, scratch_) > 0);
  }

  // Weyl: |sigma_i(W) - sigma_i(W_ref)| <= ||W - W_ref||_2 <= ||W - W_ref||_F (eigenvalues alike for
  // W = U U^T). Where ||W - W_ref||_F is below every unfired singular-value event's distance
  // from its level at the reference, none of them has changed sign since: spec_ takes the
  // reference's values (right in sign, which is all a crossing test reads; locating one
  // evaluates afresh) and the step needs no SVD. On a plateau W barely moves for thousands of
  // steps. The rounding of the products W, of order eps ||W|| (the symmetric spectrum comes from
  // U, not from the rounded U U^T), is added to the distance; a margin that is not a number
  // shows nothing. Returns whether spec_ was so filled.
  DLNFLOW_HD bool spectrum_unchanged(const T* y, const T* ev_t) {
    if (!w_ref_ || !have_ref_) return false;
    bool active = false;
    T margin = T(INFINITY);
    for (int e = 0; e < c_.n_events; ++e) {
      const EventData& ev = c_.events[e];
      if (ev.kind == EventKind::SingularValue && ev_t[e] != ev_t[e]) {
        const T m = std::fabs(spec_ref_[ev.index] - T(ev.level));
        active = true;
        if (m != m || m < margin) margin = m;  // NaN stays
      }
    }
    bool ok = !active;  // every one has fired: their values no longer matter
    if (active) {
      if (!math_.product(y, w_now_)) return false;
      team_.sync();
      T sq = 0, norms = 0;
      for (int l = team_.rank(); l < math_.product_size(); l += team_.size()) {
        const T d = w_now_[l] - w_ref_[l];
        sq += d * d;
        norms += w_now_[l] * w_now_[l] + w_ref_[l] * w_ref_[l];
      }
      const T dist = std::sqrt(team_sum(team_, sq, scratch_));
      const T slack = T(64) * std::numeric_limits<T>::epsilon() * std::sqrt(team_sum(team_, norms, scratch_));
      ok = dist + slack < margin;  // NaN anywhere: not shown
    }
    if (ok) {
      for (int i = team_.rank(); i < math_.spectrum_size(); i += team_.size()) spec_[i] = spec_ref_[i];
      team_.sync();
    }
    return ok;
  }
  // spec_ holds the spectrum of y: the reference of spectrum_unchanged.
  DLNFLOW_HD void keep_spectrum_reference(const T* y) {
    if (!w_ref_) return;
    have_ref_ = math_.product(y, w_ref_);
    for (int i = team_.rank(); i < math_.spectrum_size(); i += team_.size()) spec_ref_[i] = spec_[i];
    team_.sync();
  }

  // have_spec: spec_ already holds the spectrum of y (one SVD serves every event at a state).
  // f: dy/dt at y (the gradient-norm event's input).
  DLNFLOW_HD T event_value(const EventData& e, const T* y, const T* f, T loss, bool& have_spec) {
    if (e.kind == EventKind::Loss) return loss - T(e.level);
    if (e.kind == EventKind::GradNorm) {
      bool ok = true;
      const T g = math_.grad_norm(y, f, ok);
      if (!ok) failed_ = true;
      return g - T(e.level);
    }
    if (e.kind == EventKind::CriticalDistance) {
      T distance = 0, index = 0;
      if (!math_.nearest(y, distance, index)) failed_ = true;
      team_.sync();
      return distance - T(e.level);
    }
    if (e.kind == EventKind::Linear || e.kind == EventKind::Distance) {
      const T v = math_.matrix_event(y, e.kind == EventKind::Distance, e.index);
      team_.sync();
      return v - T(e.level);
    }
    if (!have_spec) {
      if (!math_.spectrum(y, spec_)) failed_ = true;
      team_.sync();
      have_spec = true;
    }
    return spec_[e.index] - T(e.level);
  }

  DLNFLOW_HD static bool crosses(Crossing c, T g0, T g1) {
    const bool up = g0 < 0 && g1 >= 0, down = g0 > 0 && g1 <= 0;
    return c == Crossing::Up ? up : c == Crossing::Down ? down : (up || down);
  }

  // Root of the event function along the step's interpolant, by the Illinois method.
  DLNFLOW_HD_NOINLINE T locate(const EventData& e, T t0, T h, T g0, T g1) {
    T a = 0, b = 1, ga = g0, gb = g1;
    int side = 0;
    for (int it = 0; it < 200 && (b - a) > T(1e-15); ++it) {
      const T cpt = (a * gb - b * ga) / (gb - ga);
      dense_output(h, cpt, ys_);
      T loss = 0;
      if (e.kind == EventKind::Loss) {
        bool ok = true;
        loss = math_.loss(ys_, fs_, ok);
        if (!ok) failed_ = true;
      } else if (e.kind == EventKind::GradNorm) {
        rhs(ys_, fs_, false);  // dy/dt at the trial point
        team_.sync();
      }
      bool have_spec = false;
      const T gc = event_value(e, ys_, fs_, loss, have_spec);
      if (gc == T(0)) return t0 + cpt * h;
      if ((gc > 0) == (gb > 0)) {
        b = cpt, gb = gc;
        if (side == -1) ga *= T(0.5);
        side = -1;
      } else {
        a = cpt, ga = gc;
        if (side == 1) gb *= T(0.5);
        side = 1;
      }
    }
    return t0 + T(0.5) * (a + b) * h;
  }

  // Rank of spec_ (singular values above rank_rtol times the largest).
  DLNFLOW_HD int rank_of_spectrum() const {
    const int ks = math_.spectrum_size();
    int rank = 0;
    if (ks > 0 && spec_[0] > 0)
      for (int i = 0; i < ks; ++i) rank += spec_[i] > c_.rank_rtol * spec_[0] ? 1 : 0;
    return rank;
  }

  DLNFLOW_HD_NOINLINE void sample(const TrajectoryOut<T>& out, int slot, const T* y) {
    T* s = out.samples + static_cast<long long>(slot) * sample_stride();
    const T loss = rhs(y, fs_, true);
    ++evals_;
    bool ok = !failed_;
    const T g = ok ? math_.grad_norm(y, fs_, ok) : T(NAN);
    // A loss that overflowed (a diverging trajectory below blowup_norm): the spectrum is marked
    // NaN with kRankNotFinite, not decomposed from infinities.
    const bool finite_loss = loss - loss == T(0);
    ok = ok && (!finite_loss || math_.spectrum(y, spec_));
    if (!ok) {
      failed_ = true;
      return;
    }
    const int ks = math_.spectrum_size();
    if (!finite_loss)
      for (int i = team_.rank(); i < ks; i += team_.size()) spec_[i] = T(NAN);
    team_.sync();
    const int rank = finite_loss ? rank_of_spectrum() : kRankNotFinite;
    const T balance = math_.balance_defect(y);
    T dist = T(NAN), index = T(-1);
    if (finite_loss && math_.catalog_count() > 0 && !math_.nearest(y, dist, index)) {
      failed_ = true;
      return;
    }
    if (team_.rank() == 0) {
      s[OutputLayout::kValid] = 1, s[OutputLayout::kLoss] = loss, s[OutputLayout::kGradNorm] = g;
      s[OutputLayout::kRank] = rank, s[OutputLayout::kBalance] = balance;
      s[OutputLayout::kCritDist] = dist, s[OutputLayout::kCritIndex] = index;
    }
    for (int i = team_.rank(); i < ks; i += team_.size()) s[OutputLayout::kSampleFixed + i] = spec_[i];
    if (c_.keep_states)
      for (int i = team_.rank(); i < n_; i += team_.size()) s[OutputLayout::kSampleFixed + ks + i] = y[i];
    team_.sync();
  }

  // A matrix function failed: the trajectory ends at its last accepted time and state.
  DLNFLOW_HD void fail(const TrajectoryOut<T>& out, const T* ev_t, const StepClock<T>& k) {
    reason_ = StopReason::MatrixFunction;
    final_loss_ = T(NAN);
    finish(out, Status::Failed, k.t, ev_t, k);
  }

  DLNFLOW_HD void finish(const TrajectoryOut<T>& out, Status status, T t, const T* ev_t, const StepClock<T>& k) {
    if (status == Status::Diverged) final_loss_ = T(NAN);
    // The final rank and nearest critical point, on the backend that ran (none for a state
    // whose loss is not finite, or after a failure).
    T final_rank = T(-1), critical = T(-1), distance = T(NAN);
    if (status != Status::Failed && final_loss_ - final_loss_ == T(0)) {
      if (math_.spectrum(y_, spec_)) {
        team_.sync();
        final_rank = T(rank_of_spectrum());
        if (math_.catalog_count() > 0 && !math_.nearest(y_, distance, critical)) critical = T(-1), distance = T(NAN);
      }
    }
    if (team_.rank() == 0) {
      out.header[OutputLayout::kStatus] = static_cast<T>(static_cast<int>(status));
      out.header[OutputLayout::kTEnd] = t;
      out.header[OutputLayout::kSteps] = static_cast<T>(k.steps);
      out.header[OutputLayout::kRejected] = static_cast<T>(k.rejected);
      out.header[OutputLayout::kRhsEvals] = static_cast<T>(evals_);
      out.header[OutputLayout::kFinalLoss] = final_loss_;
      out.header[OutputLayout::kReason] = static_cast<T>(static_cast<int>(reason_));
      out.header[OutputLayout::kReasonValue] = reason_value_;
      out.header[OutputLayout::kFinalRank] = final_rank;
      out.header[OutputLayout::kFinalCritical] = critical;
      out.header[OutputLayout::kFinalCriticalDistance] = distance;
      out.header[OutputLayout::kSwitches] = static_cast<T>(switches_);
      out.header[OutputLayout::kImplicitSteps] = static_cast<T>(implicit_steps_);
      out.header[OutputLayout::kImplicitTime] = implicit_time_;
      out.header[OutputLayout::kJvpEvals] = static_cast<T>(counts_.jvps);
      out.header[OutputLayout::kLinearIters] = static_cast<T>(counts_.linear_iterations);
      for (int e = 0; e < c_.n_events; ++e) out.event_times[e] = ev_t[e];
    }
    copy(team_, n_, y_, out.final_state);
    team_.sync();
  }

  const Team& team_;
  Math& math_;
  const DriverConfig<T>& c_;
  const Tableau t_;
  const int n_;
  T *y_ = nullptr, *f0_ = nullptr, *y1_ = nullptr, *f1_ = nullptr, *ys_ = nullptr, *fs_ = nullptr;
  T *spec_ = nullptr, *scratch_ = nullptr, *ev_t_ = nullptr, *g_prev_ = nullptr, *g_new_ = nullptr;
  T *w_ref_ = nullptr, *w_now_ = nullptr, *spec_ref_ = nullptr;  // singular-value events only
  bool have_ref_ = false;
  Stages<T> s_{};
  // The implicit method (auto and rodas5p), only where the Math linearizes (so that the fused
  // GPU kernel carries none of it): its stages and the power iteration's vectors; then which
  // method takes the next step and which took the last, and the counts.
  struct ImplicitState {
    RosenbrockStages<T> stages;
    T *pv = nullptr, *pw = nullptr;  // the power iteration's vector and its image
    // The driver's own copy, as the explicit tableau t_: a namespace-scope constant is not
    // visible from device code.
    RosenbrockTableau tab = rodas5p();
  };
  struct NoImplicitState {};
  std::conditional_t<Linearizes<Math>::value, ImplicitState, NoImplicitState> im_{};
  bool implicit_ = false, last_implicit_ = false, need_refresh_ = false, have_direction_ = false;
  StiffnessMonitor monitor_{};
  ImplicitCounters counts_{};
  long long switches_ = 0, implicit_steps_ = 0;
  int unbalanced_steps_ = 0;  // implicit steps since the last rebalancing
  T implicit_time_ = 0;
  long long evals_ = 0;
  bool failed_ = false;
  StopReason reason_ = StopReason::None;
  T reason_value_ = 0, final_loss_ = T(NAN);
};

// Integrates one trajectory from y0 and writes its outcome to `out`. work: Driver::workspace
// entries (with the same alignment).
template <class Team, class T, class Math>
DLNFLOW_HD void run_trajectory(const Team& team, Math& math, const DriverConfig<T>& c, const T* y0,
                               const TrajectoryOut<T>& out, T* work, int align = 1) {
  Driver<Team, T, Math> driver(team, math, c, work, align);
  driver.run(y0, out);
}

}  // namespace dlnflow::integrator
