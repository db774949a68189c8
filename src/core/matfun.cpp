#include "dlnflow/matfun.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace dlnflow {

SymEig sym_eig(const Mat& A) {
  const Mat S = 0.5 * (A + A.transpose());
  Eigen::SelfAdjointEigenSolver<Mat> es(S);
  if (es.info() != Eigen::Success) throw std::domain_error("symmetric eigensolver did not converge");
  // Eigen sorts increasing; the papers index eigenvalues decreasing.
  return {es.eigenvalues().reverse(), es.eigenvectors().rowwise().reverse()};
}

Mat psd_power(const Mat& A, double p) {
  if (p == 0.0) return Mat::Identity(A.rows(), A.cols());
  const SymEig e = sym_eig(A);
  // Eigenvalues below n eps lambda_max are not resolved by the eigensolver (absolute error
  // ~ eps ||A||); a fractional power would amplify that noise to (eps ||A||)^p, so they are
  // exact zeros here (docs/theory.md §8, hazards 1 and 2).
  const double floor = static_cast<double>(A.rows()) * std::numeric_limits<double>::epsilon() *
                       std::max(e.values.size() ? e.values(0) : 0.0, 0.0);
  Vec d(e.values.size());
  for (Index i = 0; i < d.size(); ++i) d(i) = e.values(i) > floor ? std::pow(e.values(i), p) : 0.0;
  return e.vectors * d.asDiagonal() * e.vectors.transpose();
}

Mat psd_sqrt(const Mat& A) { return psd_power(A, 0.5); }

Mat spd_inv_sqrt(const Mat& A) {
  const SymEig e = sym_eig(A);
  if (!(e.values.minCoeff() > 0.0)) throw std::domain_error("matrix is not positive definite");
  const Vec d = e.values.cwiseSqrt().cwiseInverse();
  return e.vectors * d.asDiagonal() * e.vectors.transpose();
}

ThinSvd thin_svd(const Mat& A) {
  // Eigen's Jacobi SVD (two-sided, after a column-pivoted QR): small singular values to about
  // eps sigma_max, better than bidiagonalization for the BW polar factor and rank decisions.
  // It is not relatively accurate for column-graded matrices (1 ... 1e-200), where the GPU's
  // one-sided Jacobi is (tests/test_device_math.cpp); products of factors rarely are graded so.
  Eigen::JacobiSVD<Mat> svd(A, Eigen::ComputeThinU | Eigen::ComputeThinV);
  return {svd.matrixU(), svd.singularValues(), svd.matrixV()};
}

Mat truncate_rank(const Mat& W, int r) {
  if (r >= std::min(W.rows(), W.cols())) return W;
  const ThinSvd svd = thin_svd(W);
  return svd.U.leftCols(r) * svd.s.head(r).asDiagonal() * svd.V.leftCols(r).transpose();
}

int numerical_rank(const Vec& s, double rtol) {
  if (s.size() == 0 || !(s(0) > 0.0)) return 0;
  int r = 0;
  for (Index i = 0; i < s.size(); ++i)
    if (s(i) > rtol * s(0)) ++r;
  return r;
}

double balanced_weight(double x, double y, int N) {
  // Divided difference of t -> t^N at a = x^{2/N}, b = y^{2/N}: sum_k a^k b^{N-1-k}
  // (0^0 = 1), summed as positive terms so that there is no cancellation when x ~ y.
  const double a = std::pow(x, 2.0 / N), b = std::pow(y, 2.0 / N);
  const double hi = std::max(a, b), lo = std::min(a, b);
  if (lo == 0.0) return std::pow(hi, N - 1);
  const double ratio = lo / hi;
  double term = std::pow(hi, N - 1), sum = 0.0;
  for (int k = 0; k < N; ++k) {
    sum += term;
    term *= ratio;
  }
  return sum;
}

namespace {

// Weight of the block orthogonal to both singular subspaces: k_N(0, 0) = 1 for N = 1
// (A_W is then the identity) and 0 for N >= 2.
double null_block_weight(int N) { return N == 1 ? 1.0 : 0.0; }

}  // namespace

Mat balanced_operator(const ThinSvd& svd, int r, const Mat& Z, int N) {
  const auto U = svd.U.leftCols(r);
  const auto V = svd.V.leftCols(r);
  const Vec s = svd.s.head(r);
  Mat K(r, r);
  for (int a = 0; a < r; ++a)
    for (int b = 0; b < r; ++b) K(a, b) = balanced_weight(s(a), s(b), N);
  Vec sc(r);  // k_N(s, 0) = s^{2(N-1)/N}
  for (int a = 0; a < r; ++a) sc(a) = balanced_weight(s(a), 0.0, N);

  const Mat UtZ = U.transpose() * Z;     // r x m
  const Mat ZV = Z * V;                  // n x r
  const Mat UtZV = UtZ * V;              // r x r
  // Z = U(UtZV)V^T + U UtZ(I-P_V) + (I-P_U) ZV V^T + (I-P_U) Z (I-P_V), each block scaled.
  const Mat UtZ_perp = UtZ - UtZV * V.transpose();
  const Mat ZV_perp = ZV - U * UtZV;
  Mat out = U * (K.cwiseProduct(UtZV)) * V.transpose() + U * sc.asDiagonal() * UtZ_perp +
            ZV_perp * sc.asDiagonal() * V.transpose();
  const double w0 = null_block_weight(N);
  if (w0 != 0.0) out += w0 * (Z - U * UtZ - ZV_perp * V.transpose());
  return out;
}

Mat balanced_operator(const Mat& W, const Mat& Z, int N, int rank_cap) {
  const ThinSvd svd = thin_svd(W);
  const int r = std::min<int>(rank_cap, static_cast<int>(svd.s.size()));
  return balanced_operator(svd, r, Z, N);
}

Mat balanced_operator_inverse(const Mat& W, const Mat& Z, int N, int rank_cap) {
  const ThinSvd svd = thin_svd(W);
  const int r = std::min<int>(rank_cap, static_cast<int>(svd.s.size()));
  const auto U = svd.U.leftCols(r);
  const auto V = svd.V.leftCols(r);
  for (int a = 0; a < r; ++a)
    if (!(svd.s(a) > 0.0)) throw std::domain_error("balanced_operator_inverse: W has rank < rank_cap");
  Mat K(r, r);
  for (int a = 0; a < r; ++a)
    for (int b = 0; b < r; ++b) K(a, b) = balanced_weight(svd.s(a), svd.s(b), N);
  Vec sc(r);
  for (int a = 0; a < r; ++a) sc(a) = 1.0 / balanced_weight(svd.s(a), 0.0, N);
  const Mat UtZ = U.transpose() * Z, ZV = Z * V, UtZV = UtZ * V;
  return U * UtZV.cwiseQuotient(K) * V.transpose() +
         U * sc.asDiagonal() * (UtZ - UtZV * V.transpose()) +
         (ZV - U * UtZV) * sc.asDiagonal() * V.transpose();
}

double bures_wasserstein_sq(const Mat& sigma, const Mat& sigma0) {
  const Mat r = psd_sqrt(sigma), r0 = psd_sqrt(sigma0);
  const double nuclear = thin_svd(r0 * r).s.sum();
  return sigma.trace() + sigma0.trace() - 2.0 * nuclear;
}

Mat ot_map(const Mat& sigma, const Mat& sigma0) {
  const Mat r0 = psd_sqrt(sigma0);
  const Mat T = r0 * spd_inv_sqrt(r0 * sigma * r0) * r0;
  return 0.5 * (T + T.transpose());
}

}  // namespace dlnflow
