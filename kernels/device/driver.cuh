// One trajectory from start to stop on a team: step control, recording on the time grid by
// interpolation, event location, stop rules and failure reporting. This is src/cpu/solve.cpp's
// Driver, decision for decision, so that the fused kernel (one team per trajectory) returns
// what the CPU backend returns. Every scalar that steers control flow (loss, error norm, event
// values, finiteness) is reduced so that all members of a team hold the same value and take
// the same branches.
#pragma once

#include <cmath>

#include "dense.cuh"
#include "flow_data.cuh"
#include "flows.cuh"
#include "step_control.cuh"
#include "steppers.cuh"

namespace dlnflow::device {

constexpr int kMaxEvents = 16;

// The dlnflow::Status values, in the same order.
enum class RunStatus : int { Completed, LossConverged, GradConverged, EventStop, Diverged, StepUnderflow, MaxSteps, Failed };
// Why a trajectory stopped, for the message the host writes.
enum class StopReason : int { None, InitialNotFinite, NotFinite, StepCollapsed, MatrixFunction };

struct EventData {
  int kind = 1;       // 0: singular value (eigenvalue for the symmetric flow), 1: loss
  int index = 0;
  double level = 0;
  int crossing = 2;   // 0 up, 1 down, 2 either
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
  EventData events[kMaxEvents];
  bool keep_states = false;
  CatalogData<T> catalog;
};

// Output of one trajectory. Header entries, then the sample layout.
enum Header : int { kStatus, kTEnd, kSteps, kRejected, kRhsEvals, kFinalLoss, kReason, kReasonValue, kHeader };
enum SampleField : int { kValid, kLoss, kGradNorm, kRank, kBalance, kCritDist, kCritIndex, kSampleFixed };

template <class T>
DLNFLOW_HD int sample_stride(const FlowData<T>& f, const DriverConfig<T>& c) {
  return kSampleFixed + spectrum_size(f) + (c.keep_states ? f.state : 0);
}

template <class T>
struct TrajectoryOut {
  T* header;       // kHeader
  T* final_state;  // state
  T* event_times;  // n_events
  T* samples;      // n_times * sample_stride
};

// Vectors of the state size a run needs: y f y1 f1, the interpolated state and its slope when
// it records or locates events, and the method's stages. Shared memory per trajectory is what
// limits the fused kernel's occupancy, so nothing unused is reserved.
template <class T>
DLNFLOW_HD int driver_vectors(const DriverConfig<T>& c) {
  const Method m = c.step.method;
  const bool observes = c.n_times > 0 || c.n_events > 0;
  return 4 + (observes ? 2 : 0) + (m == Method::DormandPrince54 ? 8 : m == Method::RK4 ? 4 : 0);
}

template <class T>
DLNFLOW_HD int catalog_workspace(const FlowData<T>& f, const CatalogData<T>& cat) {
  if (cat.count == 0 || !cat.stiefel_free) return 0;
  const int c = f.cols, d = f.rows;
  return 2 * c * d + d + d * d + svd_workspace(c, d);
}

// Team-shared workspace (entries of T) of run_trajectory.
template <class T>
DLNFLOW_HD int driver_workspace(const FlowData<T>& f, const DriverConfig<T>& c, int team_size) {
  return driver_vectors(c) * f.state + f.rows * f.cols + spectrum_size(f) + team_size +
         flow_workspace(f, team_size) + catalog_workspace(f, c.catalog);
}

template <class Team, class T>
class Driver {
 public:
  DLNFLOW_HD Driver(const Team& team, const FlowData<T>& f, const DriverConfig<T>& c, T* work)
      : team_(team), f_(f), c_(c), n_(f.state) {
    T* p = work;
    auto take = [&](int count) {
      T* q = p;
      p += count;
      return q;
    };
    y_ = take(n_), f0_ = take(n_), y1_ = take(n_), f1_ = take(n_);
    if (c.n_times > 0 || c.n_events > 0) ys_ = take(n_), fs_ = take(n_);
    const Method m = c.step.method;
    if (m != Method::Euler) s_.k2 = take(n_), s_.k3 = take(n_), s_.k4 = take(n_), s_.tmp = take(n_);
    if (m == Method::DormandPrince54) s_.k5 = take(n_), s_.k6 = take(n_), s_.k7 = take(n_), s_.err = take(n_);
    W_ = take(f.rows * f.cols);
    spec_ = take(spectrum_size(f));
    scratch_ = take(team.size());
    flow_ = take(flow_workspace(f, team.size()));
    cat_ = take(catalog_workspace(f, c.catalog));
  }

