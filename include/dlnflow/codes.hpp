// The codes every part of dlnflow shares — the library, the trajectory driver on every backend,
// the device code, the result files: statuses, methods, event kinds, and the layout of one
// trajectory's output block. Plain C++ (no Eigen, no CUDA), so that the device code includes it
// as it is; its constexpr functions run on the device too.
#pragma once

namespace dlnflow {

// How a trajectory ended. The integer values are what trajectories.h5 stores.
enum class Status : int {
  Completed,      // reached t_final
  LossConverged,  // the loss fell below StopRules::loss_below
  GradConverged,  // the gradient norm fell below StopRules::grad_norm_below
  EventStop,      // a terminal event fired
  Diverged,       // the state turned non-finite or exceeded blowup_norm
  StepUnderflow,  // the adaptive step fell below dt_min (or the clock's resolution)
  MaxSteps,       // max_steps steps were not enough
  Failed,         // a numerical kernel failed (the message says which)
};
constexpr int kStatusCount = 8;
// Whether the trajectory followed the flow to where it was asked to stop (a time, a level,
// an event), as opposed to diverging, stalling or failing.
constexpr bool is_successful(Status s) {
  return s == Status::Completed || s == Status::LossConverged || s == Status::GradConverged || s == Status::EventStop;
}
const char* to_string(Status status);   // "completed", "loss_converged", ... (the files' names)
const char* describe(Status status);    // a sentence for people

// Why a trajectory stopped early, beyond its status: what its message says.
enum class StopReason : int { None, InitialNotFinite, NotFinite, StepCollapsed, MatrixFunction };
const char* to_string(StopReason reason);  // "none", "initial_not_finite", ...

enum class Method : int {
  Euler,            // explicit Euler: gradient descent with eta = dt
  RK4,              // classical Runge-Kutta, fixed step
  DormandPrince54,  // adaptive Dormand-Prince 5(4) with its dense output
  Rodas5P,          // adaptive L-stable Rosenbrock method of order 5 (Steinebach 2023), implicit
  Auto,             // the default: dopri5, switching to rodas5p where the flow is stiff and back (docs/numerics.md)
};
// "euler", "rk4", "dopri5", "rodas5p", "auto" (the experiment file's names)
const char* to_string(Method method);
constexpr bool is_adaptive(Method m) { return m == Method::DormandPrince54 || m == Method::Rodas5P || m == Method::Auto; }
// Whether the method may take implicit steps (needs the flow's Jacobian-vector products).
constexpr bool is_implicit(Method m) { return m == Method::Rodas5P || m == Method::Auto; }

enum class EventKind : int {
  SingularValue,     // sigma_index(W), 1 = the largest (eigenvalue of W for W = U U^T)
  Loss,
  GradNorm,          // sqrt(-dL/dt), the parameter-space gradient norm (as recorded)
  CriticalDistance,  // distance of W to the nearest catalogued critical point (record.critical_points):
                     // crossing down = arriving at one, up = leaving it
  Linear,            // <C, W> = sum_ij C_ij W_ij for the event's matrix C (EventSpec::matrix)
  Distance,          // ||W - M||_F to the event's matrix M
};
// "singular_value", "loss", "grad_norm", "critical_distance", "linear", "distance"
const char* to_string(EventKind kind);

enum class Crossing : int { Up, Down, Either };
const char* to_string(Crossing crossing);  // "up", "down", "either"

// Sample::rank of a state whose loss is not finite (its spectrum is NaN): a diverging
// trajectory's end-to-end matrix is beyond any decomposition.
constexpr int kRankNotFinite = -2;

// One trajectory's output block as every backend writes it: a header, the final state, the
// event times, then one sample per record time. All entries are doubles (integers stored exactly).
struct OutputLayout {
  enum Header : int {
    kStatus, kTEnd, kSteps, kRejected, kRhsEvals, kFinalLoss, kReason, kReasonValue,
    kFinalRank, kFinalCritical, kFinalCriticalDistance,
    // The implicit method's share (method auto or rodas5p; 0 for explicit methods): switches
    // between dopri5 and rodas5p, accepted implicit steps and the time they covered,
    // Jacobian-vector products and Krylov iterations of the linear solves.
    kSwitches, kImplicitSteps, kImplicitTime, kJvpEvals, kLinearIters, kHeaderSize
  };
  enum Sample : int { kValid, kLoss, kGradNorm, kRank, kBalance, kCritDist, kCritIndex, kSampleFixed };

  int state = 0, events = 0, times = 0, spectrum = 0;
  bool keep_states = false;

  constexpr int sample_stride() const { return kSampleFixed + spectrum + (keep_states ? state : 0); }
  constexpr int final_state() const { return kHeaderSize; }
  constexpr int event_times() const { return kHeaderSize + state; }
  constexpr int samples() const { return kHeaderSize + state + events; }
  constexpr int stride() const { return samples() + times * sample_stride(); }
};

}  // namespace dlnflow
