// What kind of critical point each catalogued point is, from the Hessian of the loss in the
// parameters being integrated, at the point's balanced factorization (docs/theory.md §6.6).
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "dlnflow/catalog.hpp"
#include "dlnflow/problem.hpp"

namespace dlnflow {

enum class CriticalKind {
  Minimum,          // no descent direction and the smallest catalogued loss
  StrictSaddle,     // the Hessian has a negative eigenvalue: escape is exponential, rate lambda_+
  NonStrictSaddle,  // positive semidefinite Hessian above the minimum: escape is polynomial
  NotComputed,      // see CriticalStability::reason
};
const char* to_string(CriticalKind kind);

struct CriticalStability {
  CriticalKind kind = CriticalKind::NotComputed;
  std::string reason;  // why the Hessian was not computed (empty otherwise)
  // Eigenvalues of the Hessian of the loss the flow descends (L1(W_N..W_1) for the deep
  // factorization, 1/2 L1(U U^T) for the symmetric one), increasing; counts below -tol, within
  // tol and above tol, tol = 1e-9 max|eigenvalue| (the zero directions of the rescaling
  // symmetries W_j -> G W_j, W_{j+1} G^{-1} come out at roundoff).
  Vec eigenvalues;
  int negative = 0, zero = 0, positive = 0;
  // lambda_+ = -(smallest eigenvalue) at a strict saddle, the leading unstable rate of the
  // linearized flow (0 otherwise): a start eps away along that direction leaves after
  // ln(1/eps) / lambda_+ + O(1), so escape_slope = 1 / lambda_+ (NaN where there is none).
  double rate = 0.0;
  double escape_slope = std::numeric_limits<double>::quiet_NaN();
  // At a non-strict saddle: the order, in the parameters, of the first term of the loss that
  // decreases away from the point (theory, docs/theory.md §6.6): N for the square loss, 2N for
  // the Bures-Wasserstein loss with tau > 0, for the deep factorization of depth N (and the
  // end-to-end flow). 0 elsewhere (the symmetric factorization: not derived).
  int order = 0;
};

struct StabilityLimits {
  Index max_state = 1024;          // dense Hessians of states up to this size
  double max_work = 4e9;           // points x state^3 (about the eigensolver's flops) in all: seconds
};

// One entry per catalogued point. The end-to-end flow is given the Hessian of the balanced deep
// factorization it stands for (same depth, hidden widths its rank cap). A point where nothing can
// be said (not twice differentiable, not critical for these parameters, not representable by
// them, beyond the limits) is NotComputed with the reason; nothing throws for a point.
std::vector<CriticalStability> catalog_stability(const Problem& problem, const CriticalPointCatalog& catalog,
                                                 const StabilityLimits& limits = {});

}  // namespace dlnflow
