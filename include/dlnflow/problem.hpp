// What is integrated: a loss on the end-to-end matrix W and a parametrization of W.
// A Problem is validated once at construction; every backend integrates the same Problem.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "dlnflow/types.hpp"

namespace dlnflow {

// ---- Losses (each is a function L1(W) of the end-to-end matrix W, rows x cols) ----------

// L1(W) = 1/2 ||Y - W X||_F^2 through its sufficient statistics:
// Cxx = X X^T (cols x cols), Cyx = Y X^T (rows x cols), yy = ||Y||_F^2.
struct SquareLoss {
  Mat Cxx;
  Mat Cyx;
  double yy = 0.0;
};
SquareLoss regression_loss(const Mat& X, const Mat& Y);
SquareLoss autoencoder_loss(const Mat& X);
// 1/2 ||W - target||_F^2 (Cxx = I).
SquareLoss matrix_approximation_loss(const Mat& target);

// The minimizer W* = Cyx Cxx^{-1} and minimum L* of a square loss with Cxx positive definite
// (nullopt otherwise): the centred form L = 1/2 tr((W - W*) Cxx (W - W*)^T) + L* that every
// backend evaluates, because it has no cancellation near the optimum.
struct SquareOptimum {
  Mat w_opt;
  double l_opt = 0.0;
};
std::optional<SquareOptimum> square_optimum(const SquareLoss& loss);

// Bures-Wasserstein loss B^2(W W^T + tau I, Sigma0) (Brechet et al. eqs. (4), (5)).
// tau = 0 is the plain loss (non-smooth where rank W changes); tau > 0 the smooth one.
struct BuresWassersteinLoss {
  Mat sigma0;
  double tau = 0.0;
};

// Matrix sensing: 1/2 sum_i (<A_i, W> - y_i)^2.
struct SensingLoss {
  std::vector<Mat> A;
  Vec y;
};

// Matrix completion: 1/2 sum_{(i,j) in omega} (W_ij - target_ij)^2 (0-based indices).
// Entries of `target` outside omega are never read. List both (i,j) and (j,i) for the
// symmetric-pair observation model of the greedy-low-rank paper.
struct CompletionLoss {
  Mat target;
  std::vector<std::array<int, 2>> omega;
};

using LossSpec = std::variant<SquareLoss, BuresWassersteinLoss, SensingLoss, CompletionLoss>;

// ---- Parametrizations ---------------------------------------------------------------------

// W = W_N ... W_1 with W_j of size widths[j] x widths[j-1]; N = widths.size() - 1 >= 1.
struct DeepFactorization {
  std::vector<int> widths;
};

// W = U U^T with U of size d x k; flow dU/dt = -sym(grad L1(W)) U, i.e. gradient flow of
// 1/2 L1(U U^T) (Li, Luo, Lyu section 3, eqs. (1), (2)).
struct SymmetricFactorization {
  int d = 0;
  int k = 0;
};

// The balanced end-to-end (Riemannian) flow dW/dt = -A_W(grad L1(W)) of a depth-N network,
// with W kept at rank <= rank_cap by truncation after every step (Bah et al. eq. (26), Cor 8;
// docs/theory.md §3.2-3.3).
struct EndToEndFlow {
  int rows = 0;
  int cols = 0;
  int depth = 0;
  int rank_cap = 0;
};

using Parametrization = std::variant<DeepFactorization, SymmetricFactorization, EndToEndFlow>;

// Quantities of a Bures-Wasserstein target computed once for every evaluation (a backend
// internal, src/core/bw_target.hpp).
struct BwTarget;

class Problem {
 public:
  // Validates every field; throws InputError naming the field and the offending value.
  Problem(LossSpec loss, Parametrization parametrization);

  const LossSpec& loss() const { return loss_; }
  const Parametrization& parametrization() const { return param_; }

  Index rows() const { return rows_; }   // of the end-to-end matrix W
  Index cols() const { return cols_; }
  int depth() const { return depth_; }   // N (2 for the symmetric factorization)
  // Largest rank W can have: the bottleneck width, k, or the rank cap.
  int rank_bound() const { return rank_bound_; }
  Index state_size() const { return state_size_; }
  // Sizes of the matrices stored one after another (column-major) in a state vector.
  const std::vector<std::array<Index, 2>>& blocks() const { return blocks_; }

  const BwTarget* bw() const { return bw_.get(); }  // for the backends; nullptr unless the BW loss
  bool is_symmetric() const { return std::holds_alternative<SymmetricFactorization>(param_); }

 private:
  LossSpec loss_;
  Parametrization param_;
  Index rows_ = 0, cols_ = 0;
  int depth_ = 0, rank_bound_ = 0;
  Index state_size_ = 0;
  std::vector<std::array<Index, 2>> blocks_;
  std::shared_ptr<const BwTarget> bw_;  // shared: immutable, and Problem stays copyable
};

}  // namespace dlnflow
