#include "rebalance.hpp"

#include <Eigen/Eigenvalues>
#include <cmath>
#include <limits>

#include "small_gemm.hpp"

namespace dlnflow::cpu {

namespace {
using ConstMap = Eigen::Map<const Mat>;
using MutMap = Eigen::Map<Mat>;

double dot(const std::vector<Mat>& x, const std::vector<Mat>& y) {
  double s = 0;
  for (std::size_t j = 0; j < x.size(); ++j) s += x[j].cwiseProduct(y[j]).sum();
  return s;
}
}  // namespace

Rebalancer::Rebalancer(const Problem& problem) {
  const auto* deep = std::get_if<DeepFactorization>(&problem.parametrization());
  if (!deep) return;
  widths_ = deep->widths;
  depth_ = static_cast<int>(widths_.size()) - 1;
  offsets_.assign(static_cast<std::size_t>(depth_) + 1, 0);
  for (int j = 1; j <= depth_; ++j) offsets_[j] = offsets_[j - 1] + widths_[j] * widths_[j - 1];
  const int H = std::max(depth_ - 1, 0);
  for (auto* v : {&d0_, &a_, &u_, &r_, &z_, &p_, &q_, &s_, &tmp_}) v->resize(H);
  c_.resize(H);
  w_.resize(depth_);
}

void Rebalancer::defects(const double* y, std::vector<Mat>& D) const {
  for (int j = 1; j < depth_; ++j) {
    const ConstMap Wj(y + offsets_[j - 1], widths_[j], widths_[j - 1]);
    const ConstMap Wn(y + offsets_[j], widths_[j + 1], widths_[j]);
    gemm(D[j - 1], Wj, Op::N, Wj, Op::T);
    gemm(D[j - 1], Wn, Op::T, Wn, Op::N, -1.0, true);
  }
}

void Rebalancer::keep(const double* y0) {
  if (active()) defects(y0, d0_);
  have_basis_ = false;
}

// out_j = {S_j, A_j + B_j} - 2 W_j S_{j-1} W_j^T - 2 W_{j+1}^T S_{j+1} W_{j+1}: the first-order
// change of D_j under W_j -> (I + S_j) W_j (I + S_{j-1})^{-1}.
void Rebalancer::apply_operator(const std::vector<Mat>& S, std::vector<Mat>& out) {
  const int H = depth_ - 1;
  for (int j = 0; j < H; ++j) {  // hidden layer j + 1; factor w_[j] = W_{j+1}
    Mat& t = tmp_[j];
    gemm(t, S[j], Op::N, a_[j], Op::N);
    out[j] = t + t.transpose();
    if (j > 0) {
      gemm(t, w_[j], Op::N, S[j - 1], Op::N);
      gemm(out[j], t, Op::N, w_[j], Op::T, -2.0, true);
    }
    if (j + 1 < H) {
      gemm(t, w_[j + 1], Op::T, S[j + 1], Op::N);
      gemm(out[j], t, Op::N, w_[j + 1], Op::N, -2.0, true);
    }
  }
}

// Z_j = the solution of {Z_j, A_j + B_j} = R_j, in the eigenbasis of A_j + B_j.
void Rebalancer::precondition(const std::vector<Mat>& R, std::vector<Mat>& Z) {
  for (std::size_t j = 0; j < R.size(); ++j) {
    const Vec& c = c_[j];
    // Below roundoff of the largest, an eigenvalue is noise: dividing by it would only blow up
    // the correction where there is nothing to correct.
    const double floor = (c.maxCoeff() > 0 ? c.maxCoeff() : 1.0) * 1e-14;
    Mat& t = tmp_[j];
    gemm(t, u_[j], Op::T, R[j], Op::N);
    gemm(Z[j], t, Op::N, u_[j], Op::N);
    for (Index b = 0; b < Z[j].cols(); ++b)
      for (Index a = 0; a < Z[j].rows(); ++a) Z[j](a, b) /= std::max(c(a) + c(b), floor);
    gemm(t, u_[j], Op::N, Z[j], Op::N);
    gemm(Z[j], t, Op::N, u_[j], Op::T);
  }
}

void Rebalancer::restore(double* y) {
  if (!active()) return;
  const int N = depth_, H = N - 1;
  for (int j = 0; j < N; ++j) w_[j] = ConstMap(y + offsets_[j], widths_[j + 1], widths_[j]);
  for (int j = 0; j < H; ++j) {
    gemm(a_[j], w_[j + 1], Op::T, w_[j + 1], Op::N);
    gemm(a_[j], w_[j], Op::N, w_[j], Op::T, 1.0, true);
  }
  defects(y, r_);
  for (int j = 0; j < H; ++j) r_[j] = d0_[j] - r_[j];
  if (!(dot(r_, r_) > 0)) return;  // nothing drifted, or y is not finite (the driver's check reports that)
  for (int j = 0; j < H; ++j) s_[j].setZero(widths_[j + 1], widths_[j + 1]);
  // Any fixed positive definite preconditioner keeps the iteration correct, and A_j + B_j moves
  // slowly on the plateaus where most implicit steps are: its eigenbasis is kept from one call to
  // the next while three iterations remove 90% of the residual. Where a kept one no longer does
  // (an escape), it is refreshed and the iteration restarted from where it got.
  for (int round = 0; round < 2; ++round) {
    const bool kept = have_basis_;
    for (int j = 0; j < H && !have_basis_; ++j) {
      eig_.compute(a_[j]);
      if (eig_.info() != Eigen::Success) return;
      u_[j] = eig_.eigenvectors(), c_[j] = eig_.eigenvalues().cwiseMax(0.0);
    }
    const double rr = dot(r_, r_);
    precondition(r_, z_);
    p_ = z_;
    double rz = dot(r_, z_);
    for (int it = 0; it < kIterations; ++it) {
      apply_operator(p_, q_);
      const double pq = dot(p_, q_);
      if (!(pq > 0)) break;
      const double a = rz / pq;
      for (int j = 0; j < H; ++j) s_[j] += a * p_[j], r_[j] -= a * q_[j];
      if (it + 1 == kIterations) break;
      precondition(r_, z_);
      const double rz1 = dot(r_, z_);
      for (int j = 0; j < H; ++j) p_[j] = z_[j] + (rz1 / rz) * p_[j];
      rz = rz1;
    }
    have_basis_ = dot(r_, r_) <= 1e-2 * rr;
    if (have_basis_ || !kept) break;
  }
  double smax = 0;
  for (const Mat& S : s_) smax = std::max(smax, S.cwiseAbs().maxCoeff());
  if (!(smax <= 1e-3)) return;  // not a drift: leave y alone
  // W_j -> (I + S_j) W_j (I - S_{j-1} + S_{j-1}^2), with S_0 = S_N = 0.
  for (int j = 0; j < N; ++j) {
    Mat& x = w_[j];  // becomes (I + S_j) W_j
    if (j < H) {
      gemm(f1_, s_[j], Op::N, x, Op::N);
      x += f1_;
    }
    if (j > 0) {
      const Mat& S = s_[j - 1];
      gemm(f2_, S, Op::N, S, Op::N);
      f2_ -= S;
      gemm(f1_, x, Op::N, f2_, Op::N);
      x += f1_;
    }
    MutMap(y + offsets_[j], widths_[j + 1], widths_[j]) = x;
  }
}
}  // namespace dlnflow::cpu
