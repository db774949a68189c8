#include "stepper.hpp"

#include <algorithm>
#include <cmath>

namespace dlnflow::cpu {
namespace {

// Dormand-Prince 5(4) coefficients (Hairer, Norsett, Wanner, Table 5.2).
constexpr double a21 = 1.0 / 5;
constexpr double a31 = 3.0 / 40, a32 = 9.0 / 40;
constexpr double a41 = 44.0 / 45, a42 = -56.0 / 15, a43 = 32.0 / 9;
constexpr double a51 = 19372.0 / 6561, a52 = -25360.0 / 2187, a53 = 64448.0 / 6561, a54 = -212.0 / 729;
constexpr double a61 = 9017.0 / 3168, a62 = -355.0 / 33, a63 = 46732.0 / 5247, a64 = 49.0 / 176,
                 a65 = -5103.0 / 18656;
constexpr double b1 = 35.0 / 384, b3 = 500.0 / 1113, b4 = 125.0 / 192, b5 = -2187.0 / 6784,
                 b6 = 11.0 / 84;
// b - b* (fifth minus fourth order weights).
// Dense output (Hairer's dopri5 contd5), fourth order.
constexpr double d1 = -12715105075.0 / 11282082432, d3 = 87487479700.0 / 32700410799,
                 d4 = -10690763975.0 / 1880347072, d5 = 701980252875.0 / 199316789632,
                 d6 = -1453857185.0 / 822651844, d7 = 69997945.0 / 29380423;
constexpr double e1 = 71.0 / 57600, e3 = -71.0 / 16695, e4 = 71.0 / 1920, e5 = -17253.0 / 339200,
                 e6 = 22.0 / 525, e7 = -1.0 / 40;

}  // namespace

Stepper::Stepper(Model& model, const IntegratorConfig& config, Index n)
    : model_(model), config_(config) {
  for (Vec* v : {&k2_, &k3_, &k4_, &k5_, &k6_, &k7_, &tmp_, &err_}) v->resize(n);
}

double Stepper::eval(const Vec& y, Vec& f, bool want_loss) {
  ++evaluations_;
  return model_.rhs(y, f, want_loss);
}

double Stepper::step(const Vec& y, const Vec& f, double h, Vec& y1, Vec& f1, bool& have_f1, double& loss1) {
  have_f1 = false;
  switch (config_.method) {
    case Method::Euler:
      y1 = y + h * f;
      return 0.0;
    case Method::RK4:
      tmp_ = y + (0.5 * h) * f;
      eval(tmp_, k2_);
      tmp_ = y + (0.5 * h) * k2_;
      eval(tmp_, k3_);
      tmp_ = y + h * k3_;
      eval(tmp_, k4_);
      y1 = y + (h / 6.0) * (f + 2.0 * k2_ + 2.0 * k3_ + k4_);
      return 0.0;
    case Method::DormandPrince54: {
      tmp_ = y + (h * a21) * f;
      eval(tmp_, k2_);
      tmp_ = y + h * (a31 * f + a32 * k2_);
      eval(tmp_, k3_);
      tmp_ = y + h * (a41 * f + a42 * k2_ + a43 * k3_);
      eval(tmp_, k4_);
      tmp_ = y + h * (a51 * f + a52 * k2_ + a53 * k3_ + a54 * k4_);
      eval(tmp_, k5_);
      tmp_ = y + h * (a61 * f + a62 * k2_ + a63 * k3_ + a64 * k4_ + a65 * k5_);
      eval(tmp_, k6_);
      y1 = y + h * (b1 * f + b3 * k3_ + b4 * k4_ + b5 * k5_ + b6 * k6_);
      loss1 = eval(y1, f1, true);
      have_f1 = true;
      k7_ = f1;
      err_ = h * (e1 * f + e3 * k3_ + e4 * k4_ + e5 * k5_ + e6 * k6_ + e7 * f1);
      return error_norm(err_, y, y1);
    }
  }
  return 0.0;
}

double Stepper::error_norm(const Vec& err, const Vec& y0, const Vec& y1) const {
  double sum = 0.0;
  for (Index i = 0; i < err.size(); ++i) {
    const double sc = config_.atol + config_.rtol * std::max(std::abs(y0(i)), std::abs(y1(i)));
    if (sc == 0.0) {  // an exactly zero component (atol = 0): only an exactly zero error is acceptable
      if (err(i) != 0.0) return std::numeric_limits<double>::infinity();
      continue;
    }
    const double q = err(i) / sc;
    sum += q * q;
  }
  const double e = std::sqrt(sum / std::max<Index>(err.size(), 1));
  return std::isfinite(e) ? e : std::numeric_limits<double>::infinity();
}

double Stepper::initial_step(const Vec& y0, const Vec& f0, double t_span) {
  // Hairer-Norsett-Wanner's starting-step heuristic (II.4), order 5.
  if (config_.dt_initial > 0) return config_.dt_initial;
  const double d0 = error_norm(y0, y0, y0), d1 = error_norm(f0, y0, y0);
  double h0 = (d0 < 1e-5 || d1 < 1e-5 || !std::isfinite(d1)) ? 1e-6 : 0.01 * d0 / d1;
  h0 = std::min(h0, t_span);
  tmp_ = y0 + h0 * f0;
  eval(tmp_, k2_);
  err_ = k2_ - f0;
  const double d2 = error_norm(err_, y0, y0) / h0;
  const double h1 = std::max(d1, d2) <= 1e-15 ? std::max(1e-6, h0 * 1e-3)
                                              : std::pow(0.01 / std::max(d1, d2), 1.0 / 5.0);
  const double h = std::min({100 * h0, h1, t_span, config_.dt_max});
  // The heuristic degenerates when a norm is 0 or infinite (exact zeros with atol = 0).
  return h > 0 && std::isfinite(h) ? h : std::min({1e-6 * t_span, config_.dt_max});
}

void Stepper::interpolate(const Vec& y0, const Vec& f0, const Vec& y1, const Vec& f1, double h, double th,
                          Vec& out) const {
  if (config_.method != Method::DormandPrince54) return hermite(y0, f0, y1, f1, h, th, out);
  // y0 + th (dy + (1-th) (h f0 - dy + th (dy - h k7 - (h f0 - dy) + (1-th) h sum d_i k_i)))
  const double s1 = 1.0 - th;
  out = y1 - y0;                      // dy
  const Vec bspl = h * f0 - out;
  const Vec r4 = out - h * k7_ - bspl;
  const Vec r5 = h * (d1 * f0 + d3 * k3_ + d4 * k4_ + d5 * k5_ + d6 * k6_ + d7 * k7_);
  out = y0 + th * (out + s1 * (bspl + th * (r4 + s1 * r5)));
  (void)f1;
}

void hermite(const Vec& y0, const Vec& f0, const Vec& y1, const Vec& f1, double h, double th, Vec& out) {
  const double th2 = th * th, th3 = th2 * th;
  const double h00 = 2 * th3 - 3 * th2 + 1, h10 = th3 - 2 * th2 + th;
  const double h01 = -2 * th3 + 3 * th2, h11 = th3 - th2;
  out = h00 * y0 + (h10 * h) * f0 + h01 * y1 + (h11 * h) * f1;
}

}  // namespace dlnflow::cpu
