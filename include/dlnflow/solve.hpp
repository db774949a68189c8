// How a Problem is integrated: integrator, stop rules, recording grid and events, and the
// results of one trajectory or a batch of them.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "dlnflow/catalog.hpp"
#include "dlnflow/codes.hpp"
#include "dlnflow/init.hpp"
#include "dlnflow/problem.hpp"

namespace dlnflow {

struct IntegratorConfig {
  Method method = Method::DormandPrince54;  // as in the experiment file
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

// Integrates every trajectory of the batch on options.threads threads. Results are in the
// order of `specs` and independent of the thread count. A trajectory that fails is marked
// in its status; the rest of the batch goes on.
// `on_done`, if given, is called once per finished trajectory from the worker thread that ran
// it (so it must be thread-safe): the hook for progress reporting.
using TrajectoryDone = std::function<void(std::size_t index, const TrajectoryResult& result)>;
std::vector<TrajectoryResult> integrate_batch(const Problem& problem,
                                              const std::vector<TrajectorySpec>& specs,
                                              const SolveOptions& options,
                                              const TrajectoryDone& on_done = {});

}  // namespace dlnflow