  DLNFLOW_HD_NOINLINE void run(const T* y0, const TrajectoryOut<T>& out) {
    const int stride = sample_stride(f_, c_);
    for (int i = team_.rank(); i < c_.n_times * stride; i += team_.size()) out.samples[i] = (i % stride == kValid) ? T(0) : T(NAN);
    T ev_t[kMaxEvents], g_prev[kMaxEvents];
    for (int e = 0; e < c_.n_events; ++e) ev_t[e] = T(NAN);
    copy(team_, n_, y0, y_);
    team_.sync();
    const StepClock<T> start;
    if (!retract(team_, f_, y_, flow_)) return fail(out, ev_t, start);
    if (!finite_and_bounded(y_)) {
      reason_ = StopReason::InitialNotFinite;
      return finish(out, RunStatus::Diverged, 0, ev_t, start);
    }
    T loss = rhs(y_, f0_, true);
    ++evals_;
    if (failed_) return fail(out, ev_t, start);
    int next = 0;
    while (next < c_.n_times && c_.times[next] <= 0) sample(out, next++, y_);
    for (int e = 0; e < c_.n_events; ++e) g_prev[e] = event_value(c_.events[e], y_, loss);
    if (failed_) return fail(out, ev_t, start);

    const bool adaptive = c_.step.method == Method::DormandPrince54;
    const T Tf = c_.t_final;
    auto rhs_fn = [&](const T* s, T* ds, bool want) {  // the stepper's evaluations count, as on the CPU
      ++evals_;
      return rhs(s, ds, want);
    };
    StepClock<T> k;
    k.h = adaptive ? initial_step(team_, c_.step, n_, y_, f0_, Tf, s_, rhs_fn, scratch_) : T(c_.step.dt);
    RunStatus status = RunStatus::Completed;
    while (k.t < Tf) {
      T hs = 0;
      bool last = false;
      const StepPlan plan = plan_step(c_.step, c_.max_steps, Tf, k, hs, last);
      if (plan != StepPlan::Go) {
        status = plan == StepPlan::Underflow ? RunStatus::StepUnderflow : RunStatus::MaxSteps;
        if (plan == StepPlan::Underflow) reason_ = StopReason::StepCollapsed, reason_value_ = k.h;
        break;
      }
      bool have_f1 = false;
      T loss1 = 0;
      const T err = take_step(team_, c_.step, n_, y_, f0_, hs, y1_, f1_, have_f1, loss1, s_, rhs_fn, scratch_);
      if (failed_) return fail(out, ev_t, k);
      const T t0 = k.t;
      if (!conclude_step(c_.step, Tf, hs, last, err, k)) continue;
      const T t1 = k.t;
      if (f_.param == ParamKind::EndToEnd) {
        if (!retract(team_, f_, y1_, flow_)) return fail(out, ev_t, k);
        have_f1 = false;
      }
      if (!finite_and_bounded(y1_)) {
        reason_ = StopReason::NotFinite;
        return finish(out, RunStatus::Diverged, t1, ev_t, k);
      }
      if (!have_f1) {
        loss1 = rhs(y1_, f1_, true);
        ++evals_;
        if (failed_) return fail(out, ev_t, k);
      }
      bool stop_event = false;
      T t_stop = t1;
      for (int e = 0; e < c_.n_events; ++e) {
        const T g1 = event_value(c_.events[e], y1_, loss1);
        if (ev_t[e] != ev_t[e] && crosses(c_.events[e].crossing, g_prev[e], g1)) {
          ev_t[e] = locate(c_.events[e], t0, hs, g_prev[e], g1);
          if (c_.events[e].terminal && ev_t[e] <= t_stop) {
            stop_event = true;
            t_stop = ev_t[e];
          }
        }
        g_prev[e] = g1;
      }
      if (failed_) return fail(out, ev_t, k);
      // As on the CPU: a terminal event ends the trajectory at its time, state interpolated there.
      while (next < c_.n_times && c_.times[next] <= t_stop) {
        interpolate(team_, c_.step, n_, y_, f0_, y1_, f1_, hs, (c_.times[next] - t0) / hs, s_, ys_);
        if (f_.param == ParamKind::EndToEnd && !retract(team_, f_, ys_, flow_)) return fail(out, ev_t, k);
        sample(out, next++, ys_);
        if (failed_) return fail(out, ev_t, k);
      }
      if (stop_event) {
        interpolate(team_, c_.step, n_, y_, f0_, y1_, f1_, hs, (t_stop - t0) / hs, s_, ys_);
        if (f_.param == ParamKind::EndToEnd && !retract(team_, f_, ys_, flow_)) return fail(out, ev_t, k);
        swap(y_, ys_);
        status = RunStatus::EventStop;
        k.t = t_stop, k.comp = 0;
        break;
      }
      swap(y_, y1_);
      swap(f0_, f1_);
      loss = loss1;
      if (loss < c_.loss_below) {
        status = RunStatus::LossConverged;
        break;
      }
      if (c_.grad_norm_below > 0 && t1 >= c_.grad_min_time) {
        bool ok = true;
        const T g = grad_norm(team_, f_, y_, f0_, flow_, ok);
        if (!ok) return fail(out, ev_t, k);
        if (g < c_.grad_norm_below) {
          status = RunStatus::GradConverged;
          break;
        }
      }
    }
    const T final_loss = rhs(y_, f1_, true);  // f1 is free once the loop is over
    if (failed_) return fail(out, ev_t, k);
    final_loss_ = final_loss;
    finish(out, status, k.t, ev_t, k);
  }

