#include "pack.hpp"

#include <cmath>
#include <limits>

#include "../core/bw_target.hpp"
#include "../core/driver_io.hpp"
#include "../core/sketch.hpp"
#include "../core/overloaded.hpp"
#include "dlnflow/gpu_error.hpp"

namespace dlnflow::gpu {
namespace {

long long append(std::vector<double>& v, const Mat& M) {
  const long long at = static_cast<long long>(v.size());
  v.insert(v.end(), M.data(), M.data() + M.size());
  return at;
}

// The parametrization's shape into the flow data.
void pack_parametrization(const Problem& problem, device::FlowData<double>& f) {
  std::visit(Overloaded{[&](const DeepFactorization& p) {
                          const int N = static_cast<int>(p.widths.size()) - 1;
                          if (N > device::kMaxDepth)
                            throw GpuError("the GPU backend supports depth <= " + std::to_string(device::kMaxDepth) +
                                           ", got " + std::to_string(N));
                          f.param = device::ParamKind::Deep;
                          f.depth = N;
                          for (int j = 0; j <= N; ++j) f.widths[j] = p.widths[j];
                        },
                        [&](const SymmetricFactorization& p) {
                          f.param = device::ParamKind::Symmetric;
                          f.depth = 2;
                          f.sym_k = p.k;
                        },
                        [&](const EndToEndFlow& p) {
                          f.param = device::ParamKind::EndToEnd;
                          f.depth = p.depth;
                          f.rank_cap = p.rank_cap;
                        }},
             problem.parametrization());
}

// The loss's data: constants into run.values, index lists into run.ints, offsets into run.
void pack_loss(const Problem& problem, kernels::PackedRun& run) {
  auto& f = run.flow;
  auto& v = run.values;
  std::visit(Overloaded{[&](const SquareLoss& l) {
                          f.loss = device::LossKind::Square;
                          run.cxx = append(v, l.Cxx), run.cyx = append(v, l.Cyx);
                          f.yy = l.yy;
                          if (const auto opt = square_optimum(l)) {  // the centred form the CPU evaluates
                            run.w_opt = append(v, opt->w_opt);
                            f.l_opt = opt->l_opt;
                          }
                        },
                        [&](const BuresWassersteinLoss&) {
                          const BwTarget& t = *problem.bw();
                          f.loss = device::LossKind::BuresWasserstein;
                          run.sigma0 = append(v, t.sigma0), run.sqrt_sigma0 = append(v, t.sqrt_sigma0);
                          f.trace0 = t.trace, f.tau = t.tau;
                        },
                        [&](const SensingLoss& l) {
                          f.loss = device::LossKind::Sensing;
                          f.measurements = static_cast<int>(l.A.size());
                          run.sense_a = static_cast<long long>(v.size());
                          for (const Mat& A : l.A) append(v, A);
                          run.sense_y = append(v, l.y);
                        },
                        [&](const CompletionLoss& l) {
                          f.loss = device::LossKind::Completion;
                          f.observed = static_cast<int>(l.omega.size());
                          run.omega = static_cast<long long>(run.ints.size());
                          run.omega_target = static_cast<long long>(v.size());
                          for (const auto& [i, j] : l.omega) {
                            run.ints.push_back(i), run.ints.push_back(j);
                            v.push_back(l.target(i, j));
                          }
                        }},
             problem.loss());
}

// The catalogue's matrices (or the Stiefel factors its distance needs) and their ranks, then the
// linear and distance events' matrices, in event order (column-major, as W).
void pack_matrices(const CriticalPointCatalog* catalog, const std::vector<EventSpec>& events, kernels::PackedRun& run) {
  auto& v = run.values;
  auto& cd = run.catalog;
  cd.count = catalog ? static_cast<int>(catalog->points().size()) : 0;
  cd.stiefel_free = catalog && catalog->stiefel_free();
  std::vector<const Mat*> mats;
  for (int i = 0; i < cd.count; ++i)
    mats.push_back(cd.stiefel_free ? &catalog->stiefel_factors()[i] : &catalog->points()[i].W);
  for (const EventSpec& e : events)
    if (e.kind == EventKind::Linear || e.kind == EventKind::Distance) mats.push_back(&e.matrix), ++cd.events;
  if (mats.empty()) return;
  run.cat_matrices = static_cast<long long>(v.size());
  run.cat_offsets = static_cast<long long>(run.ints.size());
  std::vector<int> offsets{0}, ranks;
  for (std::size_t i = 0; i < mats.size(); ++i) {
    append(v, *mats[i]);
    offsets.push_back(offsets.back() + static_cast<int>(mats[i]->size()));
    if (static_cast<int>(i) < cd.count) ranks.push_back(static_cast<int>(mats[i]->cols()));
  }
  run.ints.insert(run.ints.end(), offsets.begin(), offsets.end());
  run.cat_ranks = static_cast<long long>(run.ints.size());
  run.ints.insert(run.ints.end(), ranks.begin(), ranks.end());
}

}  // namespace

kernels::PackedRun pack_run(const Problem& problem, const SolveOptions& o) {
  kernels::PackedRun run;
  auto& f = run.flow;
  f.rows = static_cast<int>(problem.rows()), f.cols = static_cast<int>(problem.cols());
  f.rank_bound = problem.rank_bound();
  f.state = static_cast<int>(problem.state_size());
  pack_parametrization(problem, f);
  pack_loss(problem, run);
  const core::DriverOptions driver(o);
  run.config = driver.config;
  run.events = driver.events;
  if (run.config.n_times) {
    run.times = static_cast<long long>(run.values.size());
    run.values.insert(run.values.end(), o.record.times.begin(), o.record.times.end());
  }
  pack_matrices(o.record.catalog, o.events, run);
  // The implicit methods: the linearization's workspace, and the range finder's start for the
  // frozen Jacobian, the CPU's matrix (src/core/sketch.hpp).
  f.linearize = is_implicit(o.integrator.method) && f.param != device::ParamKind::EndToEnd;
  if (f.linearize &&
      integrator::frozen_shape(f.state, f.rows, f.cols) == integrator::FrozenShape::Sketched) {
    f.sketch_cols = integrator::frozen_columns(f.state, f.rows, f.cols);
    run.sketch = append(run.values, frozen_jacobian_sketch(f.state, f.sketch_cols));
  }
  return run;
}

std::string batched_unsupported(const kernels::PackedRun& run) {
  const auto& f = run.flow;
  const auto& c = run.config;
  if (f.param != device::ParamKind::Deep) return "it covers the deep factorization only";
  if (is_implicit(c.step.method)) return "it has no implicit method (rodas5p, auto): the fused path has";
  const auto& cat = run.catalog;
  if (f.loss == device::LossKind::BuresWasserstein && !(f.tau > 0))
    return "it covers the smooth BW loss (tau > 0) only; the plain one needs SVDs";
  if (f.loss != device::LossKind::Square && f.loss != device::LossKind::BuresWasserstein)
    return "it covers the square and smooth BW losses only";
  if (c.n_times > 0 || c.n_events > 0 || cat.count > 0) return "it records no grid, events or catalogue";
  if (std::isfinite(c.loss_below) || c.grad_norm_below > 0) return "it has no loss or gradient-norm stop";
  if (c.step.method != Method::DormandPrince54 &&
      static_cast<double>(fixed_steps(c.step.dt, c.t_final).size()) > static_cast<double>(c.max_steps))
    return "the run needs more than max_steps steps";
  return "";
}

std::vector<double> fixed_steps(double dt, double t_final) {
  std::vector<double> steps;
  double t = 0, c = 0;
  while (t < t_final) {
    const bool last = dt >= t_final - t;
    const double h = last ? t_final - t : dt;
    steps.push_back(h);
    if (last) break;
    const double y = h - c, s = t + y;
    c = (s - t) - y;
    t = s;
  }
  return steps;
}

}  // namespace dlnflow::gpu
