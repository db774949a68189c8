// One step of Euler, RK4 or the Dormand-Prince 5(4) pair on a Model, and the cubic Hermite
// interpolant between two accepted steps that recording and event location use.
#pragma once

#include "dlnflow/model.hpp"
#include "dlnflow/solve.hpp"

namespace dlnflow::cpu {

class Stepper {
 public:
  Stepper(Model& model, const IntegratorConfig& config, Index n);

  // Advances (y, f = rhs(y)) by h into y1 and returns the scaled error estimate of the
  // adaptive pair (0 for fixed-step methods). f1 is rhs(y1) when the method has it for
  // free (first-same-as-last), and must otherwise be computed by the caller.
  double step(const Vec& y, const Vec& f, double h, Vec& y1, Vec& f1, bool& have_f1, double& loss1);
  // Error norm scale of the adaptive pair.
  double error_norm(const Vec& err, const Vec& y0, const Vec& y1) const;
  double initial_step(const Vec& y0, const Vec& f0, double t_span);
  // State at t0 + theta h inside the last accepted step (y0, f0) -> (y1, f1): the pair's own
  // fourth-order continuous extension for Dormand-Prince, cubic Hermite otherwise.
  void interpolate(const Vec& y0, const Vec& f0, const Vec& y1, const Vec& f1, double h, double theta, Vec& out) const;
  std::int64_t rhs_evaluations() const { return evaluations_; }

 private:
  double eval(const Vec& y, Vec& f, bool want_loss = false);

  Model& model_;
  const IntegratorConfig& config_;
  Vec k2_, k3_, k4_, k5_, k6_, k7_, tmp_, err_;
  std::int64_t evaluations_ = 0;
};

// y(t0 + theta h) from the values and slopes at both ends (third order, so O(h^4) accurate).
void hermite(const Vec& y0, const Vec& f0, const Vec& y1, const Vec& f1, double h, double theta, Vec& out);

}  // namespace dlnflow::cpu
