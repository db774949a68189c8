// CPU evaluation of L1(W) and grad L1(W) for every loss of a Problem.
#pragma once

#include "dlnflow/problem.hpp"

namespace dlnflow::cpu {

class LossEvaluator {
 public:
  explicit LossEvaluator(const Problem& problem);
  double value(const Mat& W);
  // Returns L1(W) and writes grad L1(W) into G (resized as needed). With want_value false
  // a loss may skip work the value alone needs and return NaN.
  double value_and_gradient(const Mat& W, Mat& G, bool want_value = true);
  // Fixes W as the point hessian_vector differentiates at: the BW loss factorizes there once
  // (the eigendecomposition of M M^T + tau Sigma0, or the SVD of M) for all the products an
  // implicit step takes, as the device math keeps them (kernels/device/flow_jvp.cuh).
  void linearize(const Mat& W);
  // dG = D(grad L1)(W)[E] at the W of the last linearize(), the Hessian of L1 there applied to E
  // (the linearization an implicit method needs; docs/theory.md 2.5). For the BW loss with
  // tau = 0 it is the derivative at a fixed numerical rank of Sigma0^{1/2} W (the gradient is not
  // differentiable where it changes).
  void hessian_vector(const Mat& E, Mat& dG);

 private:
  double square(const Mat& W, Mat* G, bool want_value = true);
  double bures_wasserstein(const Mat& W, Mat* G);
  double sensing(const Mat& W, Mat* G);
  double completion(const Mat& W, Mat* G);
  void bw_plain_hessian_vector(const Mat& E, Mat& dG);

  const Problem& problem_;
  int rank_bound_;
  // Square loss in the centred form L = 1/2 tr((W - W*) C (W - W*)^T) + L*, which has no
  // cancellation in the W-dependent part, when Cxx is positive definite.
  bool centred_ = false;
  Mat w_opt_;
  double l_opt_ = 0.0;
  Mat diff_, tmp_;
  // The linearization point (BW): W; tau > 0: the eigenvectors Q of M M^T + tau Sigma0, the
  // square roots r of its eigenvalues and T - I; tau = 0: the first lin_rank_ singular triplets
  // of M = Sigma0^{1/2} W.
  Mat lin_W_, lin_Q_, lin_T_, lin_U_, lin_V_;
  Vec lin_r_, lin_s_;
};

}  // namespace dlnflow::cpu
