// Restores the balancedness of a deep factorization after an implicit step, without moving W.
//
// The exact flow conserves D_j = W_j W_j^T - W_{j+1}^T W_{j+1} for every hidden layer j (Bah,
// Rauhut, Terstiege & Westdickenberg, Lemma 2(3); docs/theory.md §4), and every gauge transform
// W_j -> G_j W_j G_{j-1}^{-1} (G_0 = G_N = I) leaves W = W_N ... W_1 unchanged. Rodas5P takes steps
// whose local error is the whole tolerance, and what of it falls on the gauge directions is never
// pulled back: D drifts by the tolerance's worth per step (docs/numerics.md). Every few implicit
// steps (Driver::kRebalanceEvery) the driver therefore moves the state along the gauge orbit back to D(0): G_j = I + S_j with
// S_j symmetric, to first order
//   D_j -> D_j + {S_j, A_j + B_j} - 2 W_j S_{j-1} W_j^T - 2 W_{j+1}^T S_{j+1} W_{j+1}
// (A_j = W_{j+1}^T W_{j+1}, B_j = W_j W_j^T), a symmetric positive semidefinite operator in
// (S_1, ..., S_{N-1}) (Cauchy-Schwarz on the coupling terms), solved by a few steps of conjugate
// gradients preconditioned by its block diagonal, a Lyapunov equation per layer solved exactly in
// the eigenbasis of A_j + B_j (kept from call to call while it still works). At a balanced
// state with aligned singular bases (the converged modes) that preconditioner leaves only a
// tridiagonal coupling along the depth, and three iterations remove 90-99% of the drift (about
// half of it on factors far from balance); the rest is removed at the next pass, so the drift
// stays at a few steps' worth instead of growing with the step count. W changes by O(|S|^3) (G_{j-1}^{-1}
// is taken to second order): far below roundoff, as |S| is the drift's size.
// The device math's counterpart is kernels/device/rebalance.cuh.
#pragma once

#include <Eigen/Eigenvalues>
#include <vector>

#include "dlnflow/problem.hpp"

namespace dlnflow::cpu {

class Rebalancer {
 public:
  static constexpr int kIterations = 3;

  explicit Rebalancer(const Problem& problem);
  bool active() const { return depth_ >= 2; }
  // Remembers D(y0): what the exact flow keeps.
  void keep(const double* y0);
  // Moves y along its gauge orbit towards D(y) = D(y0); leaves it as it was where the correction
  // is not small (|S| > 1e-3, or not finite: not a drift) or an eigensolver failed.
  void restore(double* y);

 private:
  void defects(const double* y, std::vector<Mat>& D) const;
  void apply_operator(const std::vector<Mat>& S, std::vector<Mat>& out);
  void precondition(const std::vector<Mat>& R, std::vector<Mat>& Z);

  int depth_ = 0;
  bool have_basis_ = false;  // u_ and c_ still precondition well
  std::vector<int> widths_;
  std::vector<Index> offsets_;
  std::vector<Mat> d0_;                       // D_j(y0), j = 1 .. N-1
  std::vector<Mat> w_, a_, u_;  // this call's factors, A_j + B_j and its eigenvectors
  Eigen::SelfAdjointEigenSolver<Mat> eig_;
  std::vector<Vec> c_;                        // eigenvalues of A_j + B_j
  std::vector<Mat> r_, z_, p_, q_, s_, tmp_;  // the conjugate-gradient vectors, one matrix per layer
  Mat f1_, f2_;                               // the gauge transform's products
};

}  // namespace dlnflow::cpu
