#include "eigen_math.hpp"

#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <algorithm>
#include <cmath>

#include "core/sketch.hpp"

namespace dlnflow::cpu {

bool EigenMath::refresh_preconditioner() {
  const int n = state();
  const auto& problem = model_.problem();
  const int rows = static_cast<int>(problem.rows()), cols = static_cast<int>(problem.cols());
  const integrator::FrozenShape shape = integrator::frozen_shape(n, rows, cols);
  if (shape == integrator::FrozenShape::None) return true;  // too large to form: GCR runs unpreconditioned
  bool ok = true;
  guard(ok, [&] {
    // What is frozen, and why: src/integrator/frozen_jacobian.hpp.
    if (shape == integrator::FrozenShape::Sketched) {
      const int k = integrator::frozen_columns(n, rows, cols);
      if (sketch_.rows() != n || sketch_.cols() != k) sketch_ = frozen_jacobian_sketch(n, k);
      Mat Z(n, k);
      auto image = [&](const Mat& X) {
        for (int c = 0; c < k; ++c) model_.jvp(X.col(c).data(), Z.col(c).data());
      };
      auto orthonormal = [&](const Mat& X) -> Mat {
        Eigen::HouseholderQR<Mat> qr(X);
        return qr.householderQ() * Mat::Identity(n, k);
      };
      image(sketch_);
      Mat Q = orthonormal(Z);
      image(Q);
      Q = orthonormal(Z);
      image(Q);
      const Mat B = Q.transpose() * Z;
      Eigen::SelfAdjointEigenSolver<Mat> eig(0.5 * (B + B.transpose()));
      if (eig.info() != Eigen::Success) throw std::domain_error("the frozen Jacobian's eigensolver did not converge");
      q_ = Q * eig.eigenvectors();
      lambda_ = eig.eigenvalues();
      return 0.0;
    }
    Mat J(n, n);
    Vec e = Vec::Zero(n);
    for (int i = 0; i < n; ++i) {
      e(i) = 1.0;
      model_.jvp(e.data(), J.col(i).data());
      e(i) = 0.0;
    }
    // Symmetric up to rounding (a gradient flow); the symmetric part is the one to invert.
    const Mat S = 0.5 * (J + J.transpose());
    Eigen::SelfAdjointEigenSolver<Mat> eig(S);
    if (eig.info() != Eigen::Success) throw std::domain_error("the frozen Jacobian's eigensolver did not converge");
    q_ = eig.eigenvectors();
    lambda_ = eig.eigenvalues();
    return 0.0;
  });
  tmp_.resize(lambda_.size());
  return ok;
}

void EigenMath::precondition(double hg, const double* r, double* z) {
  const int n = state();
  Eigen::Map<const Vec> in(r, n);
  Eigen::Map<Vec> out(z, n);
  out = in;
  if (q_.size() == 0) return;
  const int m = static_cast<int>(lambda_.size());
  // (I - hg J)^{-1} = I + Q (diag(1 / (1 - hg lambda)) - I) Q^T, over the directions where it
  // differs from I by more than kNegligible: the eigenvalues come sorted, so those are a run of
  // the most negative (the stiff, converged modes) and a run of the most positive (the escaping
  // ones). Most of a deep network's directions are flat (the rescalings between factors), so this
  // costs a fraction of two full products with Q; GCR resolves the rest in an iteration or two.
  constexpr double kNegligible = 1e-2;
  const double cut = kNegligible / hg;
  int lo = 0, hi = 0;
  while (lo < m && lambda_(lo) < -cut) ++lo;
  while (hi < m - lo && lambda_(m - 1 - hi) > cut) ++hi;
  auto correct = [&](int first, int count) {
    if (count == 0) return;
    const auto Q = q_.middleCols(first, count);
    auto t = tmp_.head(count);  // sized at the refresh: no allocation per application
    t.noalias() = Q.transpose() * in;
    for (int i = 0; i < count; ++i) {
      // 1 - hg lambda, kept away from 0 (an unstable direction with hg lambda near 1: the
      // operator is nearly singular there and GCR resolves what the clamp leaves).
      double d = 1.0 - hg * lambda_(first + i);
      if (std::fabs(d) < 1e-2) d = d < 0 ? -1e-2 : 1e-2;
      t(i) *= 1.0 / d - 1.0;
    }
    out.noalias() += Q * t;
  };
  correct(0, lo);
  correct(m - hi, hi);
}

}  // namespace dlnflow::cpu
