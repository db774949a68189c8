#include "pack.hpp"

#include <cmath>
#include <limits>

#include "dlnflow/gpu_error.hpp"

namespace dlnflow::gpu {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;  // C++20 deduces it; clang before 17 needs it spelled out

long long append(std::vector<double>& v, const Mat& M) {
  const long long at = static_cast<long long>(v.size());
  v.insert(v.end(), M.data(), M.data() + M.size());
  return at;
}

std::string stop_message(const double* header) {
  switch (static_cast<device::StopReason>(static_cast<int>(header[device::kReason]))) {
    case device::StopReason::None: return "";
    case device::StopReason::InitialNotFinite: return "initial state not finite";
    case device::StopReason::NotFinite: return "state became non-finite or exceeded blowup_norm";
    case device::StopReason::StepCollapsed: return "adaptive step fell to " + std::to_string(header[device::kReasonValue]);
    case device::StopReason::MatrixFunction:
      return "a matrix function failed on the GPU (eigensolver or SVD did not converge, or a matrix that must be "
             "positive definite was not)";
  }
  return "";
}

}  // namespace

kernels::PackedRun pack_run(const Problem& problem, const SolveOptions& o) {
  kernels::PackedRun run;
  auto& f = run.flow;
  auto& v = run.values;
  f.rows = static_cast<int>(problem.rows()), f.cols = static_cast<int>(problem.cols());
  f.rank_bound = problem.rank_bound();
  f.state = static_cast<int>(problem.state_size());
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

  auto& c = run.config;
  const auto& ic = o.integrator;
  c.step.method = ic.method == Method::Euler ? device::Method::Euler
                  : ic.method == Method::RK4 ? device::Method::RK4
                                             : device::Method::DormandPrince54;
  c.step.dt = ic.dt, c.step.rtol = ic.rtol, c.step.atol = ic.atol;
  c.step.dt_initial = ic.dt_initial, c.step.dt_min = ic.dt_min;
  c.step.dt_max = std::isfinite(ic.dt_max) ? ic.dt_max : std::numeric_limits<double>::max();
  c.max_steps = ic.max_steps;
  c.t_final = o.stop.t_final, c.loss_below = o.stop.loss_below, c.grad_norm_below = o.stop.grad_norm_below;
  c.grad_min_time = o.stop.grad_min_time, c.blowup_norm = o.stop.blowup_norm;
  c.rank_rtol = o.record.rank_rtol;
  c.keep_states = o.record.keep_states;
  c.n_times = static_cast<int>(o.record.times.size());
  if (c.n_times) {
    run.times = static_cast<long long>(v.size());
    v.insert(v.end(), o.record.times.begin(), o.record.times.end());
  }
  if (o.events.size() > static_cast<std::size_t>(device::kMaxEvents))
    throw GpuError("the GPU backend supports at most " + std::to_string(device::kMaxEvents) + " events, got " +
                   std::to_string(o.events.size()));
  c.n_events = static_cast<int>(o.events.size());
  for (std::size_t e = 0; e < o.events.size(); ++e) {
    const EventSpec& s = o.events[e];
    auto& d = c.events[e];
    d.kind = s.kind == EventKind::Loss ? 1 : 0;
    d.index = s.index, d.level = s.level, d.terminal = s.terminal;
    d.crossing = s.crossing == Crossing::Up ? 0 : s.crossing == Crossing::Down ? 1 : 2;
  }
  if (const CriticalPointCatalog* cat = o.record.catalog) {
    auto& cd = c.catalog;
    cd.count = static_cast<int>(cat->points().size());
    cd.stiefel_free = cat->stiefel_free();
    run.cat_matrices = static_cast<long long>(v.size());
    run.cat_offsets = static_cast<long long>(run.ints.size());
    std::vector<int> offsets{0}, ranks;
    for (int i = 0; i < cd.count; ++i) {
      const Mat& M = cd.stiefel_free ? cat->stiefel_factors()[i] : cat->points()[i].W;
      append(v, M);
      offsets.push_back(offsets.back() + static_cast<int>(M.size()));
      ranks.push_back(static_cast<int>(M.cols()));
    }
    run.ints.insert(run.ints.end(), offsets.begin(), offsets.end());
    run.cat_ranks = static_cast<long long>(run.ints.size());
    run.ints.insert(run.ints.end(), ranks.begin(), ranks.end());
  }
  return run;
}

std::string batched_unsupported(const kernels::PackedRun& run) {
  const auto& f = run.flow;
  const auto& c = run.config;
  if (f.param != device::ParamKind::Deep) return "it covers the deep factorization only";
  if (f.loss == device::LossKind::BuresWasserstein && !(f.tau > 0))
    return "it covers the smooth BW loss (tau > 0) only; the plain one needs SVDs";
  if (f.loss != device::LossKind::Square && f.loss != device::LossKind::BuresWasserstein)
    return "it covers the square and smooth BW losses only";
  if (c.n_times > 0 || c.n_events > 0 || c.catalog.count > 0) return "it records no grid, events or catalogue";
  if (std::isfinite(c.loss_below) || c.grad_norm_below > 0) return "it has no loss or gradient-norm stop";
  if (c.step.method != device::Method::DormandPrince54 &&
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

TrajectoryResult unpack_result(const kernels::PackedRun& run, const SolveOptions& o, const double* block) {
  const int n = run.flow.state;
  const double* header = block;
  const double* state = header + device::kHeader;
  const double* events = state + n;
  const double* samples = events + run.config.n_events;
  const int stride = device::sample_stride(run.flow, run.config), ks = device::spectrum_size(run.flow);
  TrajectoryResult r;
  r.status = static_cast<Status>(static_cast<int>(header[device::kStatus]));
  r.t_end = header[device::kTEnd];
  r.steps = static_cast<std::int64_t>(header[device::kSteps]);
  r.rejected = static_cast<std::int64_t>(header[device::kRejected]);
  r.rhs_evaluations = static_cast<std::int64_t>(header[device::kRhsEvals]);
  r.final_loss = header[device::kFinalLoss];
  r.message = stop_message(header);
  r.final_state = Eigen::Map<const Vec>(state, n);
  r.event_times.assign(events, events + run.config.n_events);
  r.samples.resize(o.record.times.size());
  for (std::size_t i = 0; i < r.samples.size(); ++i) {
    const double* s = samples + i * stride;
    Sample& out = r.samples[i];
    out.t = o.record.times[i];
    out.valid = s[device::kValid] != 0.0;
    if (!out.valid) continue;  // the trajectory ended before this time, as on the CPU
    out.loss = s[device::kLoss];
    out.grad_norm = s[device::kGradNorm];
    out.rank = static_cast<int>(s[device::kRank]);
    out.balance_defect = s[device::kBalance];
    out.critical_distance = s[device::kCritDist];
    out.critical_index = static_cast<int>(s[device::kCritIndex]);
    out.spectrum = Eigen::Map<const Vec>(s + device::kSampleFixed, ks);
    if (o.record.keep_states) out.state = Eigen::Map<const Vec>(s + device::kSampleFixed + ks, n);
  }
  return r;
}

}  // namespace dlnflow::gpu
