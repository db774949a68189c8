#include "dlnflow/problem.hpp"

#include <Eigen/Cholesky>
#include <algorithm>
#include <cmath>
#include <sstream>

#include "dlnflow/error.hpp"
#include "dlnflow/matfun.hpp"
#include "bw_target.hpp"
#include "overloaded.hpp"

namespace dlnflow {
namespace {

std::string shape(Index r, Index c) { return std::to_string(r) + "x" + std::to_string(c); }

void require_finite(const std::string& field, const Mat& M) {
  for (Index j = 0; j < M.cols(); ++j)
    for (Index i = 0; i < M.rows(); ++i)
      if (!std::isfinite(M(i, j))) {
        std::ostringstream os;
        os << "entry (" << i << "," << j << ") is " << M(i, j) << "; all entries must be finite";
        throw InputError(field, os.str());
      }
}

void require_shape(const std::string& field, const Mat& M, Index r, Index c) {
  if (M.rows() != r || M.cols() != c)
    throw InputError(field, "has shape " + shape(M.rows(), M.cols()) + ", expected " + shape(r, c));
}

// Symmetric within a relative tolerance and with no eigenvalue below -tol * scale.
void require_symmetric_psd(const std::string& field, const Mat& S) {
  if (S.rows() != S.cols() || S.rows() == 0)
    throw InputError(field, "must be a non-empty square matrix, got " + shape(S.rows(), S.cols()));
  require_finite(field, S);
  const double scale = std::max(S.cwiseAbs().maxCoeff(), 1e-300);
  const double asym = (S - S.transpose()).cwiseAbs().maxCoeff();
  if (asym > 1e-12 * scale) {
    std::ostringstream os;
    os << "is not symmetric (max |S - S^T| = " << asym << ")";
    throw InputError(field, os.str());
  }
  const double lmin = sym_eig(S).values.minCoeff();
  if (lmin < -1e-12 * scale) {
    std::ostringstream os;
    os << "is indefinite (smallest eigenvalue " << lmin << ")";
    throw InputError(field, os.str());
  }
}

// Shape of W the loss acts on; 0 means "any" (the BW loss leaves the column count free).
std::array<Index, 2> validate_loss(const LossSpec& loss) {
  return std::visit(
      Overloaded{
          [](const SquareLoss& l) -> std::array<Index, 2> {
            require_symmetric_psd("Cxx", l.Cxx);
            require_finite("Cyx", l.Cyx);
            if (l.Cyx.cols() != l.Cxx.rows())
              throw InputError("Cyx", "has " + std::to_string(l.Cyx.cols()) +
                                          " columns but Cxx is " +
                                          shape(l.Cxx.rows(), l.Cxx.cols()));
            if (!std::isfinite(l.yy) || l.yy < 0)
              throw InputError("yy", "must be a finite ||Y||_F^2 >= 0, got " + std::to_string(l.yy));
            return {l.Cyx.rows(), l.Cxx.rows()};
          },
          [](const BuresWassersteinLoss& l) -> std::array<Index, 2> {
            require_symmetric_psd("sigma0", l.sigma0);
            if (!std::isfinite(l.tau) || l.tau < 0)
              throw InputError("tau", "must be finite and >= 0, got " + std::to_string(l.tau));
            if (l.tau > 0 && !(sym_eig(l.sigma0).values.minCoeff() > 0))
              throw InputError("sigma0", "must be positive definite when tau > 0 (tau = " +
                                             std::to_string(l.tau) + ")");
            return {l.sigma0.rows(), 0};
          },
          [](const SensingLoss& l) -> std::array<Index, 2> {
            if (l.A.empty()) throw InputError("A", "needs at least one measurement matrix");
            if (static_cast<Index>(l.A.size()) != l.y.size())
              throw InputError("y", "has " + std::to_string(l.y.size()) + " entries for " +
                                        std::to_string(l.A.size()) + " measurement matrices");
            for (std::size_t i = 0; i < l.A.size(); ++i) {
              const std::string f = "A[" + std::to_string(i) + "]";
              require_shape(f, l.A[i], l.A[0].rows(), l.A[0].cols());
              require_finite(f, l.A[i]);
            }
            require_finite("y", l.y);
            return {l.A[0].rows(), l.A[0].cols()};
          },
          [](const CompletionLoss& l) -> std::array<Index, 2> {
            if (l.omega.empty()) throw InputError("omega", "is empty; observe at least one entry");
            if (l.target.size() == 0) throw InputError("target", "is empty");
            for (std::size_t k = 0; k < l.omega.size(); ++k) {
              const auto [i, j] = l.omega[k];
              if (i < 0 || j < 0 || i >= l.target.rows() || j >= l.target.cols())
                throw InputError("omega", "entry " + std::to_string(k) + " = (" +
                                              std::to_string(i) + "," + std::to_string(j) +
                                              ") is outside the " +
                                              shape(l.target.rows(), l.target.cols()) + " target");
              if (!std::isfinite(l.target(i, j)))
                throw InputError("target", "observed entry (" + std::to_string(i) + "," +
                                               std::to_string(j) + ") is not finite");
            }
            return {l.target.rows(), l.target.cols()};
          },
      },
      loss);
}

BwTarget make_bw_target(const BuresWassersteinLoss& l) {
  BwTarget t;
  t.sigma0 = 0.5 * (l.sigma0 + l.sigma0.transpose());
  const SymEig e = sym_eig(t.sigma0);
  t.lambda = e.values.cwiseMax(0.0);
  t.omega = e.vectors;
  t.sqrt_sigma0 = t.omega * t.lambda.cwiseSqrt().asDiagonal() * t.omega.transpose();
  t.trace = t.sigma0.trace();
  t.tau = l.tau;
  return t;
}

}  // namespace

SquareLoss regression_loss(const Mat& X, const Mat& Y) {
  if (X.cols() != Y.cols())
    throw InputError("Y", "has " + std::to_string(Y.cols()) + " samples (columns), X has " +
                              std::to_string(X.cols()));
  return {X * X.transpose(), Y * X.transpose(), Y.squaredNorm()};
}

std::optional<SquareOptimum> square_optimum(const SquareLoss& l) {
  const Eigen::LLT<Mat> llt(l.Cxx);
  if (llt.info() != Eigen::Success || sym_eig(l.Cxx).values.minCoeff() <= 0) return std::nullopt;
  SquareOptimum o;
  o.w_opt = llt.solve(l.Cyx.transpose()).transpose();  // Cyx Cxx^{-1}
  // L* = 1/2 (||Y||^2 - tr(W* Cxx W*^T)); may be slightly negative from roundoff of the data,
  // never of the iterate.
  o.l_opt = 0.5 * (l.yy - (o.w_opt * l.Cxx).cwiseProduct(o.w_opt).sum());
  return o;
}

SquareLoss autoencoder_loss(const Mat& X) { return regression_loss(X, X); }

SquareLoss matrix_approximation_loss(const Mat& target) {
  return {Mat::Identity(target.cols(), target.cols()), target, target.squaredNorm()};
}

Problem::Problem(LossSpec loss, Parametrization parametrization)
    : loss_(std::move(loss)), param_(std::move(parametrization)) {
  const auto loss_shape = validate_loss(loss_);

  std::visit(
      Overloaded{
          [&](const DeepFactorization& p) {
            if (p.widths.size() < 2)
              throw InputError("widths", "needs depth N >= 1, i.e. at least 2 widths; got " +
                                             std::to_string(p.widths.size()));
            for (std::size_t j = 0; j < p.widths.size(); ++j)
              if (p.widths[j] < 1)
                throw InputError("widths", "width d_" + std::to_string(j) + " = " +
                                               std::to_string(p.widths[j]) + " must be >= 1");
            depth_ = static_cast<int>(p.widths.size()) - 1;
            rows_ = p.widths.back();
            cols_ = p.widths.front();
            rank_bound_ = *std::min_element(p.widths.begin(), p.widths.end());
            for (int j = 1; j <= depth_; ++j) blocks_.push_back({p.widths[j], p.widths[j - 1]});
          },
          [&](const SymmetricFactorization& p) {
            if (p.d < 1) throw InputError("d", "must be >= 1, got " + std::to_string(p.d));
            if (p.k < 1) throw InputError("k", "must be >= 1, got " + std::to_string(p.k));
            depth_ = 2;
            rows_ = cols_ = p.d;
            rank_bound_ = std::min(p.d, p.k);
            blocks_.push_back({p.d, p.k});
          },
          [&](const EndToEndFlow& p) {
            if (p.depth < 1)
              throw InputError("depth", "must be >= 1, got " + std::to_string(p.depth));
            if (p.rows < 1 || p.cols < 1)
              throw InputError("shape", "rows and cols must be >= 1, got " + shape(p.rows, p.cols));
            if (p.rank_cap < 1 || p.rank_cap > std::min(p.rows, p.cols))
              throw InputError("rank_cap", "must be in [1, " + std::to_string(std::min(p.rows, p.cols)) +
                                               "], got " + std::to_string(p.rank_cap));
            depth_ = p.depth;
            rows_ = p.rows;
            cols_ = p.cols;
            rank_bound_ = p.rank_cap;
            blocks_.push_back({p.rows, p.cols});
          },
      },
      param_);

  if (loss_shape[0] != rows_ || (loss_shape[1] != 0 && loss_shape[1] != cols_))
    throw InputError("dimensions", "the loss acts on " + shape(loss_shape[0], loss_shape[1]) +
                                       " matrices (0 = any) but the parametrization gives " +
                                       shape(rows_, cols_));
  if (const auto* bw = std::get_if<BuresWassersteinLoss>(&loss_)) bw_ = std::make_shared<const BwTarget>(make_bw_target(*bw));
  for (const auto& b : blocks_) state_size_ += b[0] * b[1];
}

}  // namespace dlnflow
