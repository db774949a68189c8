// The device backend's linear algebra for the trajectory driver (src/integrator/driver.hpp): a
// Problem's flow on a team (flows.cuh), its spectrum, the distance to the critical-point
// catalogue and the events' matrices, and for the implicit methods its Jacobian-vector products
// (flow_jvp.cuh), frozen Jacobian (frozen_jacobian.cuh) and the restoring of its balancedness
// (rebalance.cuh). The CPU backend's counterpart is src/cpu/eigen_math.hpp; the driver is the same.
#pragma once

#include "flow_jvp.cuh"
#include "frozen_jacobian.cuh"
#include "rebalance.cuh"
#include "integrator/workspace.hpp"

namespace dlnflow::device {

template <class Team, class T>
class FlowMath {
 public:
  DLNFLOW_HD FlowMath(const Team& team, const FlowData<T>& f, const CatalogData<T>& cat) : team_(team), f_(f), cat_(cat) {}

  template <class W>
  DLNFLOW_HD void layout(W& ws) {
    W_ = ws.take(f_.rows * f_.cols);
    scratch_ = ws.take(team_.size());
    flow_ = ws.take(flow_workspace(f_, team_.size()));
    if (cat_.count > 0 && cat_.stiefel_free) {
      const int c = f_.cols, d = f_.rows;
      WtA_ = ws.take(c * d), U_ = ws.take(c * d), s_ = ws.take(d), V_ = ws.take(d * d), svd_ = ws.take(svd_workspace(c, d));
    }
    if (linearizable()) {
      const int n = f_.state;
      ly_ = ws.take(n), ldy_ = ws.take(n);
      lin_ = ws.take(flow_workspace(f_, team_.size()));
      jw_ = ws.take(jvp_workspace(f_));
      frozen_.layout(ws, n, f_.rows, f_.cols);
      rebalance_.layout(ws, f_);
    }
  }

  DLNFLOW_HD int state() const { return f_.state; }
  DLNFLOW_HD int spectrum_size() const { return device::spectrum_size(f_); }
  DLNFLOW_HD int catalog_count() const { return cat_.count; }
  DLNFLOW_HD bool retracts() const { return f_.param == ParamKind::EndToEnd; }

  DLNFLOW_HD T rhs(const T* y, T* dy, bool want_loss, bool& ok) { return flow_rhs(team_, f_, y, dy, flow_, ok, want_loss); }
  DLNFLOW_HD T loss(const T* y, T* scratch, bool& ok) { return flow_rhs(team_, f_, y, scratch, flow_, ok, true); }
  DLNFLOW_HD T grad_norm(const T* y, const T* dy, bool& ok) { return device::grad_norm(team_, f_, y, dy, flow_, ok); }
  DLNFLOW_HD bool spectrum(const T* y, T* out) { return device::spectrum(team_, f_, y, out, W_, flow_); }
  DLNFLOW_HD T balance_defect(const T* y) { return device::balance_defect(team_, f_, y, flow_); }
  DLNFLOW_HD bool retract(T* y) { return device::retract(team_, f_, y, flow_); }

  // The implicit methods' linearization (src/integrator/rosenbrock.hpp lists the four calls).
  // Only where the run asked for it (FlowData::linearize, which lays out the workspace), and
  // never for the end-to-end flow (no Jacobian there, as on the CPU).
  DLNFLOW_HD bool linearizable() const { return f_.linearize && f_.param != ParamKind::EndToEnd; }
  DLNFLOW_HD bool linearize(const T* y) {
    copy(team_, f_.state, y, ly_);  // y's buffer may be reused while the products are taken
    team_.sync();
    bool ok = true;
    flow_rhs(team_, f_, ly_, ldy_, lin_, ok, false);
    return ok;
  }
  DLNFLOW_HD bool jvp(const T* v, T* out) {
    flow_jvp(team_, f_, ly_, lin_, v, out, jw_);
    team_.sync();
    return true;
  }
  DLNFLOW_HD bool refresh_preconditioner() {
    return frozen_.refresh(team_, [&](const T* in, T* out) { return jvp(in, out); }, f_.sketch);
  }
  DLNFLOW_HD void precondition(T hg, const T* r, T* z) { frozen_.apply(team_, hg, r, z); }
  DLNFLOW_HD void forget_preconditioner() { frozen_.forget(); }
  // The balancedness the exact flow conserves, restored every few implicit steps (rebalance.cuh).
  DLNFLOW_HD void keep_balance(const T* y0) {
    rebalance_keep(team_, f_, rebalance_, y0);
    team_.sync();
  }
  DLNFLOW_HD void rebalance(T* y) {
    device::rebalance(team_, f_, rebalance_, y, scratch_);
    team_.sync();
  }

