#include "model.hpp"

#include <cmath>
#include <stdexcept>

#include "dlnflow/matfun.hpp"
#include "losses.hpp"
#include "small_gemm.hpp"

namespace dlnflow {
namespace {

using ConstMap = Eigen::Map<const Mat>;
using MutMap = Eigen::Map<Mat>;

}  // namespace

Model::Model(const Problem& problem)
    : problem_(problem), loss_(std::make_unique<cpu::LossEvaluator>(problem)) {
  if (const auto* deep = std::get_if<DeepFactorization>(&problem.parametrization())) {
    widths_ = deep->widths;
    const int N = problem.depth();
    prefix_.resize(N + 1);
    back_.resize(N + 1);
    dprefix_.resize(N + 1);
    dback_.resize(N + 1);
    offsets_.assign(N + 1, 0);
    for (int j = 1; j <= N; ++j) offsets_[j] = offsets_[j - 1] + widths_[j] * widths_[j - 1];
    for (int j = 1; j <= N; ++j) {
      prefix_[j].resize(widths_[j], widths_[0]);
      back_[j].resize(widths_[j], widths_[0]);
    }
  }
}

Model::~Model() = default;

double Model::loss(const Mat& W) { return loss_->value(W); }

double Model::loss_and_gradient(const Mat& W, Mat& G) { return loss_->value_and_gradient(W, G); }

Mat Model::end_to_end(const double* state) const {
  Mat W, work;
  end_to_end(state, W, work);
  return W;
}

void Model::end_to_end(const double* state, Mat& W, Mat& work) const {
  const auto& blocks = problem_.blocks();
  if (problem_.is_symmetric()) {
    const ConstMap U(state, blocks[0][0], blocks[0][1]);
    W.noalias() = U * U.transpose();
    return;
  }
  Index off = 0;
  W = ConstMap(state, blocks[0][0], blocks[0][1]);
  off += blocks[0][0] * blocks[0][1];
  for (std::size_t j = 1; j < blocks.size(); ++j) {
    const ConstMap Wj(state + off, blocks[j][0], blocks[j][1]);
    cpu::gemm(work, Wj, cpu::Op::N, W, cpu::Op::N);
    W.swap(work);
    off += blocks[j][0] * blocks[j][1];
  }
}

double Model::rhs(const Vec& state, Vec& dstate, bool want_loss) {
  dstate.resize(state.size());
  return rhs(state.data(), dstate.data(), want_loss);
}

double Model::rhs(const double* state, double* dstate, bool want_loss) {
  return std::visit(
      [&](const auto& p) -> double {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, DeepFactorization>) return rhs_deep(state, dstate, want_loss);
        if constexpr (std::is_same_v<P, SymmetricFactorization>) return rhs_symmetric(state, dstate, want_loss);
        if constexpr (std::is_same_v<P, EndToEndFlow>) return rhs_end_to_end(state, dstate, want_loss);
      },
      problem_.parametrization());
}

// grad_{W_j} = (W_N..W_{j+1})^T G (W_{j-1}..W_1)^T with prefix products P_j = W_j..W_1 and
// back-propagated B_j = (W_N..W_{j+1})^T G, so that grad_{W_j} = B_j P_{j-1}^T: 3(N-1)
// products per evaluation, never O(N^2).
double Model::rhs_deep(const double* state, double* dstate, bool want_loss) {
  const int N = problem_.depth();
  const std::vector<Index>& off = offsets_;
  auto factor = [&](int j) { return ConstMap(state + off[j - 1], widths_[j], widths_[j - 1]); };

  prefix_[1] = factor(1);
  for (int j = 2; j <= N; ++j) cpu::gemm(prefix_[j], factor(j), cpu::Op::N, prefix_[j - 1], cpu::Op::N);
  const double loss = loss_->value_and_gradient(prefix_[N], G_, want_loss);
  back_[N] = G_;
  for (int j = N - 1; j >= 1; --j) cpu::gemm(back_[j], factor(j + 1), cpu::Op::T, back_[j + 1], cpu::Op::N);

  for (int j = 1; j <= N; ++j) {
    MutMap D(dstate + off[j - 1], widths_[j], widths_[j - 1]);
    if (j == 1)
      D = -back_[1];
    else
      cpu::gemm(D, back_[j], cpu::Op::N, prefix_[j - 1], cpu::Op::T, -1.0);
  }
  return loss;
}

double Model::rhs_symmetric(const double* state, double* dstate, bool want_loss) {
  const auto& b = problem_.blocks()[0];
  const ConstMap U(state, b[0], b[1]);
  W_.noalias() = U * U.transpose();
  const double loss = loss_->value_and_gradient(W_, G_, want_loss);
  S_ = 0.5 * (G_ + G_.transpose());
  MutMap D(dstate, b[0], b[1]);
  D.noalias() = -S_ * U;
  return loss;
}

double Model::rhs_end_to_end(const double* state, double* dstate, bool want_loss) {
  const auto& p = std::get<EndToEndFlow>(problem_.parametrization());
  const ConstMap W(state, p.rows, p.cols);
  W_ = W;
  const double loss = loss_->value_and_gradient(W_, G_, want_loss);
  const ThinSvd svd = thin_svd(W_);
  const int r = std::min<int>(p.rank_cap, static_cast<int>(svd.s.size()));
  MutMap D(dstate, p.rows, p.cols);
  D = -balanced_operator(svd, r, G_, p.depth);
  return loss;
}

