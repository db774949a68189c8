#include "losses.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "../core/bw_target.hpp"
#include "dlnflow/matfun.hpp"
#include "small_gemm.hpp"

namespace dlnflow::cpu {

LossEvaluator::LossEvaluator(const Problem& problem)
    : problem_(problem), rank_bound_(problem.rank_bound()) {
  if (const auto* sq = std::get_if<SquareLoss>(&problem.loss())) {
    if (auto opt = square_optimum(*sq)) {
      centred_ = true;
      w_opt_ = std::move(opt->w_opt);
      l_opt_ = opt->l_opt;
    }
  }
}

double LossEvaluator::value(const Mat& W) {
  return std::visit(
      [&](const auto& l) -> double {
        using L = std::decay_t<decltype(l)>;
        if constexpr (std::is_same_v<L, SquareLoss>) return square(W, nullptr);
        if constexpr (std::is_same_v<L, BuresWassersteinLoss>) return bures_wasserstein(W, nullptr);
        if constexpr (std::is_same_v<L, SensingLoss>) return sensing(W, nullptr);
        if constexpr (std::is_same_v<L, CompletionLoss>) return completion(W, nullptr);
      },
      problem_.loss());
}

double LossEvaluator::value_and_gradient(const Mat& W, Mat& G, bool want_value) {
  return std::visit(
      [&](const auto& l) -> double {
        using L = std::decay_t<decltype(l)>;
        if constexpr (std::is_same_v<L, SquareLoss>) return square(W, &G, want_value);
        if constexpr (std::is_same_v<L, BuresWassersteinLoss>) return bures_wasserstein(W, &G);
        if constexpr (std::is_same_v<L, SensingLoss>) return sensing(W, &G);
        if constexpr (std::is_same_v<L, CompletionLoss>) return completion(W, &G);
      },
      problem_.loss());
}

double LossEvaluator::square(const Mat& W, Mat* G, bool want_value) {
  const auto& l = std::get<SquareLoss>(problem_.loss());
  if (G) {
    G->resize(W.rows(), W.cols());
    gemm(*G, W, Op::N, l.Cxx, Op::N);
    *G -= l.Cyx;
  }
  if (!want_value) return std::numeric_limits<double>::quiet_NaN();
  if (centred_) {
    diff_ = W - w_opt_;
    gemm(tmp_, diff_, Op::N, l.Cxx, Op::N);
    return 0.5 * tmp_.cwiseProduct(diff_).sum() + l_opt_;
  }
  gemm(tmp_, W, Op::N, l.Cxx, Op::N);
  return 0.5 * (tmp_.cwiseProduct(W).sum() - 2.0 * W.cwiseProduct(l.Cyx).sum() + l.yy);
}

double LossEvaluator::bures_wasserstein(const Mat& W, Mat* G) {
  const BwTarget& t = *problem_.bw();
  const Mat M = t.sqrt_sigma0 * W;
  if (t.tau > 0) {
    // A_tau = M M^T + tau Sigma0 is SPD (lambda_min >= tau lambda_n), so no rank decisions.
    // T = Sigma0^{1/2} A_tau^{-1/2} Sigma0^{1/2} is the OT map; L = tr((T-I) S_tau (T-I))
    // = ||(T-I) W||^2 + tau ||T-I||^2 (Brechet et al. eq. (10), corrected: docs/theory.md §9)
    // has no cancellation.
    const Mat A = M * M.transpose() + t.tau * t.sigma0;
    Mat T = t.sqrt_sigma0 * spd_inv_sqrt(A) * t.sqrt_sigma0;
    T.diagonal().array() -= 1.0;  // T - I
    const Mat TW = T * W;
    if (G) *G = -2.0 * TW;  // 2 (I - T) W
    return TW.squaredNorm() + t.tau * T.squaredNorm();
  }
  // tau = 0: polar factor of M from its thin SVD on the numerical range, restricted to the
  // rank bound of the parametrization (Brechet et al. Lemma D.3, eq. (38); docs/theory.md §2.3, §8):
  // grad = 2 (W - Sigma0^{1/2} U V^T), L = ||W - Sigma0^{1/2} U V^T||^2 + tr S0 - tr(U^T S0 U).
  const ThinSvd svd = thin_svd(M);
  int r = 0;
  const double cutoff = 4.0 * std::numeric_limits<double>::epsilon() *
                        static_cast<double>(std::max(M.rows(), M.cols())) * (svd.s.size() ? svd.s(0) : 0.0);
  while (r < svd.s.size() && r < rank_bound_ && svd.s(r) > cutoff) ++r;
  const auto U = svd.U.leftCols(r);
  const Mat P = t.sqrt_sigma0 * (U * svd.V.leftCols(r).transpose());
  const Mat D = W - P;
  if (G) *G = 2.0 * D;
  const double captured = (U.transpose() * t.sigma0 * U).trace();
  return D.squaredNorm() + std::max(t.trace - captured, 0.0);
}

void LossEvaluator::linearize(const Mat& W) {
  const BwTarget* t = problem_.bw();
  if (!t) return;  // the other losses' Hessians do not depend on W
  lin_W_ = W;
  const Mat M = t->sqrt_sigma0 * W;
  if (t->tau > 0) {
    const SymEig eig = sym_eig(M * M.transpose() + t->tau * t->sigma0);
    lin_Q_ = eig.vectors;
    lin_r_ = eig.values.cwiseSqrt();
    lin_T_ = t->sqrt_sigma0 * (lin_Q_ * lin_r_.cwiseInverse().asDiagonal() * lin_Q_.transpose()) * t->sqrt_sigma0;
    lin_T_.diagonal().array() -= 1.0;
    return;
  }
  // The numerical range as bures_wasserstein() cuts it.
  const ThinSvd svd = thin_svd(M);
  int r = 0;
  const double cutoff = 4.0 * std::numeric_limits<double>::epsilon() *
                        static_cast<double>(std::max(M.rows(), M.cols())) * (svd.s.size() ? svd.s(0) : 0.0);
  while (r < svd.s.size() && r < rank_bound_ && svd.s(r) > cutoff) ++r;
  lin_U_ = svd.U.leftCols(r), lin_V_ = svd.V.leftCols(r), lin_s_ = svd.s.head(r);
}

void LossEvaluator::hessian_vector(const Mat& E, Mat& dG) {
  std::visit(
      [&](const auto& l) {
        using L = std::decay_t<decltype(l)>;
        if constexpr (std::is_same_v<L, SquareLoss>) {
          gemm(dG, E, Op::N, l.Cxx, Op::N);
        } else if constexpr (std::is_same_v<L, SensingLoss>) {
          dG.setZero(E.rows(), E.cols());
          for (const Mat& A : l.A) dG += A.cwiseProduct(E).sum() * A;
        } else if constexpr (std::is_same_v<L, CompletionLoss>) {
          dG.setZero(E.rows(), E.cols());
          for (const auto& [i, j] : l.omega) dG(i, j) += E(i, j);  // an entry listed twice counts twice
        } else {
          const BwTarget& t = *problem_.bw();
          if (!(t.tau > 0)) {
            bw_plain_hessian_vector(E, dG);
            return;
          }
          // G = -2 (T - I) W with T = S^{1/2} A^{-1/2} S^{1/2}, A = M M^T + tau S, M = S^{1/2} W:
          // dG = -2 (S^{1/2} dR S^{1/2} W + (T - I) E), dR = D(A^{-1/2})[dA] by the Daleckii-Krein
          // formula in A's eigenbasis (Q, r^2 kept by linearize), whose divided differences of
          // x^{-1/2}, -1 / (sqrt(a) sqrt(b) (sqrt(a) + sqrt(b))), have no cancellation.
          const Mat M = t.sqrt_sigma0 * lin_W_, dM = t.sqrt_sigma0 * E;
          const Vec& r = lin_r_;
          const Index n = r.size();
          Mat X = lin_Q_.transpose() * (dM * M.transpose() + M * dM.transpose()) * lin_Q_;
          for (Index a = 0; a < n; ++a)
            for (Index b = 0; b < n; ++b) X(a, b) *= -1.0 / (r(a) * r(b) * (r(a) + r(b)));
          const Mat dR = lin_Q_ * X * lin_Q_.transpose();
          dG = -2.0 * (t.sqrt_sigma0 * dR * t.sqrt_sigma0 * lin_W_ + lin_T_ * E);
        }
      },
      problem_.loss());
}

// tau = 0: G = 2 (W - S^{1/2} U_r V_r^T) with the polar factor of M = S^{1/2} W on its numerical
// range (as bures_wasserstein() cuts it; U_r, s_r, V_r kept by linearize). Its derivative along
// dM = S^{1/2} E, for M of rank r:
// U_r K V_r^T + (I - U_r U_r^T) dM V_r S_r^{-1} V_r^T + U_r S_r^{-1} U_r^T dM (I - V_r V_r^T),
// K_ab = (Om_ab - Om_ba) / (s_a + s_b), Om = U_r^T dM V_r (the rotation part of the polar factor
// turns at the rate of the skew part of Om over the sum of the singular values).
void LossEvaluator::bw_plain_hessian_vector(const Mat& E, Mat& dG) {
  const BwTarget& t = *problem_.bw();
  const Mat dM = t.sqrt_sigma0 * E;
  const Mat &U = lin_U_, &V = lin_V_;
  const Vec& s = lin_s_;
  const Index r = s.size();
  const Mat Om = U.transpose() * dM * V;
  Mat K(r, r);
  for (Index a = 0; a < r; ++a)
    for (Index b = 0; b < r; ++b) K(a, b) = (Om(a, b) - Om(b, a)) / (s(a) + s(b));
  const Mat dMV = dM * V, dMtU = dM.transpose() * U;
  const Mat dPolar = U * K * V.transpose() + (dMV - U * (U.transpose() * dMV)) * s.cwiseInverse().asDiagonal() * V.transpose() +
                     U * s.cwiseInverse().asDiagonal() * (dMtU - V * (V.transpose() * dMtU)).transpose();
  dG = 2.0 * (E - t.sqrt_sigma0 * dPolar);
}

double LossEvaluator::sensing(const Mat& W, Mat* G) {
  const auto& l = std::get<SensingLoss>(problem_.loss());
  if (G) G->setZero(W.rows(), W.cols());
  double sum = 0.0;
  for (std::size_t i = 0; i < l.A.size(); ++i) {
    const double r = l.A[i].cwiseProduct(W).sum() - l.y(static_cast<Index>(i));
    sum += r * r;
    if (G) *G += r * l.A[i];
  }
  return 0.5 * sum;
}

double LossEvaluator::completion(const Mat& W, Mat* G) {
  const auto& l = std::get<CompletionLoss>(problem_.loss());
  if (G) G->setZero(W.rows(), W.cols());
  double sum = 0.0;
  for (const auto& [i, j] : l.omega) {
    const double r = W(i, j) - l.target(i, j);
    sum += r * r;
    if (G) (*G)(i, j) += r;
  }
  return 0.5 * sum;
}

}  // namespace dlnflow::cpu
