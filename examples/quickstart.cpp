// Quickstart: incremental (saddle-to-saddle) learning of a rank-3 target by a depth-3 linear
// network from small initialization, swept over the initialization scale alpha and seeds.
// Prints, per trajectory, when each singular value of W(t) passes half its target value:
// the escape times, which the theory predicts grow like alpha^{-(1-2/N)} (polynomially).
#include <cmath>
#include <cstdio>

#include "dlnflow/dlnflow.hpp"

int main() {
  using namespace dlnflow;
  const int d = 6, N = 3;
  Mat target = Mat::Zero(d, d);
  const double mu[3] = {3.0, 2.0, 1.0};
  for (int i = 0; i < 3; ++i) target(i, i) = mu[i];
  const Problem problem(matrix_approximation_loss(target), DeepFactorization{{d, d, d, d}});

  SolveOptions opt;
  opt.integrator.method = Method::DormandPrince54;
  opt.integrator.rtol = 1e-9;
  opt.integrator.atol = 1e-30;  // the start is tiny: relative control only
  opt.stop.t_final = 2000.0;
  opt.stop.loss_below = 1e-20;
  opt.record.times = log_grid(1e-2, opt.stop.t_final, 40);
  for (int i = 0; i < 3; ++i)
    opt.events.push_back({EventKind::SingularValue, i + 1, mu[i] / 2, Crossing::Up, false});

  std::vector<TrajectorySpec> specs;
  const double alphas[] = {1e-2, 1e-4, 1e-6};
  const int seeds = 4;
  for (double a : alphas)
    for (int s = 0; s < seeds; ++s)
      specs.push_back({GaussianInit{a, ScaleOn::EndToEnd}, 2026, specs.size()});

  const BatchSolution solution = solve(problem, specs, opt);  // on the GPU where one is usable
  const auto& results = solution.trajectories;
  std::printf("dlnflow quickstart: depth-%d network, %dx%d rank-3 target, %zu trajectories on the %s (%s)\n", N, d,
              d, results.size(), to_string(solution.backend), solution.reason.c_str());
  std::printf("%8s %5s %-15s %10s %12s %10s %10s %10s %8s\n", "alpha", "seed", "status", "t_end",
              "final_loss", "t_esc1", "t_esc2", "t_esc3", "steps");
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    std::printf("%8.0e %5zu %-15s %10.4g %12.3e %10.4f %10.4f %10.4f %8lld\n",
                std::get<GaussianInit>(specs[i].init).alpha, i % seeds, to_string(r.status), r.t_end,
                r.final_loss, r.event_times[0], r.event_times[1], r.event_times[2],
                static_cast<long long>(r.steps));
  }
  return 0;
}
