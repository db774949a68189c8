// The frozen Jacobian that preconditions an implicit step's linear solves, on a team: the device
// counterpart of EigenMath::refresh_preconditioner / precondition (src/cpu/eigen_math.cpp). What
// is frozen (nothing, the dense Jacobian, or its dominant subspace from a range finder) is decided
// by src/integrator/frozen_jacobian.hpp for both backends, and the range finder starts from the
// same Gaussian matrix (packed from the host), so that both precondition alike. Written here
// because no device library fits: cuSOLVER's eigensolvers are host-launched, one team per
// trajectory cannot call them.
#pragma once

#include <cmath>

#include "dense.cuh"
#include "integrator/frozen_jacobian.hpp"
#include "jacobi_eigh.cuh"

namespace dlnflow::device {

template <class T>
class FrozenJacobian {
 public:
  template <class W>
  DLNFLOW_HD void layout(W& ws, int n, int rows, int cols) {
    n_ = n;
    shape_ = integrator::frozen_shape(n, rows, cols);
    m_ = integrator::frozen_columns(n, rows, cols);
    if (shape_ == integrator::FrozenShape::None) return;
    q_ = ws.take(static_cast<long long>(n) * m_);
    lambda_ = ws.take(m_);
    t_ = ws.take(m_);
    if (shape_ == integrator::FrozenShape::Dense) {
      A_ = ws.take(static_cast<long long>(n) * n);
      e_ = ws.take(n);
    } else {
      A_ = ws.take(static_cast<long long>(n) * m_);  // the orthonormal basis Q of the range finder
      B_ = ws.take(static_cast<long long>(m_) * m_);
      Vb_ = ws.take(static_cast<long long>(m_) * m_);
    }
    jw_ = ws.take(jacobi_workspace(m_));
  }

  // Freezes J (jvp(in, out): out = J in, on the whole team, synced) at the point the products
  // differentiate at. sketch: n x m standard normal entries (the Sketched shape). False: the
  // eigensolver did not converge or a product failed.
  template <class Team, class Jvp>
  DLNFLOW_HD_NOINLINE bool refresh(const Team& team, Jvp&& jvp, const T* sketch) {
    const int n = n_, m = m_;
    if (shape_ == integrator::FrozenShape::None) return true;
    frozen_ = refresh_into(team, jvp, sketch, n, m);
    return frozen_;
  }
  // Drops the frozen Jacobian: apply() is the identity until the next refresh.
  DLNFLOW_HD void forget() { frozen_ = false; }

  // z ~ (I - hg J)^{-1} r = r + Q (diag(1 / (1 - hg lambda)) - I) Q^T r over the directions where
  // that differs from r by more than kNegligible: with the eigenvalues decreasing, a run of the
  // most positive (the escaping modes) and a run of the most negative (the stiff, converged ones).
  // 1 - hg lambda is kept away from 0 (an unstable direction with hg lambda near 1: the operator is
  // nearly singular there and GCR resolves what the clamp leaves). As eigen_math.cpp.
  template <class Team>
  DLNFLOW_HD_NOINLINE void apply(const Team& team, T hg, const T* r, T* z) {
    const int n = n_, m = m_;
    copy(team, n, r, z);
    team.sync();
    if (shape_ == integrator::FrozenShape::None || !frozen_) return;
    constexpr double kNegligible = 1e-2;
    const T cut = T(kNegligible) / hg;
    int hi = 0, lo = 0;
    while (hi < m && lambda_[hi] > cut) ++hi;
    while (lo < m - hi && lambda_[m - 1 - lo] < -cut) ++lo;
    auto correct = [&](int first, int count) {
      if (count == 0) return;
      // One member per coefficient (a whole dot product each): no reduction across the team.
      for (int i = team.rank(); i < count; i += team.size()) {
        const T* qi = q_ + static_cast<long long>(first + i) * n;
        T s = 0;
        for (int l = 0; l < n; ++l) s += qi[l] * r[l];
        T dd = 1 - hg * lambda_[first + i];
        if (std::fabs(dd) < T(1e-2)) dd = dd < 0 ? T(-1e-2) : T(1e-2);
        t_[i] = s * (1 / dd - 1);
      }
      team.sync();
      for (int l = team.rank(); l < n; l += team.size()) {
        T acc = 0;
        for (int i = 0; i < count; ++i) acc += q_[static_cast<long long>(first + i) * n + l] * t_[i];
        z[l] += acc;
      }
      team.sync();
    };
    correct(0, hi);
    correct(m - lo, lo);
  }