// Deep: f_j = -B_j P_{j-1}^T with P_j = W_j..W_1 and B_j = (W_N..W_{j+1})^T G. Along V:
// dP_j = V_j P_{j-1} + W_j dP_{j-1}, dG = H(P_N)[dP_N], dB_j = V_{j+1}^T B_{j+1} + W_{j+1}^T dB_{j+1},
// df_j = -(dB_j P_{j-1}^T + B_j dP_{j-1}^T). Symmetric: f = -S U with S = sym(G(U U^T)), so
// df = -(sym(dG) U + S V) with dG = H(U U^T)[V U^T + U V^T].
void Model::jvp(const double* state, const double* v, double* out) {
  linearize(state);
  jvp(v, out);
}

void Model::linearize(const double* state) {
  const Index n = problem_.state_size();
  lin_state_.resize(n);
  std::copy(state, state + n, lin_state_.data());
  lin_dstate_.resize(n);
  if (problem_.is_symmetric()) {
    rhs_symmetric(lin_state_.data(), lin_dstate_.data(), false);
    lin_W_ = W_, lin_S_ = S_;
    loss_->linearize(lin_W_);
    return;
  }
  if (widths_.empty()) throw std::invalid_argument("the Jacobian of the end-to-end flow is not implemented");
  rhs_deep(lin_state_.data(), lin_dstate_.data(), false);
  lin_prefix_ = prefix_, lin_back_ = back_;
  loss_->linearize(lin_prefix_[problem_.depth()]);
}

void Model::jvp(const double* v, double* out) {
  const auto& blocks = problem_.blocks();
  const double* state = lin_state_.data();
  if (problem_.is_symmetric()) {
    const ConstMap U(state, blocks[0][0], blocks[0][1]), V(v, blocks[0][0], blocks[0][1]);
    dW_.noalias() = V * U.transpose();
    dW_ += dW_.transpose().eval();
    loss_->hessian_vector(dW_, dG_);
    MutMap D(out, blocks[0][0], blocks[0][1]);
    D.noalias() = -(0.5 * (dG_ + dG_.transpose())) * U - lin_S_ * V;
    return;
  }
  const int N = problem_.depth();
  auto factor = [&](int j) { return ConstMap(state + offsets_[j - 1], widths_[j], widths_[j - 1]); };
  auto dir = [&](int j) { return ConstMap(v + offsets_[j - 1], widths_[j], widths_[j - 1]); };
  const std::vector<Mat>& P = lin_prefix_;
  const std::vector<Mat>& B = lin_back_;
  std::vector<Mat>& dP = dprefix_;
  std::vector<Mat>& dB = dback_;
  dP[1] = dir(1);
  for (int j = 2; j <= N; ++j) {
    cpu::gemm(dP[j], dir(j), cpu::Op::N, P[j - 1], cpu::Op::N);
    cpu::gemm(dP[j], factor(j), cpu::Op::N, dP[j - 1], cpu::Op::N, 1.0, true);
  }
  loss_->hessian_vector(dP[N], dB[N]);
  for (int j = N - 1; j >= 1; --j) {
    cpu::gemm(dB[j], dir(j + 1), cpu::Op::T, B[j + 1], cpu::Op::N);
    cpu::gemm(dB[j], factor(j + 1), cpu::Op::T, dB[j + 1], cpu::Op::N, 1.0, true);
  }
  for (int j = 1; j <= N; ++j) {
    MutMap D(out + offsets_[j - 1], widths_[j], widths_[j - 1]);
    if (j == 1)
      D = -dB[1];
    else {
      cpu::gemm(D, dB[j], cpu::Op::N, P[j - 1], cpu::Op::T, -1.0);
      cpu::gemm(D, B[j], cpu::Op::N, dP[j - 1], cpu::Op::T, -1.0, true);
    }
  }
}

bool Model::has_retraction() const { return std::holds_alternative<EndToEndFlow>(problem_.parametrization()); }

void Model::retract(double* state) const {
  const auto* p = std::get_if<EndToEndFlow>(&problem_.parametrization());
  if (!p || p->rank_cap >= std::min(p->rows, p->cols)) return;
  MutMap W(state, p->rows, p->cols);
  W = truncate_rank(W, p->rank_cap);
}

double Model::grad_norm(const double* state, const double* dstate) {
  if (!std::holds_alternative<EndToEndFlow>(problem_.parametrization()))
    return Eigen::Map<const Vec>(dstate, problem_.state_size()).norm();
  const auto& p = std::get<EndToEndFlow>(problem_.parametrization());
  // -dL/dt = <grad L1, A_W(grad L1)> >= 0 (A_W is PSD).
  loss_->value_and_gradient(ConstMap(state, p.rows, p.cols), G_);
  const double diss = -G_.cwiseProduct(ConstMap(dstate, p.rows, p.cols)).sum();
  return std::sqrt(std::max(diss, 0.0));
}

double Model::balance_defect(const double* state) const {
  if (widths_.empty()) return 0.0;
  const int N = problem_.depth();
  double sum = 0.0;
  Index off = 0;
  for (int j = 1; j < N; ++j) {
    const ConstMap Wj(state + off, widths_[j], widths_[j - 1]);
    off += widths_[j] * widths_[j - 1];
    const ConstMap Wn(state + off, widths_[j + 1], widths_[j]);
    sum += (Wj * Wj.transpose() - Wn.transpose() * Wn).norm();
  }
  return sum;
}

Vec Model::spectrum(const double* state) const {
  if (problem_.is_symmetric()) {
    const auto& b = problem_.blocks()[0];
    const Vec s = thin_svd(ConstMap(state, b[0], b[1])).s;
    Vec ev = Vec::Zero(b[0]);
    ev.head(s.size()) = s.cwiseAbs2();
    return ev;
  }
  return thin_svd(end_to_end(state)).s;
}

}  // namespace dlnflow