 private:
  DLNFLOW_HD static void swap(T*& a, T*& b) {
    T* t = a;
    a = b, b = t;
  }

  DLNFLOW_HD_NOINLINE T rhs(const T* s, T* ds, bool want_loss) {
    bool ok = true;
    const T L = flow_rhs(team_, f_, s, ds, flow_, ok, want_loss);
    if (!ok) failed_ = true;
    return L;
  }

  DLNFLOW_HD bool finite_and_bounded(const T* y) {
    T bad = 0;
    for (int i = team_.rank(); i < n_; i += team_.size())
      if (!(std::fabs(y[i]) <= c_.blowup_norm)) bad = 1;  // NaN fails the comparison too
    return !(team_max(team_, bad, scratch_) > 0);
  }

  DLNFLOW_HD T event_value(const EventData& e, const T* y, T loss) {
    if (e.kind == 1) return loss - T(e.level);
    if (!spectrum(team_, f_, y, spec_, W_, flow_)) failed_ = true;
    return spec_[e.index] - T(e.level);
  }

  DLNFLOW_HD static bool crosses(int c, T g0, T g1) {
    const bool up = g0 < 0 && g1 >= 0, down = g0 > 0 && g1 <= 0;
    return c == 0 ? up : c == 1 ? down : (up || down);
  }