  DLNFLOW_HD int product_size() const { return f_.rows * f_.cols; }
  DLNFLOW_HD bool product(const T* y, T* W) {
    end_to_end(team_, f_, y, W, flow_);
    return true;
  }

  // <C, W> or ||W - M||_F for the slot-th event matrix (stored after the catalogue's points).
  DLNFLOW_HD_NOINLINE T matrix_event(const T* y, bool distance, int slot) {
    end_to_end(team_, f_, y, W_, flow_);
    team_.sync();
    const T* C = cat_.matrices + cat_.offsets[cat_.count + slot];
    T part = 0;
    for (int l = team_.rank(); l < f_.rows * f_.cols; l += team_.size())
      part += distance ? (W_[l] - C[l]) * (W_[l] - C[l]) : C[l] * W_[l];
    const T v = team_sum(team_, part, scratch_);
    return distance ? std::sqrt(v) : v;
  }

  // Nearest catalogued critical point (catalog.cpp nearest): plain Frobenius distance, or for
  // the BW loss ||W||^2 + ||A||^2 - 2 ||W^T A||_* minimized over the free Stiefel factor.
  DLNFLOW_HD_NOINLINE bool nearest(const T* y, T& best, T& arg) {
    end_to_end(team_, f_, y, W_, flow_);
    team_.sync();
    const int d = f_.rows, c = f_.cols, rc = d * c;
    bool ok = true;
    best = T(INFINITY), arg = T(-1);
    const T w2 = squared_norm(team_, rc, W_, scratch_);
    for (int i = 0; i < cat_.count; ++i) {
      const T* M = cat_.matrices + cat_.offsets[i];
      T dist;
      if (cat_.stiefel_free) {
        const int J = cat_.ranks[i];
        const T a2 = squared_norm(team_, d * J, M, scratch_);
        T nuc = 0;
        if (J > 0) {
          const int kk = imin(c, J);
          gemm(team_, Op::T, Op::N, c, J, d, T(1), W_, d, M, d, T(0), WtA_, c);
          team_.sync();
          if (!thin_svd(team_, c, J, WtA_, U_, s_, V_, svd_)) ok = false;
          for (int l = 0; l < kk; ++l) nuc += s_[l];
        }
        const T q = w2 + a2 - 2 * nuc;
        dist = std::sqrt(q > 0 ? q : T(0));
      } else {
        T part = 0;
        for (int l = team_.rank(); l < rc; l += team_.size()) part += (W_[l] - M[l]) * (W_[l] - M[l]);
        dist = std::sqrt(team_sum(team_, part, scratch_));
      }
      if (dist < best) best = dist, arg = T(i);
    }
    return ok;
  }

 private:
  const Team& team_;
  const FlowData<T>& f_;
  const CatalogData<T>& cat_;
  T *W_ = nullptr, *scratch_ = nullptr, *flow_ = nullptr;
  T *WtA_ = nullptr, *U_ = nullptr, *s_ = nullptr, *V_ = nullptr, *svd_ = nullptr;
  T *ly_ = nullptr, *ldy_ = nullptr, *lin_ = nullptr, *jw_ = nullptr;  // the linearization point
  FrozenJacobian<T> frozen_;
  Rebalance<T> rebalance_;
};

}  // namespace dlnflow::device
