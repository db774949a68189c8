// Host matrix functions (Eigen), the CPU backend's one home for symmetric eigen-calculus,
// thin SVDs, the balanced operator A_W and the Bures-Wasserstein distance. The GPU kernels
// have their own implementation; tests compare the two.
#pragma once

#include "dlnflow/types.hpp"

namespace dlnflow {

// Symmetric eigendecomposition with eigenvalues sorted in decreasing order.
struct SymEig {
  Vec values;
  Mat vectors;
};
SymEig sym_eig(const Mat& A);  // symmetrizes (A + A^T)/2 first

// Powers of a symmetric PSD matrix; negative eigenvalues (roundoff) are clamped to 0 and
// the 0-th power is the identity, never the range projector (Bah et al. eq. (7) and the proof
// of their Lemma 6; docs/theory.md §3.2).
Mat psd_power(const Mat& A, double p);
Mat psd_sqrt(const Mat& A);
// A^{-1/2} of a symmetric positive definite matrix; throws std::domain_error if A is not PD.
Mat spd_inv_sqrt(const Mat& A);

// Thin SVD with singular values decreasing.
struct ThinSvd {
  Mat U;
  Vec s;
  Mat V;
};
ThinSvd thin_svd(const Mat& A);

// Best approximation of rank <= r (truncated SVD); W itself when r >= min(rows, cols).
Mat truncate_rank(const Mat& W, int r);

// Number of singular values above rtol * s_max (0 for the zero matrix).
int numerical_rank(const Vec& singular_values, double rtol);

// k_N(x, y) = sum_{j=1..N} x^{2(N-j)/N} y^{2(j-1)/N} with 0^0 = 1: the weight of the balanced
// operator in singular coordinates (Eftekhari eq. (173); docs/theory.md §3.3), summed in the
// positive-term form because the closed quotient cancels catastrophically when x ~ y.
double balanced_weight(double x, double y, int N);

// A_W(Z) = sum_j (W W^T)^{(N-j)/N} Z (W^T W)^{(j-1)/N}, evaluated from the top rank_cap
// singular triplets of W; singular values beyond rank_cap are treated as exact zeros.
Mat balanced_operator(const Mat& W, const Mat& Z, int N, int rank_cap);
// Same, from a thin SVD the caller already has (only its first r columns are used).
Mat balanced_operator(const ThinSvd& svd, int r, const Mat& Z, int N);
// The inverse of A_W restricted to the tangent space of the rank-r manifold at W, applied to
// the tangent part of Z. Requires the top rank_cap singular values to be positive.
Mat balanced_operator_inverse(const Mat& W, const Mat& Z, int N, int rank_cap);

// Squared Bures-Wasserstein distance B^2(Sigma, Sigma0) of two PSD matrices, with the trace
// of the square root taken as the nuclear norm of Sigma0^{1/2} Sigma^{1/2} (no eigenvalue
// square roots of a possibly singular product; Brechet et al. eq. (37), docs/theory.md §8).
double bures_wasserstein_sq(const Mat& sigma, const Mat& sigma0);
// The optimal transport map T with T Sigma T = Sigma0, for Sigma, Sigma0 positive definite.
Mat ot_map(const Mat& sigma, const Mat& sigma0);

}  // namespace dlnflow
