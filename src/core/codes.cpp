#include "dlnflow/codes.hpp"

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

const char* describe(Status s) {
  switch (s) {
    case Status::Completed: return "reached t_final";
    case Status::LossConverged: return "the loss fell below stop.loss_below";
    case Status::GradConverged: return "the gradient norm fell below stop.grad_norm_below";
    case Status::EventStop: return "a terminal event fired";
    case Status::Diverged: return "the state became non-finite or exceeded stop.blowup_norm";
    case Status::StepUnderflow: return "the adaptive step fell below dt_min or the clock's resolution";
    case Status::MaxSteps: return "integrator.max_steps steps were not enough to reach t_final";
    case Status::Failed: return "a matrix function failed (an eigensolver or SVD did not converge)";
  }
  return "unknown status";
}

const char* to_string(StopReason r) {
  switch (r) {
    case StopReason::None: return "none";
    case StopReason::InitialNotFinite: return "initial_not_finite";
    case StopReason::NotFinite: return "not_finite";
    case StopReason::StepCollapsed: return "step_collapsed";
    case StopReason::MatrixFunction: return "matrix_function";
  }
  return "unknown";
}

const char* to_string(Method m) {
  switch (m) {
    case Method::Euler: return "euler";
    case Method::RK4: return "rk4";
    case Method::DormandPrince54: return "dopri5";
    case Method::Rodas5P: return "rodas5p";
    case Method::Auto: return "auto";
  }
  return "unknown";
}

const char* to_string(EventKind k) {
  switch (k) {
    case EventKind::Loss: return "loss";
    case EventKind::GradNorm: return "grad_norm";
    case EventKind::CriticalDistance: return "critical_distance";
    case EventKind::Linear: return "linear";
    case EventKind::Distance: return "distance";
    case EventKind::SingularValue: break;
  }
  return "singular_value";
}

const char* to_string(Crossing c) { return c == Crossing::Up ? "up" : c == Crossing::Down ? "down" : "either"; }

}  // namespace dlnflow
