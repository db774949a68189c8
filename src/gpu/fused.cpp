// Host side of the fused path: checks that the problem is one the kernels cover, prepares the
// centred square loss (W* and L*, shared with the CPU backend), and flattens the batch.
#include "../../kernels/fused_deep_square.hpp"
#include "dlnflow/gpu.hpp"

namespace dlnflow {

FusedRunResult fused_deep_square_rk4(const Problem& problem, const std::vector<Vec>& initial_states, double dt,
                                     std::int64_t steps) {
  const auto* deep = std::get_if<DeepFactorization>(&problem.parametrization());
  const auto* square = std::get_if<SquareLoss>(&problem.loss());
  if (!deep || !square) throw GpuError("the fused path supports the deep factorization with a square loss so far");
  const auto optimum = square_optimum(*square);  // the centred form, as the CPU evaluates it
  if (!optimum) throw GpuError("the fused square loss needs Cxx positive definite");

  const Index n = problem.state_size();
  const std::size_t B = initial_states.size();
  std::vector<double> y0(B * n), y(B * n);
  for (std::size_t b = 0; b < B; ++b) {
    if (initial_states[b].size() != n) throw GpuError("initial state " + std::to_string(b) + " has the wrong size");
    std::copy(initial_states[b].data(), initial_states[b].data() + n, y0.data() + b * n);
  }
  FusedRunResult result;
  result.final_loss.resize(B);
  kernels::FusedDeepSquareArgs args;
  args.depth = static_cast<int>(deep->widths.size()) - 1;
  args.widths = deep->widths.data();
  args.state_size = static_cast<int>(n);
  args.rows = static_cast<int>(problem.rows()), args.cols = static_cast<int>(problem.cols());
  args.cxx = square->Cxx.data(), args.w_opt = optimum->w_opt.data(), args.l_opt = optimum->l_opt;
  args.batch = static_cast<int>(B), args.y0 = y0.data(), args.dt = dt, args.steps = steps;
  args.y_out = y.data(), args.loss_out = result.final_loss.data();
  result.kernel_ms = kernels::launch_fused_deep_square_rk4(args);
  for (std::size_t b = 0; b < B; ++b) result.final_states.push_back(Eigen::Map<const Vec>(y.data() + b * n, n));
  return result;
}

}  // namespace dlnflow