 private:
  template <class Team, class Jvp>
  DLNFLOW_HD_NOINLINE bool refresh_into(const Team& team, Jvp& jvp, const T* sketch, int n, int m) {
    bool ok = true;
    if (shape_ == integrator::FrozenShape::Dense) {
      fill(team, n, T(0), e_);
      team.sync();
      for (int i = 0; i < n && ok; ++i) {
        if (team.rank() == 0) e_[i] = 1;
        team.sync();
        ok = jvp(e_, A_ + static_cast<long long>(i) * n);
        if (team.rank() == 0) e_[i] = 0;
        team.sync();
      }
      if (!ok) return false;
      symmetrize(team, n, A_);
      return jacobi_eigh(team, n, A_, q_, lambda_, jw_);
    }
    // Range finder with one power step: Q = orth(J orth(J G)), B = Q^T J Q, J ~ (Q V) diag(lambda) (Q V)^T.
    // The images go to q_ (free until the end), the basis to A_.
    auto image = [&](const T* X) {
      for (int c = 0; c < m && ok; ++c) ok = jvp(X + static_cast<long long>(c) * n, q_ + static_cast<long long>(c) * n);
    };
    image(sketch);
    for (int pass = 0; pass < 2 && ok; ++pass) {
      copy(team, n * m, q_, A_);
      team.sync();
      orthonormalize(team, n, m, A_);
      image(A_);
    }
    if (!ok) return false;
    gemm(team, Op::T, Op::N, m, m, n, T(1), A_, n, q_, n, T(0), B_, m);
    team.sync();
    symmetrize(team, m, B_);
    if (!jacobi_eigh(team, m, B_, Vb_, lambda_, jw_)) return false;
    gemm(team, Op::N, Op::N, n, m, m, T(1), A_, n, Vb_, m, T(0), q_, n);
    team.sync();
    return true;
  }

  // A <- (A + A^T) / 2 (a gradient flow's Jacobian is symmetric up to rounding; the symmetric
  // part is the one to invert).
  template <class Team>
  DLNFLOW_HD static void symmetrize(const Team& team, int n, T* A) {
    for (int idx = team.rank(); idx < n * n; idx += team.size()) {
      const int i = idx % n, j = idx / n;
      if (i < j) {
        const T v = T(0.5) * (A[idx] + A[j + i * n]);
        A[idx] = v, A[j + i * n] = v;
      }
    }
    team.sync();
  }

  // Orthonormal columns of X (n x m) in place by classical Gram-Schmidt applied twice ("twice is
  // enough", Giraud et al. 2005): the coefficients of a column against all earlier ones are
  // independent dot products, one member each, so a column costs two barriers, not one per
  // earlier column as modified Gram-Schmidt would. A column with nothing left (J of lower rank
  // than m) becomes zero: B then has a zero eigenvalue there, which the preconditioner ignores.
  template <class Team>
  DLNFLOW_HD_NOINLINE void orthonormalize(const Team& team, int n, int m, T* X) {
    T* h = t_;
    for (int j = 0; j < m; ++j) {
      T* xj = X + static_cast<long long>(j) * n;
      T before = 0;
      for (int l = 0; l < n; ++l) before = std::fabs(xj[l]) > before ? std::fabs(xj[l]) : before;
      for (int pass = 0; pass < 2; ++pass) {
        for (int i = team.rank(); i < j; i += team.size()) {
          const T* xi = X + static_cast<long long>(i) * n;
          T s = 0;
          for (int l = 0; l < n; ++l) s += xi[l] * xj[l];
          h[i] = s;
        }
        team.sync();
        for (int l = team.rank(); l < n; l += team.size()) {
          T acc = 0;
          for (int i = 0; i < j; ++i) acc += X[static_cast<long long>(i) * n + l] * h[i];
          xj[l] -= acc;
        }
        team.sync();
      }
      T sq = 0;  // every member sums all entries in order: no reduction scratch needed
      for (int l = 0; l < n; ++l) sq += xj[l] * xj[l];
      const T nrm = std::sqrt(sq);
      const bool keep = nrm > T(1e3) * Epsilon<T>::value * before && nrm == nrm;
      team.sync();
      for (int l = team.rank(); l < n; l += team.size()) xj[l] = keep ? xj[l] / nrm : T(0);
      team.sync();
    }
  }

  int n_ = 0, m_ = 0;
  bool frozen_ = false;  // whether q_, lambda_ hold this trajectory's frozen Jacobian
  integrator::FrozenShape shape_ = integrator::FrozenShape::None;
  T *q_ = nullptr, *lambda_ = nullptr, *t_ = nullptr;
  T *A_ = nullptr, *e_ = nullptr, *B_ = nullptr, *Vb_ = nullptr, *jw_ = nullptr;
};

}  // namespace dlnflow::device
