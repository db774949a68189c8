#include "dlnflow/catalog.hpp"

#include <cmath>
#include <functional>

#include "dlnflow/error.hpp"
#include "bw_target.hpp"
#include "dlnflow/matfun.hpp"

namespace dlnflow {
namespace {

std::string label_of(const std::vector<int>& J) {
  std::string s = "J={";
  for (std::size_t i = 0; i < J.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(J[i] + 1);
  }
  return s + "}";
}

double binomial(int n, int k) {
  double c = 1.0;
  for (int i = 1; i <= k; ++i) c = c * (n - k + i) / i;
  return c;
}

// Calls visit(J) for every subset of {0..n-1} of size <= max_k, by size then lexicographically.
void for_each_subset(int n, int max_k, const std::function<void(const std::vector<int>&)>& visit) {
  for (int k = 0; k <= std::min(n, max_k); ++k) {
    std::vector<int> J(k);
    for (int i = 0; i < k; ++i) J[i] = i;
    while (true) {
      visit(J);
      int i = k - 1;
      while (i >= 0 && J[i] == n - k + i) --i;
      if (i < 0) break;
      ++J[i];
      for (int t = i + 1; t < k; ++t) J[t] = J[t - 1] + 1;
    }
  }
}

void check_count(int modes, int max_k, std::size_t max_points) {
  double count = 0;
  for (int k = 0; k <= std::min(modes, max_k); ++k) count += binomial(modes, k);
  if (count > static_cast<double>(max_points))
    throw InputError("catalog", "would list " + std::to_string(static_cast<long double>(count)) +
                                    " critical points (limit " + std::to_string(max_points) +
                                    "); lower max_rank");
}

}  // namespace

CriticalPointCatalog::CriticalPointCatalog(const Problem& problem, int max_rank, std::size_t max_points) {
  const int cap = static_cast<int>(std::min(problem.rows(), problem.cols()));
  const int max_k = std::min(max_rank < 0 ? problem.rank_bound() : max_rank, cap);

  if (const auto* sq = std::get_if<SquareLoss>(&problem.loss())) {
    if (!(sym_eig(sq->Cxx).values.minCoeff() > 0))
      throw InputError("Cxx", "must be positive definite for the critical-point catalog");
    const Mat c_inv_sqrt = spd_inv_sqrt(sq->Cxx);
    const ThinSvd q = thin_svd(sq->Cyx * c_inv_sqrt);
    int modes = 0;
    while (modes < q.s.size() && q.s(modes) > 1e-14 * q.s(0)) ++modes;
    check_count(modes, max_k, max_points);
    for_each_subset(modes, max_k, [&](const std::vector<int>& J) {
      Mat W = Mat::Zero(problem.rows(), problem.cols());
      double kept = 0.0;
      for (int i : J) {
        W += q.s(i) * q.U.col(i) * q.V.col(i).transpose();
        kept += q.s(i) * q.s(i);
      }
      points_.push_back({label_of(J), J, 0.5 * (sq->yy - kept), W * c_inv_sqrt});
    });
    return;
  }
  if (const BwTarget* t = problem.bw()) {
    stiefel_free_ = true;
    const int n = static_cast<int>(t->lambda.size());
    int modes = 0;  // only lambda_j > tau carry a critical point (Thm 4.4)
    while (modes < n && t->lambda(modes) > t->tau) ++modes;
    check_count(modes, max_k, max_points);
    for_each_subset(modes, max_k, [&](const std::vector<int>& J) {
      const int k = static_cast<int>(J.size());
      Mat A(n, k);
      std::vector<bool> kept(n, false);
      for (int c = 0; c < k; ++c) {
        A.col(c) = std::sqrt(t->lambda(J[c]) - t->tau) * t->omega.col(J[c]);
        kept[J[c]] = true;
      }
      double loss = 0.0;  // sum over discarded modes of (sqrt(lambda) - sqrt(tau))^2
      for (int i = 0; i < n; ++i)
        if (!kept[i]) {
          const double d = std::sqrt(t->lambda(i)) - std::sqrt(t->tau);
          loss += d * d;
        }
      points_.push_back({label_of(J), J, loss, A * Mat::Identity(k, problem.cols())});
      factors_.push_back(A);
    });
    return;
  }
  throw InputError("loss", "a critical-point catalog exists only for the square and Bures-Wasserstein losses");
}

std::pair<double, int> CriticalPointCatalog::nearest(const Mat& W) const {
  double best = std::numeric_limits<double>::infinity();
  int arg = -1;
  const double w2 = W.squaredNorm();
  for (std::size_t i = 0; i < points_.size(); ++i) {
    double d;
    if (stiefel_free_) {
      const Mat& A = factors_[i];
      const double nuc = A.cols() ? thin_svd(W.transpose() * A).s.sum() : 0.0;
      d = std::sqrt(std::max(0.0, w2 + A.squaredNorm() - 2.0 * nuc));
    } else {
      d = (W - points_[i].W).norm();
    }
    if (d < best) {
      best = d;
      arg = static_cast<int>(i);
    }
  }
  return {best, arg};
}

}  // namespace dlnflow
