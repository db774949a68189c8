// The CPU backend's evaluation of a Problem: losses and gradients on the end-to-end matrix,
// and the right-hand side of the flow on the state vector. One Model per thread: it owns
// scratch space so that the step loop does not allocate.
#pragma once

#include <memory>

#include "dlnflow/problem.hpp"

namespace dlnflow {

namespace cpu {
class LossEvaluator;
}

class Model {
 public:
  explicit Model(const Problem& problem);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const Problem& problem() const { return problem_; }

  // L1(W) and grad L1(W) on the end-to-end matrix.
  double loss(const Mat& W);
  double loss_and_gradient(const Mat& W, Mat& G);

  Mat end_to_end(const Vec& state) const { return end_to_end(state.data()); }
  Mat end_to_end(const double* state) const;
  // The same into W, with `work` for the chain of products: no allocation once both have held
  // their sizes (what the driver calls at every step).
  void end_to_end(const double* state, Mat& W, Mat& work) const;
  double state_loss(const Vec& state) { return loss(end_to_end(state)); }

  // dstate/dt of the flow: minus the parameter gradient (deep, symmetric) or -A_W(grad L1)
  // (end-to-end). Returns L1 at the state (NaN when want_loss is false and the loss could
  // skip computing it: the intermediate stages of a Runge-Kutta step never need it).
  // The pointer forms read and write problem().state_size() entries.
  double rhs(const Vec& state, Vec& dstate, bool want_loss = true);
  double rhs(const double* state, double* dstate, bool want_loss = true);

  // J v, the flow's Jacobian at `state` applied to v (what an implicit method solves with),
  // for the deep and symmetric factorizations and every loss; throws std::invalid_argument for
  // the end-to-end flow. Reads and writes state_size() entries.
  void jvp(const double* state, const double* v, double* out);
  // The same in two parts, for the many products at one state an implicit step takes: linearize
  // keeps what the flow at `state` computes (its prefix and back-propagated products), jvp(v)
  // applies the Jacobian there (one fewer evaluation of the flow per product).
  void linearize(const double* state);
  void jvp(const double* v, double* out);

  // The end-to-end flow truncates to its rank cap after each step; others do nothing.
  bool has_retraction() const;
  void retract(Vec& state) const { retract(state.data()); }
  void retract(double* state) const;

  // sqrt(-dL/dt) given the rhs at the state: the parameter-space gradient norm (for the
  // end-to-end flow the norm of the gradient of the balanced factors it stands for).
  double grad_norm(const Vec& state, const Vec& dstate) { return grad_norm(state.data(), dstate.data()); }
  double grad_norm(const double* state, const double* dstate);
  // sum_j ||W_j W_j^T - W_{j+1}^T W_{j+1}||_F for the deep factorization, 0 otherwise.
  double balance_defect(const Vec& state) const { return balance_defect(state.data()); }
  double balance_defect(const double* state) const;
  // Singular values of W, or eigenvalues of W = U U^T (as squared singular values of U, which
  // keeps them accurate down to 1e-300), decreasing.
  Vec spectrum(const Vec& state) const { return spectrum(state.data()); }
  Vec spectrum(const double* state) const;

 private:
  double rhs_deep(const double* state, double* dstate, bool want_loss);
  double rhs_symmetric(const double* state, double* dstate, bool want_loss);
  double rhs_end_to_end(const double* state, double* dstate, bool want_loss);

  const Problem& problem_;
  std::unique_ptr<cpu::LossEvaluator> loss_;
  std::vector<int> widths_;
  // Scratch: prefix products W_j..W_1, back-propagated gradients, the gradient G.
  std::vector<Mat> prefix_, back_;
  Mat W_, G_, S_;
  // Scratch of jvp(): the directional derivatives of prefix_, back_, W and G.
  std::vector<Mat> dprefix_, dback_;
  Mat dW_, dG_;
  // The linearization point of jvp(v): the state, its flow, and the products computed there.
  Vec lin_state_, lin_dstate_;
  std::vector<Mat> lin_prefix_, lin_back_;
  Mat lin_W_, lin_S_;
  std::vector<Index> offsets_;  // of each factor in the state vector
};

}  // namespace dlnflow
