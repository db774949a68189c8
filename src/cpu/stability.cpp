#include "dlnflow/stability.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

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
  double min_loss = std::numeric_limits<double>::infinity();
  for (const auto& pt : points) min_loss = std::min(min_loss, pt.loss);
  const double tau = is_bw(p) ? std::get<BuresWassersteinLoss>(p.loss()).tau : 0.0;
  const Index bw_size = is_bw(p) ? p.rows() : 0;

  Model model(p);
  Mat J(n, n);
  Vec e = Vec::Zero(n);
  for (std::size_t i = 0; i < points.size(); ++i) {
    CriticalStability& s = out[i];
    if (is_bw(p) && tau == 0.0 && static_cast<Index>(points[i].J.size()) < bw_size) {
      // [BW] §3.1: L1 = B^2(W W^T, Sigma0) is not differentiable where Sigma0^{1/2} W W^T
      // Sigma0^{1/2} changes rank, and its Hessian blows up there (docs/theory.md §8).
      s.reason = "the loss with tau = 0 is not twice differentiable at a rank-deficient point (use tau > 0)";
      continue;
    }
    const Vec y = initial_state(p, CriticalPointInit{static_cast<int>(i), 0.0}, 0, 0);
    // The flows descend the loss: their Jacobian at a critical point is minus its Hessian.
    model.linearize(y.data());
    for (Index j = 0; j < n; ++j) {
      e(j) = 1.0;
      model.jvp(e.data(), J.col(j).data());
      e(j) = 0.0;
    }
    const Mat H = -0.5 * (J + J.transpose());
    Vec ev = sym_eig(H).values;
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
      s.escape_slope = std::numeric_limits<double>::quiet_NaN();
      const bool lowest = points[i].loss <= min_loss + 1e-10 * std::max(1.0, std::fabs(min_loss));
      s.kind = lowest ? CriticalKind::Minimum : CriticalKind::NonStrictSaddle;
      // Away from a top-k point (k below the rank bound) a new mode must enter every factor:
      // the change of W is of order N in the parameters. The square loss's end-to-end gradient
      // is nonzero along it (order N); the BW loss with tau > 0 is critical in W too, its
      // second-order term is the first (order 2N) (docs/theory.md §6.6).
      if (!lowest && std::holds_alternative<DeepFactorization>(p.parametrization()))
        s.order = (is_bw(p) ? 2 : 1) * p.depth();
    }
  }
  return out;
}

}  // namespace dlnflow
