// The CPU trajectory driver: step control, recording on the grid by interpolation, event
// location, and stop rules.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "dlnflow/error.hpp"
#include "dlnflow/matfun.hpp"
#include "dlnflow/model.hpp"
#include "dlnflow/solve.hpp"
#include "solve_internal.hpp"
#include "stepper.hpp"

namespace dlnflow {

const char* to_string(Status s) {
  switch (s) {
    case Status::Completed: return "completed";
    case Status::LossConverged: return "loss_converged";
    case Status::GradConverged: return "grad_converged";
    case Status::EventStop: return "event_stop";
    case Status::Diverged: return "diverged";
    case Status::StepUnderflow: return "step_underflow";
    case Status::MaxSteps: return "max_steps";
    case Status::Failed: return "failed";
  }
  return "unknown";
}

std::vector<double> uniform_grid(double t0, double t1, int count) {
  std::vector<double> g(count);
  for (int i = 0; i < count; ++i) g[i] = count == 1 ? t1 : t0 + (t1 - t0) * i / (count - 1);
  if (count > 1) g.back() = t1;
  return g;
}

std::vector<double> log_grid(double t_first, double t_last, int count, bool with_zero) {
  if (!(t_first > 0) || !(t_last >= t_first) || count < 1)
    throw InputError("record.times", "log grid needs 0 < t_first <= t_last and count >= 1");
  std::vector<double> g;
  if (with_zero) g.push_back(0.0);
  const double a = std::log(t_first), b = std::log(t_last);
  for (int i = 0; i < count; ++i) g.push_back(count == 1 ? t_last : std::exp(a + (b - a) * i / (count - 1)));
  if (count > 1) g.back() = t_last;
  return g;
}

void validate_options(const Problem& problem, const SolveOptions& o) {
  const auto& ic = o.integrator;
  auto bad = [](const std::string& f, const std::string& what, double v) {
    std::ostringstream os;
    os << what << ", got " << v;
    throw InputError(f, os.str());
  };
  if (!std::isfinite(o.stop.t_final) || o.stop.t_final < 0) bad("stop.t_final", "must be finite and >= 0", o.stop.t_final);
  if (ic.method != Method::DormandPrince54 && !(ic.dt > 0 && std::isfinite(ic.dt)))
    bad("integrator.dt", "must be finite and > 0", ic.dt);
  if (ic.method == Method::DormandPrince54) {
    if (!(ic.rtol > 0)) bad("integrator.rtol", "must be > 0", ic.rtol);
    if (!(ic.atol >= 0)) bad("integrator.atol", "must be >= 0", ic.atol);
    if (!(ic.dt_max > 0)) bad("integrator.dt_max", "must be > 0", ic.dt_max);
    if (!(ic.dt_min >= 0) || ic.dt_min > ic.dt_max) bad("integrator.dt_min", "must be in [0, dt_max]", ic.dt_min);
  }
  if (!(o.stop.blowup_norm > 0)) bad("stop.blowup_norm", "must be > 0", o.stop.blowup_norm);
  const auto& ts = o.record.times;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    if (!(ts[i] >= 0 && ts[i] <= o.stop.t_final))
      bad("record.times", "entry " + std::to_string(i) + " must lie in [0, t_final]", ts[i]);
    if (i && !(ts[i] > ts[i - 1])) bad("record.times", "must be strictly increasing at entry " + std::to_string(i), ts[i]);
  }
  const Index kmax = std::min(problem.rows(), problem.cols());
  for (std::size_t e = 0; e < o.events.size(); ++e) {
    const auto& ev = o.events[e];
    if (ev.kind == EventKind::SingularValue && (ev.index < 0 || ev.index >= kmax))
      bad("events[" + std::to_string(e) + "].index", "must be in [0, " + std::to_string(kmax) + ")", ev.index);
    if (!std::isfinite(ev.level)) bad("events[" + std::to_string(e) + "].level", "must be finite", ev.level);
  }
}

namespace cpu {
namespace {

bool finite_and_bounded(const Vec& y, double bound) {
  for (Index i = 0; i < y.size(); ++i)
    if (!(std::abs(y(i)) <= bound)) return false;  // false for NaN too
  return true;
}

// Kahan-compensated time, so that 1e9 steps on a 1e7-long plateau do not drift the clock.
struct Clock {
  double t = 0.0, c = 0.0;
  void add(double h) {
    const double y = h - c;
    const double s = t + y;
    c = (s - t) - y;
    t = s;
  }
};

class Driver {
 public:
  Driver(Model& model, const SolveOptions& o)
      : model_(model), o_(o), stepper_(model, o.integrator, model.problem().state_size()) {}