  // Root of the event function along the step's interpolant, by the Illinois method.
  DLNFLOW_HD_NOINLINE T locate(const EventData& e, T t0, T h, T g0, T g1) {
    T a = 0, b = 1, ga = g0, gb = g1;
    int side = 0;
    for (int it = 0; it < 200 && (b - a) > T(1e-15); ++it) {
      const T cpt = (a * gb - b * ga) / (gb - ga);
      interpolate(team_, c_.step, n_, y_, f0_, y1_, f1_, h, cpt, s_, ys_);
      T loss = 0;
      if (e.kind == 1) loss = rhs(ys_, fs_, true);
      const T gc = event_value(e, ys_, loss);
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

  DLNFLOW_HD_NOINLINE void sample(const TrajectoryOut<T>& out, int slot, const T* y) {
    T* s = out.samples + static_cast<long long>(slot) * sample_stride(f_, c_);
    const T loss = rhs(y, fs_, true);
    ++evals_;
    bool ok = !failed_;
    const T g = ok ? grad_norm(team_, f_, y, fs_, flow_, ok) : T(NAN);
    // A loss that overflowed (a diverging trajectory below blowup_norm): the spectrum is marked
    // NaN with rank -2 (kRankNotFinite of solve.hpp), as on the CPU, not decomposed.
    const bool finite = loss - loss == T(0);
    ok = ok && (!finite || spectrum(team_, f_, y, spec_, W_, flow_));
    if (!ok) {
      failed_ = true;
      return;
    }
    const int ks = spectrum_size(f_);
    int rank = finite ? 0 : -2;
    if (!finite)
      for (int i = team_.rank(); i < ks; i += team_.size()) spec_[i] = T(NAN);
    if (finite && ks > 0 && spec_[0] > 0)
      for (int i = 0; i < ks; ++i) rank += spec_[i] > c_.rank_rtol * spec_[0] ? 1 : 0;
    const T balance = balance_defect(team_, f_, y, flow_);
    T dist = T(NAN), index = T(-1);
    if (finite && c_.catalog.count > 0) {
      end_to_end(team_, f_, y, W_, flow_);
      nearest(W_, dist, index);
      if (failed_) return;
    }
    if (team_.rank() == 0) {
      s[kValid] = 1, s[kLoss] = loss, s[kGradNorm] = g, s[kRank] = rank, s[kBalance] = balance;
      s[kCritDist] = dist, s[kCritIndex] = index;
    }
    for (int i = team_.rank(); i < ks; i += team_.size()) s[kSampleFixed + i] = spec_[i];
    if (c_.keep_states)
      for (int i = team_.rank(); i < n_; i += team_.size()) s[kSampleFixed + ks + i] = y[i];
    team_.sync();
  }

  // Nearest catalogued critical point (catalog.cpp nearest): plain Frobenius distance, or for
  // the BW loss ||W||^2 + ||A||^2 - 2 ||W^T A||_* minimized over the free Stiefel factor.
  DLNFLOW_HD_NOINLINE void nearest(const T* W, T& best, T& arg) {
    const CatalogData<T>& cat = c_.catalog;
    const int d = f_.rows, c = f_.cols, rc = d * c;
    best = T(INFINITY), arg = T(-1);
    const T w2 = squared_norm(team_, rc, W, scratch_);
    for (int i = 0; i < cat.count; ++i) {
      const T* M = cat.matrices + cat.offsets[i];
      T dist;
      if (cat.stiefel_free) {
        const int J = cat.ranks[i];
        const T a2 = squared_norm(team_, d * J, M, scratch_);
        T nuc = 0;
        if (J > 0) {
          const int kk = imin(c, J);
          T* WtA = cat_;
          T* U = WtA + c * d;
          T* s = U + c * d;
          T* V = s + d;
          T* sw = V + d * d;
          gemm(team_, Op::T, Op::N, c, J, d, T(1), W, d, M, d, T(0), WtA, c);
          team_.sync();
          if (!thin_svd(team_, c, J, WtA, U, s, V, sw)) failed_ = true;
          for (int l = 0; l < kk; ++l) nuc += s[l];
        }
        const T q = w2 + a2 - 2 * nuc;
        dist = std::sqrt(q > 0 ? q : T(0));
      } else {
        T part = 0;
        for (int l = team_.rank(); l < rc; l += team_.size()) part += (W[l] - M[l]) * (W[l] - M[l]);
        dist = std::sqrt(team_sum(team_, part, scratch_));
      }
      if (dist < best) best = dist, arg = T(i);
    }
  }

  // A matrix function failed: the trajectory ends at its last accepted time and state.
  DLNFLOW_HD void fail(const TrajectoryOut<T>& out, const T* ev_t, const StepClock<T>& k) {
    reason_ = StopReason::MatrixFunction;
    final_loss_ = T(NAN);
    finish(out, RunStatus::Failed, k.t, ev_t, k);
  }

  DLNFLOW_HD void finish(const TrajectoryOut<T>& out, RunStatus status, T t, const T* ev_t, const StepClock<T>& k) {
    if (status == RunStatus::Diverged) final_loss_ = T(NAN);
    if (team_.rank() == 0) {
      out.header[kStatus] = static_cast<T>(static_cast<int>(status));
      out.header[kTEnd] = t;
      out.header[kSteps] = static_cast<T>(k.steps);
      out.header[kRejected] = static_cast<T>(k.rejected);
      out.header[kRhsEvals] = static_cast<T>(evals_);
      out.header[kFinalLoss] = final_loss_;
      out.header[kReason] = static_cast<T>(static_cast<int>(reason_));
      out.header[kReasonValue] = reason_value_;
      for (int e = 0; e < c_.n_events; ++e) out.event_times[e] = ev_t[e];
    }
    copy(team_, n_, y_, out.final_state);
    team_.sync();
  }

  const Team& team_;
  const FlowData<T>& f_;
  const DriverConfig<T>& c_;
  const int n_;
  T *y_, *f0_, *y1_, *f1_, *ys_ = nullptr, *fs_ = nullptr, *W_, *spec_, *scratch_, *flow_, *cat_;
  Stages<T> s_{};
  long long evals_ = 0;
  bool failed_ = false;
  StopReason reason_ = StopReason::None;
  T reason_value_ = 0, final_loss_ = T(NAN);
};

// Integrates one trajectory from y0 and writes its outcome to `out`.
template <class Team, class T>
DLNFLOW_HD void run_trajectory(const Team& team, const FlowData<T>& f, const DriverConfig<T>& c, const T* y0,
                               const TrajectoryOut<T>& out, T* work) {
  Driver<Team, T> driver(team, f, c, work);
  driver.run(y0, out);
}

}  // namespace dlnflow::device
