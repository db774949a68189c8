// The CPU backend's linear algebra for the trajectory driver (src/integrator/driver.hpp): the
// flow of a Problem through Model (Eigen: JacobiSVD, SelfAdjointEigenSolver), its spectrum and
// the distance to the critical-point catalogue. The device backend's counterpart is
// kernels/device/flow_math.cuh; the driver is the same, and the two stay independent below it,
// which is what makes CPU-vs-GPU parity mean something.
#pragma once

#include <Eigen/Eigenvalues>
#include <stdexcept>
#include <string>

#include "dlnflow/catalog.hpp"
#include "dlnflow/solve.hpp"
#include "model.hpp"
#include "rebalance.hpp"

namespace dlnflow::cpu {

class EigenMath {
 public:
  // events: the run's events; the linear and distance ones' matrices are taken in their order.
  EigenMath(Model& model, const CriticalPointCatalog* catalog, const std::vector<EventSpec>& events = {})
      : model_(model), catalog_(catalog), rebalancer_(model.problem()) {
    for (const EventSpec& e : events)
      if (e.kind == EventKind::Linear || e.kind == EventKind::Distance) event_matrices_.push_back(&e.matrix);
  }

  template <class W>
  void layout(W&) {}  // Model owns its scratch

  int state() const { return static_cast<int>(model_.problem().state_size()); }
  int spectrum_size() const {
    return static_cast<int>(std::min(model_.problem().rows(), model_.problem().cols()));
  }
  int catalog_count() const { return catalog_ ? static_cast<int>(catalog_->points().size()) : 0; }
  bool retracts() const { return model_.has_retraction(); }

  // An eigensolver or SVD that fails throws std::domain_error; the driver ends the trajectory.
  double rhs(const double* y, double* dy, bool want_loss, bool& ok) {
    return guard(ok, [&] { return model_.rhs(y, dy, want_loss); });
  }
  double loss(const double* y, double*, bool& ok) {
    return guard(ok, [&] { return model_.loss(model_.end_to_end(y)); });
  }
  double grad_norm(const double* y, const double* dy, bool& ok) {
    return guard(ok, [&] { return model_.grad_norm(y, dy); });
  }
  bool spectrum(const double* y, double* out) {
    bool ok = true;
    guard(ok, [&] {
      const Vec s = model_.spectrum(y);
      std::copy(s.data(), s.data() + s.size(), out);
      return 0.0;
    });
    return ok;
  }
  double balance_defect(const double* y) { return model_.balance_defect(y); }
  bool retract(double* y) {
    bool ok = true;
    if (model_.has_retraction()) guard(ok, [&] {
        model_.retract(y);
        return 0.0;
      });
    return ok;
  }
  bool nearest(const double* y, double& distance, double& index) {
    bool ok = true;
    guard(ok, [&] {
      model_.end_to_end(y, w_, w_work_);
      const auto [d, i] = catalog_->nearest(w_);
      distance = d, index = i;
      return 0.0;
    });
    return ok;
  }

  int product_size() const { return static_cast<int>(model_.problem().rows() * model_.problem().cols()); }
  bool product(const double* y, double* W) {
    model_.end_to_end(y, w_, w_work_);
    std::copy(w_.data(), w_.data() + w_.size(), W);
    return true;
  }

  // <C, W> or ||W - M||_F for the slot-th event matrix.
  double matrix_event(const double* y, bool distance, int slot) {
    const Mat& C = *event_matrices_[static_cast<std::size_t>(slot)];
    model_.end_to_end(y, w_, w_work_);
    return distance ? (w_ - C).norm() : w_.cwiseProduct(C).sum();
  }

  // The linearization an implicit step needs (src/integrator/rosenbrock.hpp): exact
  // Jacobian-vector products from Model, and a preconditioner from a frozen Jacobian kept as its
  // eigendecomposition J = Q diag(lambda) Q^T (what is frozen: src/integrator/frozen_jacobian.hpp).
  bool linearizable() const { return !model_.has_retraction(); }
  bool linearize(const double* y) {
    bool ok = true;
    guard(ok, [&] {
      model_.linearize(y);
      return 0.0;
    });
    return ok;
  }
  bool jvp(const double* v, double* out) {
    bool ok = true;
    guard(ok, [&] {
      model_.jvp(v, out);
      return 0.0;
    });
    return ok;
  }
  bool refresh_preconditioner();
  void forget_preconditioner() { frozen_ = false; }
  void precondition(double hg, const double* r, double* z);
  // The balancedness the exact flow conserves, restored every few implicit steps (rebalance.hpp).
  void keep_balance(const double* y0) { rebalancer_.keep(y0); }
  void rebalance(double* y) { rebalancer_.restore(y); }

  // What failed last (the message of a trajectory that ends Failed).
  const std::string& error() const { return error_; }

 private:
  template <class F>
  double guard(bool& ok, F&& f) {
    try {
      return f();
    } catch (const std::domain_error& e) {
      ok = false;
      error_ = e.what();
      return std::numeric_limits<double>::quiet_NaN();
    }
  }

  Model& model_;
  const CriticalPointCatalog* catalog_;
  std::vector<const Mat*> event_matrices_;
  std::string error_;
  Rebalancer rebalancer_;
  bool frozen_ = false;  // whether q_, lambda_ hold this trajectory's frozen Jacobian
  Mat q_;          // eigenvectors of the frozen Jacobian (kept allocated between trajectories)
  Vec lambda_;     // its eigenvalues
  Vec tmp_;
  Mat sketch_;     // the range finder's start (src/core/sketch.hpp), drawn once
  Mat w_, w_work_;  // the end-to-end W of product(), matrix_event() and nearest(), kept per step
  // A refresh's work, kept from one to the next: allocated afresh, these few-hundred-kilobyte
  // matrices went to the system and back each time, and the page faults of that were about a
  // twentieth of an implicit run's time (the stiff benchmark, depth 4, alpha = 1e-8).
  Mat images_, basis_, small_;
  Eigen::SelfAdjointEigenSolver<Mat> eig_;
};

}  // namespace dlnflow::cpu
