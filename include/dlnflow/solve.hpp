// How a Problem is integrated: integrator, stop rules, recording grid and events; solve() for a
// batch on the CPU or the GPU, integrate() for one trajectory from an explicit state.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "dlnflow/catalog.hpp"
#include "dlnflow/codes.hpp"
#include "dlnflow/gpu.hpp"
#include "dlnflow/init.hpp"
#include "dlnflow/problem.hpp"

namespace dlnflow {

struct IntegratorConfig {
  Method method = Method::Auto;  // as in the experiment file
  double dt = 1e-3;          // fixed step (Euler = gradient descent with eta = dt, RK4)
  // Adaptive pair only:
  double rtol = 1e-8;
  double atol = 1e-12;
  double dt_initial = 0.0;   // 0: chosen automatically
  double dt_min = 0.0;       // a step below this marks the trajectory failed
  double dt_max = std::numeric_limits<double>::infinity();
  std::int64_t max_steps = 100000000;
};

struct StopRules {
  double t_final = 1.0;
  double loss_below = -std::numeric_limits<double>::infinity();  // stop when L < this
  double grad_norm_below = 0.0;      // stop when ||grad|| < this and t >= grad_min_time
  double grad_min_time = 0.0;
  double blowup_norm = 1e150;        // max |state entry| above this marks divergence
};

struct EventSpec {
  EventKind kind = EventKind::Loss;
  int index = 1;            // singular value: 1 = the largest (as in the experiment file)
  double level = 0.0;
  Crossing crossing = Crossing::Either;
  bool terminal = false;    // stop the trajectory at the first crossing
  Mat matrix;               // linear: C of <C, W>; distance: M of ||W - M||_F (rows x cols of W)
};

struct RecordConfig {
  std::vector<double> times;             // recording grid, increasing, within [0, t_final]
  double rank_rtol = 1e-8;               // numerical rank threshold relative to sigma_max
  const CriticalPointCatalog* catalog = nullptr;  // record the distance to it if given
  bool keep_states = false;              // store the state vector in every sample
};
std::vector<double> uniform_grid(double t0, double t1, int count);
// count points log-spaced on [t_first, t_last], preceded by t = 0 when with_zero.
std::vector<double> log_grid(double t_first, double t_last, int count, bool with_zero = true);

struct SolveOptions {
  IntegratorConfig integrator;
  StopRules stop;
  RecordConfig record;
  std::vector<EventSpec> events;
  int threads = 0;  // batch only; 0 = all hardware threads
};

// Diagnostics of one recorded time (NaN where the trajectory ended before it).
struct Sample {
  double t = 0.0;
  double loss = 0.0;
  double grad_norm = 0.0;        // parameter-space gradient norm, sqrt(-dL/dt)
  Vec spectrum;                  // singular values of W (eigenvalues for W = U U^T), decreasing
  int rank = 0;                  // kRankNotFinite where the loss is not finite
  double balance_defect = 0.0;   // sum_j ||W_j W_j^T - W_{j+1}^T W_{j+1}||_F (deep only)
  double critical_distance = std::numeric_limits<double>::quiet_NaN();
  int critical_index = -1;
  Vec state;                     // only with RecordConfig::keep_states
  bool valid = false;
};

struct TrajectoryResult {
  Status status = Status::Completed;
  double t_end = 0.0;                 // time reached (time of divergence for Diverged)
  std::int64_t steps = 0, rejected = 0, rhs_evaluations = 0;
  // The implicit method's share (methods auto and rodas5p; 0 otherwise): switches between
  // dopri5 and rodas5p, accepted implicit steps and the time they covered, Jacobian-vector
  // products and Krylov iterations.
  std::int64_t switches = 0, implicit_steps = 0;
  double implicit_time = 0.0;
  std::int64_t jvp_evaluations = 0, linear_iterations = 0;
  std::vector<Sample> samples;        // one per RecordConfig::times entry
  std::vector<double> event_times;    // first crossing per EventSpec, NaN if none
  Vec final_state;
  double final_loss = 0.0;
  int final_rank = -1;                // of the final state; -1 when it or its loss is not finite
  int final_critical = -1;            // nearest catalogued critical point, -1 without a catalog
  double final_critical_distance = std::numeric_limits<double>::quiet_NaN();
  std::string message;                // why it stopped, for Diverged / StepUnderflow / Failed
};

// Integrates one trajectory from an explicit state vector.
TrajectoryResult integrate(const Problem& problem, const Vec& initial_state,
                           const SolveOptions& options);

// One member of a batch: its initial condition and the key of its random stream.
struct TrajectorySpec {
  InitSpec init;
  std::uint64_t seed = 0;
  std::uint64_t trajectory = 0;
};

// Called once per finished trajectory, for progress reporting: from the worker thread that ran it
// on the CPU (so it must be thread-safe), from the calling thread after the batch on the GPU.
using TrajectoryDone = std::function<void(std::size_t index, const TrajectoryResult& result)>;

// Where a batch runs. Auto: the GPU when this build has a CUDA backend, a device is usable and
// the backend covers the problem (gpu_supports), else the CPU.
enum class Backend { Auto, Cpu, Gpu };
const char* to_string(Backend backend);  // "auto", "cpu", "gpu" (the command's --backend)

struct BatchSolution {
  std::vector<TrajectoryResult> trajectories;  // in the order of the batch
  Backend backend = Backend::Cpu;              // the one that ran: Cpu or Gpu
  std::string reason;                          // why that one (what Auto found, or "requested")
  GpuRunInfo gpu;                              // what ran on the GPU (empty on the CPU)
};

// Integrates every trajectory of the batch. Results are in the order of `batch` and do not
// depend on the thread count or the launch shape; a trajectory that fails (diverges, stalls, a
// matrix function fails) is marked in its status, with its final rank and nearest critical point
// computed on the backend that ran, and the rest of the batch goes on.
// Throws InputError for invalid options or initial conditions (validate() first to check without
// running), GpuError for Backend::Gpu without a usable device or for a problem it does not cover.
// The CPU runs options.threads threads (0: all hardware threads).
BatchSolution solve(const Problem& problem, const std::vector<TrajectorySpec>& batch, const SolveOptions& options,
                    Backend backend = Backend::Auto, const GpuOptions& gpu = {}, const TrajectoryDone& on_done = {});

// Checks options against the problem as solve() does before running anything: throws InputError
// naming the field as the experiment file spells it (integrator.dt_min, events[2].index, ...).
void validate(const Problem& problem, const SolveOptions& options);

// dy/dt of the flow at a state (the CPU backend's evaluation): minus the parameter gradient for
// the factorizations, -A_W(grad L1(W)) for the end-to-end flow (docs/theory.md).
// Throws std::domain_error where an eigensolver or SVD of the loss fails (a state that overflows).
Vec flow_velocity(const Problem& problem, const Vec& state);

}  // namespace dlnflow
