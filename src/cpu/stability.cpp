#include "dlnflow/stability.hpp"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <limits>

#include "../core/bw_target.hpp"
#include "dlnflow/error.hpp"
#include "dlnflow/init.hpp"
#include "dlnflow/matfun.hpp"
#include "model.hpp"

namespace dlnflow {

const char* to_string(CriticalKind kind) {
  switch (kind) {
    case CriticalKind::Minimum: return "minimum";
    case CriticalKind::StrictSaddle: return "strict saddle";
    case CriticalKind::NonStrictSaddle: return "non-strict saddle";
    case CriticalKind::NotComputed: break;
  }
  return "not computed";
}

namespace {

// The end-to-end flow has no parameters of its own: its Hessian is that of the balanced deep
// factorization it integrates (same depth, hidden widths at the rank cap), whose trajectories
// from balanced starts it reproduces (Bah et al. Thm 3; docs/theory.md §3.2).
Problem factorized(const Problem& problem) {
  if (const auto* e = std::get_if<EndToEndFlow>(&problem.parametrization())) {
    std::vector<int> widths(e->depth + 1, e->rank_cap);
    widths.front() = e->cols;
    widths.back() = e->rows;
    return Problem(problem.loss(), DeepFactorization{widths});
  }
  return problem;
}

const char* const kNotSmooth =
    "the loss with tau = 0 is not twice differentiable at a rank-deficient point (use tau > 0)";

bool is_bw(const Problem& p) { return std::holds_alternative<BuresWassersteinLoss>(p.loss()); }

}  // namespace

std::vector<CriticalStability> catalog_stability(const Problem& problem, const CriticalPointCatalog& catalog,
                                                 const StabilityLimits& limits) {
  const auto& points = catalog.points();
  std::vector<CriticalStability> out(points.size());
  const Problem p = factorized(problem);
  const Index n = p.state_size();
  const double work = static_cast<double>(points.size()) * std::pow(static_cast<double>(n), 3);
  if (n > limits.max_state || work > limits.max_work) {
    for (auto& s : out)
      s.reason = "a dense Hessian of " + std::to_string(n) + " parameters at " + std::to_string(points.size()) +
                 " points is beyond the catalogue's budget (states up to " + std::to_string(limits.max_state) +
                 " numbers)";
    return out;
  }
  const double tau = is_bw(p) ? std::get<BuresWassersteinLoss>(p.loss()).tau : 0.0;
  // tau = 0: L1 is smooth in the parameters where W keeps the largest rank it can have (the
  // rank bound, or the rank of Sigma0), and not where it has less.
  Index smooth_rank = 0;
  if (is_bw(p)) {
    smooth_rank = std::min<Index>(p.rank_bound(), (p.bw()->lambda.array() > 0.0).count());
  }

  Model model(p);
  Mat J(n, n);
  Vec e = Vec::Zero(n), f(n);
  for (std::size_t i = 0; i < points.size(); ++i) {
    CriticalStability& s = out[i];
    if (is_bw(p) && tau == 0.0 && static_cast<Index>(points[i].J.size()) < smooth_rank) {
      // [BW] §3.1: L1 = B^2(W W^T, Sigma0) is not differentiable where Sigma0^{1/2} W W^T
      // Sigma0^{1/2} changes rank, and its Hessian blows up there (docs/theory.md §8).
      s.reason = kNotSmooth;
      continue;
    }
    try {
      // A point the parametrization cannot hold (a symmetric factorization of an indefinite
      // or non-symmetric W) or a loss that cannot be evaluated there: said, not fatal.
      // The balanced factorization of the point, as initialization.kind = "critical_point" builds
      // it (from the catalogue in hand, not a new one per point).
      const Vec y = initial_state(p, BalancedInit{points[i].W, false}, 0, 0);
      model.rhs(y, f, false);
      // The flows descend the loss: their Jacobian at a critical point is minus its Hessian.
      model.linearize(y.data());
      for (Index j = 0; j < n; ++j) {
        e(j) = 1.0;
        model.jvp(e.data(), J.col(j).data());
        e(j) = 0.0;
      }
      // At depth 1 (or where the rank bound cuts a mode) a catalogued W need not be critical for
      // the parameters: its gradient is then of the order of the Hessian times the state.
      const double grad_tol = 1e-8 * std::max(1.0, J.norm() * std::max(1.0, y.norm()));
      if (!(f.norm() <= grad_tol)) {
        char text[160];
        std::snprintf(text, sizeof text, "not a critical point of this parametrization (gradient norm %.3g)", f.norm());
        s.reason = text;
        continue;
      }
    } catch (const std::exception& ex) {
      s.reason = std::string("these parameters cannot hold it or evaluate the loss there: ") + ex.what();
      continue;
    }
    const Mat H = -0.5 * (J + J.transpose());
    Vec ev;
    try {
      ev = sym_eig(H).values;
    } catch (const std::domain_error& ex) {
      s.reason = std::string("the Hessian's eigensolver failed: ") + ex.what();
      continue;
    }
    std::sort(ev.data(), ev.data() + ev.size());
    s.eigenvalues = ev;
    const double scale = ev.size() ? std::max(std::fabs(ev(0)), std::fabs(ev(ev.size() - 1))) : 0.0;
    const double tol = 1e-9 * scale;
    for (Index k = 0; k < ev.size(); ++k) (ev(k) < -tol ? s.negative : ev(k) > tol ? s.positive : s.zero) += 1;
    if (s.negative > 0) {
      s.kind = CriticalKind::StrictSaddle;
      s.rate = -ev(0);
      s.escape_slope = 1.0 / s.rate;
    } else {
      s.kind = CriticalKind::Minimum;  // or a non-strict saddle: decided below, against the others
    }
  }
  // The least loss among the points these parameters hold as critical points (a catalogued W
  // they cannot represent, or where they are not critical, is no minimum of theirs).
  double min_loss = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < points.size(); ++i)
    if (out[i].kind != CriticalKind::NotComputed || out[i].reason.rfind(kNotSmooth, 0) == 0)
      min_loss = std::min(min_loss, points[i].loss);
  for (std::size_t i = 0; i < points.size(); ++i) {
    CriticalStability& s = out[i];
    if (s.kind != CriticalKind::Minimum) continue;
    if (points[i].loss <= min_loss + 1e-10 * std::max(1.0, std::fabs(min_loss))) continue;
    s.kind = CriticalKind::NonStrictSaddle;
    // Away from a top-k point (k below the rank bound) a new mode must enter every factor:
    // the change of W is of order N in the parameters. The square loss's end-to-end gradient
    // is nonzero along it (order N); the BW loss with tau > 0 is critical in W too, its
    // second-order term is the first (order 2N) (docs/theory.md §6.6).
    if (std::holds_alternative<DeepFactorization>(p.parametrization())) s.order = (is_bw(p) ? 2 : 1) * p.depth();
  }
  return out;
}

}  // namespace dlnflow