  TrajectoryResult run(Vec y) {
    TrajectoryResult res;
    const auto& times = o_.record.times;
    res.samples.resize(times.size());
    for (std::size_t i = 0; i < times.size(); ++i) res.samples[i].t = times[i];
    res.event_times.assign(o_.events.size(), std::numeric_limits<double>::quiet_NaN());

    if (model_.has_retraction()) model_.retract(y);
    Vec f(y.size()), y1(y.size()), f1(y.size());
    if (!finite_and_bounded(y, o_.stop.blowup_norm)) return finish(res, Status::Diverged, 0.0, y, "initial state not finite");
    double loss = model_.rhs(y, f);
    ++evals_;
    std::size_t next = 0;
    while (next < times.size() && times[next] <= 0.0) sample(res.samples[next++], y);
    std::vector<double> g_prev(o_.events.size());
    for (std::size_t e = 0; e < o_.events.size(); ++e) g_prev[e] = event_value(o_.events[e], y, loss);

    const bool adaptive = o_.integrator.method == Method::DormandPrince54;
    const double T = o_.stop.t_final;
    Clock clock;
    double h = adaptive ? stepper_.initial_step(y, f, T) : o_.integrator.dt;
    Status status = Status::Completed;
    std::string message;

    while (clock.t < T) {
      // One guard for every way the step can collapse: below dt_min (unless only a shorter
      // final step remains), below the clock's resolution, or underflowed (the guard at t = 0).
      if (!(h > 1e-300) || (adaptive && ((h < o_.integrator.dt_min && T - clock.t > o_.integrator.dt_min) ||
                                          h <= 4 * std::numeric_limits<double>::epsilon() * clock.t))) {
        status = Status::StepUnderflow;
        message = "adaptive step fell to " + std::to_string(h);
        break;
      }
      if (res.steps >= o_.integrator.max_steps) {
        status = Status::MaxSteps;
        break;
      }
      const bool last = h >= T - clock.t;
      const double hs = last ? T - clock.t : h;
      bool have_f1 = false;
      double loss1 = 0.0;
      const double err = stepper_.step(y, f, hs, y1, f1, have_f1, loss1);
      if (adaptive && !(err <= 1.0)) {
        ++res.rejected;
        h = hs * std::clamp(0.9 * std::pow(err, -0.2), 0.2, 1.0);
        if (!std::isfinite(err)) h = hs * 0.2;
        continue;
      }
      ++res.steps;
      const double t0 = clock.t;
      if (last) clock = Clock{T, 0.0};
      else clock.add(hs);
      const double t1 = clock.t;
      if (model_.has_retraction()) {
        model_.retract(y1);
        have_f1 = false;
      }
      if (!finite_and_bounded(y1, o_.stop.blowup_norm)) {
        status = Status::Diverged;
        message = "state became non-finite or exceeded blowup_norm";
        res.t_end = t1;
        break;
      }
      if (!have_f1) {
        loss1 = model_.rhs(y1, f1);
        ++evals_;
      }
      bool stop_event = false;
      double t_stop = t1;
      for (std::size_t e = 0; e < o_.events.size(); ++e) {
        const double g1 = event_value(o_.events[e], y1, loss1);
        if (std::isnan(res.event_times[e]) && crosses(o_.events[e].crossing, g_prev[e], g1)) {
          res.event_times[e] = locate(o_.events[e], y, f, y1, f1, t0, hs, g_prev[e], g1);
          if (o_.events[e].terminal && res.event_times[e] <= t_stop) {
            stop_event = true;
            t_stop = res.event_times[e];
          }
        }
        g_prev[e] = g1;
      }
      // A terminal event ends the trajectory at its time: nothing is recorded past it, and the
      // final state is the interpolated state there, so t_end, final_state and final_loss agree.
      while (next < times.size() && times[next] <= t_stop) {
        stepper_.interpolate(y, f, y1, f1, hs, (times[next] - t0) / hs, ys_);
        if (model_.has_retraction()) model_.retract(ys_);  // the interpolant leaves the rank-r manifold
        sample(res.samples[next++], ys_);
      }
      if (stop_event) {
        stepper_.interpolate(y, f, y1, f1, hs, (t_stop - t0) / hs, ys_);
        if (model_.has_retraction()) model_.retract(ys_);
        y = ys_;
        status = Status::EventStop;
        clock = Clock{t_stop, 0.0};
        break;
      }
      y.swap(y1);
      f.swap(f1);
      loss = loss1;
      if (loss < o_.stop.loss_below) {
        status = Status::LossConverged;
        break;
      }
      if (o_.stop.grad_norm_below > 0 && t1 >= o_.stop.grad_min_time &&
          model_.grad_norm(y, f) < o_.stop.grad_norm_below) {
        status = Status::GradConverged;
        break;
      }
      if (adaptive) h = std::min(hs * std::clamp(0.9 * std::pow(std::max(err, 1e-10), -0.2), 0.2, 5.0), o_.integrator.dt_max);
    }
    if (status == Status::Diverged) return finish(res, status, res.t_end, y, message);
    res.t_end = clock.t;
    res.final_loss = model_.state_loss(y);
    return finish(res, status, clock.t, y, message);
  }

