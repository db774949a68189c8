#include "driver_io.hpp"

#include <cmath>
#include <limits>

namespace dlnflow::core {

namespace {

std::string stop_message(const double* header) {
  switch (static_cast<StopReason>(static_cast<int>(header[OutputLayout::kReason]))) {
    case StopReason::None: return "";
    case StopReason::InitialNotFinite: return "initial state not finite";
    case StopReason::NotFinite: return "state became non-finite or exceeded blowup_norm";
    case StopReason::StepCollapsed: return "adaptive step fell to " + std::to_string(header[OutputLayout::kReasonValue]);
    case StopReason::MatrixFunction:
      return "a matrix function failed (an eigensolver or SVD did not converge, or a matrix that must be positive "
             "definite was not)";
  }
  return "";
}

}  // namespace

DriverOptions::DriverOptions(const SolveOptions& o) {
  integrator::DriverConfig<double>& c = config;
  const auto& ic = o.integrator;
  c.step.method = ic.method;
  c.step.dt = ic.dt, c.step.rtol = ic.rtol, c.step.atol = ic.atol;
  c.step.dt_initial = ic.dt_initial, c.step.dt_min = ic.dt_min;
  c.step.dt_max = ic.dt_max;
  c.max_steps = ic.max_steps;
  c.t_final = o.stop.t_final, c.loss_below = o.stop.loss_below, c.grad_norm_below = o.stop.grad_norm_below;
  c.grad_min_time = o.stop.grad_min_time, c.blowup_norm = o.stop.blowup_norm;
  c.rank_rtol = o.record.rank_rtol;
  c.keep_states = o.record.keep_states;
  c.n_times = static_cast<int>(o.record.times.size());
  c.times = o.record.times.empty() ? nullptr : o.record.times.data();
  int slot = 0;  // of the linear and distance events' matrices, in event order
  for (const EventSpec& s : o.events) {  // the driver counts singular values from 0
    const bool matrix = s.kind == EventKind::Linear || s.kind == EventKind::Distance;
    events.push_back({s.kind, s.kind == EventKind::SingularValue ? s.index - 1 : matrix ? slot++ : 0, s.level,
                      s.crossing, s.terminal});
  }
  c.n_events = static_cast<int>(events.size());
  for (const EventSpec& s : o.events) c.n_spectrum_events += s.kind == EventKind::SingularValue ? 1 : 0;
  c.events = events.data();
}

TrajectoryResult unpack_result(const OutputLayout& L, const SolveOptions& o, const double* block) {
  const double* header = block;
  const double* state = block + L.final_state();
  const double* events = block + L.event_times();
  const double* samples = block + L.samples();
  const int stride = L.sample_stride(), ks = L.spectrum;
  TrajectoryResult r;
  r.status = static_cast<Status>(static_cast<int>(header[OutputLayout::kStatus]));
  r.t_end = header[OutputLayout::kTEnd];
  r.steps = static_cast<std::int64_t>(header[OutputLayout::kSteps]);
  r.rejected = static_cast<std::int64_t>(header[OutputLayout::kRejected]);
  r.rhs_evaluations = static_cast<std::int64_t>(header[OutputLayout::kRhsEvals]);
  r.switches = static_cast<std::int64_t>(header[OutputLayout::kSwitches]);
  r.implicit_steps = static_cast<std::int64_t>(header[OutputLayout::kImplicitSteps]);
  r.implicit_time = header[OutputLayout::kImplicitTime];
  r.jvp_evaluations = static_cast<std::int64_t>(header[OutputLayout::kJvpEvals]);
  r.linear_iterations = static_cast<std::int64_t>(header[OutputLayout::kLinearIters]);
  r.final_loss = header[OutputLayout::kFinalLoss];
  r.final_rank = static_cast<int>(header[OutputLayout::kFinalRank]);
  r.final_critical = static_cast<int>(header[OutputLayout::kFinalCritical]);
  r.final_critical_distance = header[OutputLayout::kFinalCriticalDistance];
  r.message = stop_message(header);
  r.final_state = Eigen::Map<const Vec>(state, L.state);
  r.event_times.assign(events, events + L.events);
  r.samples.resize(o.record.times.size());
  for (std::size_t i = 0; i < r.samples.size(); ++i) {
    const double* s = samples + i * stride;
    Sample& out = r.samples[i];
    out.t = o.record.times[i];
    out.valid = s[OutputLayout::kValid] != 0.0;
    if (!out.valid) continue;  // the trajectory ended before this time
    out.loss = s[OutputLayout::kLoss];
    out.grad_norm = s[OutputLayout::kGradNorm];
    out.rank = static_cast<int>(s[OutputLayout::kRank]);
    out.balance_defect = s[OutputLayout::kBalance];
    out.critical_distance = s[OutputLayout::kCritDist];
    out.critical_index = static_cast<int>(s[OutputLayout::kCritIndex]);
    out.spectrum = Eigen::Map<const Vec>(s + OutputLayout::kSampleFixed, ks);
    if (o.record.keep_states) out.state = Eigen::Map<const Vec>(s + OutputLayout::kSampleFixed + ks, L.state);
  }
  return r;
}

}  // namespace dlnflow::core