 private:
  TrajectoryResult& finish(TrajectoryResult& res, Status s, double t, const Vec& y, const std::string& msg) {
    res.status = s;
    res.t_end = t;
    res.final_state = y;
    res.message = msg;
    res.rhs_evaluations = evals_ + stepper_.rhs_evaluations();
    if (s == Status::Diverged) res.final_loss = std::numeric_limits<double>::quiet_NaN();
    return res;
  }

  void sample(Sample& s, const Vec& y) {
    Vec& f = fs_;
    s.loss = model_.rhs(y, f);
    ++evals_;
    s.grad_norm = model_.grad_norm(y, f);
    s.balance_defect = model_.balance_defect(y);
    s.valid = true;
    if (o_.record.keep_states) s.state = y;
    // A state whose loss overflowed (a diverging trajectory below blowup_norm) has an end-to-end
    // matrix too large for any decomposition: its spectrum is not computed but marked, the same
    // way on every backend, instead of whatever an SVD of infinities returns.
    if (!std::isfinite(s.loss) || !y.allFinite()) {
      const Index k = std::min(model_.problem().rows(), model_.problem().cols());
      s.spectrum = Vec::Constant(k, std::numeric_limits<double>::quiet_NaN());
      s.rank = kRankNotFinite;
      return;
    }
    s.spectrum = model_.spectrum(y);
    s.rank = numerical_rank(s.spectrum, o_.record.rank_rtol);
    if (o_.record.catalog) {
      const auto [d, i] = o_.record.catalog->nearest(model_.end_to_end(y));
      s.critical_distance = d;
      s.critical_index = i;
    }
  }

  double event_value(const EventSpec& e, const Vec& y, double loss) {
    if (e.kind == EventKind::Loss) return loss - e.level;
    return model_.spectrum(y)(e.index) - e.level;
  }

  static bool crosses(Crossing c, double g0, double g1) {
    switch (c) {
      case Crossing::Up: return g0 < 0 && g1 >= 0;
      case Crossing::Down: return g0 > 0 && g1 <= 0;
      case Crossing::Either: return (g0 < 0 && g1 >= 0) || (g0 > 0 && g1 <= 0);
    }
    return false;
  }

  // Root of the event function along the Hermite interpolant, by the Illinois method.
  double locate(const EventSpec& e, const Vec& y0, const Vec& f0, const Vec& y1, const Vec& f1,
                double t0, double h, double g0, double g1) {
    double a = 0.0, b = 1.0, ga = g0, gb = g1;
    int side = 0;
    for (int it = 0; it < 200 && (b - a) > 1e-15; ++it) {
      const double c = (a * gb - b * ga) / (gb - ga);
      stepper_.interpolate(y0, f0, y1, f1, h, c, ys_);
      const double loss = e.kind == EventKind::Loss ? model_.state_loss(ys_) : 0.0;
      const double gc = event_value(e, ys_, loss);
      if (gc == 0.0) return t0 + c * h;
      if ((gc > 0) == (gb > 0)) {
        b = c;
        gb = gc;
        if (side == -1) ga *= 0.5;
        side = -1;
      } else {
        a = c;
        ga = gc;
        if (side == 1) gb *= 0.5;
        side = 1;
      }
    }
    return t0 + 0.5 * (a + b) * h;
  }

  Model& model_;
  const SolveOptions& o_;
  Stepper stepper_;
  Vec ys_, fs_;
  std::int64_t evals_ = 0;
};

}  // namespace

TrajectoryResult run_trajectory(Model& model, const Vec& y0, const SolveOptions& options) {
  Driver driver(model, options);
  try {
    return driver.run(y0);
  } catch (const std::domain_error& e) {  // e.g. an eigensolver that did not converge
    // Reported at the start, with no loss: the driver's partial state is not kept (the GPU
    // backend keeps its last good state instead; docs/gpu.md).
    TrajectoryResult res;
    res.status = Status::Failed;
    res.message = e.what();
    res.final_state = y0;
    res.final_loss = std::numeric_limits<double>::quiet_NaN();
    res.samples.resize(options.record.times.size());
    for (std::size_t i = 0; i < res.samples.size(); ++i) res.samples[i].t = options.record.times[i];
    res.event_times.assign(options.events.size(), std::numeric_limits<double>::quiet_NaN());
    return res;
  }
}

}  // namespace cpu

TrajectoryResult integrate(const Problem& problem, const Vec& initial_state, const SolveOptions& options) {
  validate_options(problem, options);
  if (initial_state.size() != problem.state_size())
    throw InputError("initial_state", "has " + std::to_string(initial_state.size()) +
                                          " entries, the problem's state has " +
                                          std::to_string(problem.state_size()));
  Model model(problem);
  return cpu::run_trajectory(model, initial_state, options);
}

}  // namespace dlnflow
