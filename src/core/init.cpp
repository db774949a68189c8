#include "dlnflow/init.hpp"

#include <Random123/boxmuller.hpp>
#include <Random123/philox.h>
#include <algorithm>
#include <cmath>

#include "dlnflow/catalog.hpp"
#include "dlnflow/error.hpp"
#include "dlnflow/matfun.hpp"

namespace dlnflow {

const char* to_string(ScaleOn on) { return on == ScaleOn::Factors ? "factors" : "end_to_end"; }

namespace {

// Stream numbers, so that adding a random ingredient never shifts another one's bits.
constexpr std::uint64_t kStreamEndToEnd = 0;
constexpr std::uint64_t kStreamFactor = 1;        // + j for factor j
constexpr std::uint64_t kStreamFrame = 1 << 16;   // + j for hidden frame Q_j
constexpr std::uint64_t kStreamNoise = 2 << 16;   // + j for the noise on block j

Mat rect_identity(Index r, Index c, double scale) { return scale * Mat::Identity(r, c); }

int structural_rank(const ThinSvd& svd, const Mat& W) {
  const double rtol = static_cast<double>(std::max(W.rows(), W.cols())) *
                      std::numeric_limits<double>::epsilon();
  return numerical_rank(svd.s, rtol);
}

std::vector<Mat> symmetric_root(const Mat& W0, int k) {
  if (W0.rows() != W0.cols() || (W0 - W0.transpose()).cwiseAbs().maxCoeff() > 1e-12 * (W0.cwiseAbs().maxCoeff() + 1e-300))
    throw InputError("init.W0", "must be symmetric for W = U U^T");
  const SymEig e = sym_eig(W0);
  const double scale = std::max(std::abs(e.values(0)), std::abs(e.values(e.values.size() - 1)));
  if (e.values.minCoeff() < -1e-12 * scale)
    throw InputError("init.W0", "must be positive semidefinite for W = U U^T (eigenvalue " +
                                    std::to_string(e.values.minCoeff()) + ")");
  int r = 0;
  while (r < e.values.size() && e.values(r) > 1e-14 * scale) ++r;
  if (r > k)
    throw InputError("init.W0", "has rank " + std::to_string(r) + " > k = " + std::to_string(k));
  Mat U = Mat::Zero(W0.rows(), k);
  U.leftCols(r) = e.vectors.leftCols(r) * e.values.head(r).cwiseSqrt().asDiagonal();
  return {U};
}

// Start of any parametrization from a given end-to-end matrix.
std::vector<Mat> from_end_to_end(const Problem& problem, const Mat& W0, bool random_frames,
                                 std::uint64_t seed, std::uint64_t trajectory) {
  if (W0.rows() != problem.rows() || W0.cols() != problem.cols())
    throw InputError("init.W0", "has shape " + std::to_string(W0.rows()) + "x" +
                                    std::to_string(W0.cols()) + ", the problem's W is " +
                                    std::to_string(problem.rows()) + "x" +
                                    std::to_string(problem.cols()));
  return std::visit(
      [&](const auto& p) -> std::vector<Mat> {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, DeepFactorization>)
          return balanced_factors(W0, p.widths, random_frames, seed, trajectory);
        if constexpr (std::is_same_v<P, SymmetricFactorization>) return symmetric_root(W0, p.k);
        if constexpr (std::is_same_v<P, EndToEndFlow>) {
          const ThinSvd svd = thin_svd(W0);
          if (structural_rank(svd, W0) > p.rank_cap)
            throw InputError("init.W0", "has rank above rank_cap = " + std::to_string(p.rank_cap));
          return {W0};
        }
      },
      problem.parametrization());
}

}  // namespace

Mat haar_frame(Index rows, Index cols, std::uint64_t seed, std::uint64_t trajectory,
               std::uint64_t stream) {
  const Mat G = gaussian_matrix(rows, cols, seed, trajectory, stream);
  Eigen::HouseholderQR<Mat> qr(G);
  Mat Q = qr.householderQ() * Mat::Identity(rows, cols);
  // Sign fix makes the frame Haar-distributed rather than QR-convention dependent.
  const Mat R = qr.matrixQR().topLeftCorner(cols, cols);
  for (Index j = 0; j < cols; ++j)
    if (R(j, j) < 0) Q.col(j) *= -1.0;
  return Q;
}

Mat gaussian_matrix(Index rows, Index cols, std::uint64_t seed, std::uint64_t trajectory,
                    std::uint64_t stream) {
  using Rng = r123::Philox4x64;
  Rng rng;
  const Rng::key_type key = {{seed, trajectory}};
  Rng::ctr_type ctr = {{stream, 0, 0, 0}};
  Mat G(rows, cols);
  double* out = G.data();
  const Index n = G.size();
  for (Index i = 0; i < n; i += 4) {
    const Rng::ctr_type bits = rng(ctr, key);
    ++ctr[1];
    const r123::double2 a = r123::boxmuller(bits[0], bits[1]);
    const r123::double2 b = r123::boxmuller(bits[2], bits[3]);
    const double z[4] = {a.x, a.y, b.x, b.y};
    for (Index k = 0; k < 4 && i + k < n; ++k) out[i + k] = z[k];
  }
  return G;
}

std::vector<Mat> balanced_factors(const Mat& W0, const std::vector<int>& widths, bool random_frames,
                                  std::uint64_t seed, std::uint64_t trajectory) {
  const int N = static_cast<int>(widths.size()) - 1;
  const ThinSvd svd = thin_svd(W0);
  const int r = structural_rank(svd, W0);
  const int bottleneck = *std::min_element(widths.begin(), widths.end());
  if (r > bottleneck)
    throw InputError("init.W0", "has rank " + std::to_string(r) + " > bottleneck width " +
                                    std::to_string(bottleneck));
  const Vec root = svd.s.head(r).array().pow(1.0 / N).matrix();
  std::vector<Mat> Q(N + 1);
  Q[0] = svd.V.leftCols(r);
  Q[N] = svd.U.leftCols(r);
  for (int j = 1; j < N; ++j)
    Q[j] = random_frames ? haar_frame(widths[j], r, seed, trajectory, kStreamFrame + j)
                         : rect_identity(widths[j], r, 1.0);
  std::vector<Mat> factors(N);
  for (int j = 1; j <= N; ++j) factors[j - 1] = Q[j] * root.asDiagonal() * Q[j - 1].transpose();
  return factors;
}

std::vector<Mat> unpack_state(const Problem& problem, const Vec& state) {
  std::vector<Mat> out;
  Index off = 0;
  for (const auto& b : problem.blocks()) {
    out.push_back(Eigen::Map<const Mat>(state.data() + off, b[0], b[1]));
    off += b[0] * b[1];
  }
  return out;
}

Vec pack_state(const Problem& problem, const std::vector<Mat>& matrices) {
  const auto& blocks = problem.blocks();
  if (matrices.size() != blocks.size())
    throw InputError("init.matrices", "expected " + std::to_string(blocks.size()) +
                                          " matrices, got " + std::to_string(matrices.size()));
  Vec state(problem.state_size());
  Index off = 0;
  for (std::size_t j = 0; j < blocks.size(); ++j) {
    const std::string field = "init.matrices[" + std::to_string(j) + "]";
    if (matrices[j].rows() != blocks[j][0] || matrices[j].cols() != blocks[j][1])
      throw InputError(field, "has shape " + std::to_string(matrices[j].rows()) + "x" +
                                  std::to_string(matrices[j].cols()) + ", expected " +
                                  std::to_string(blocks[j][0]) + "x" + std::to_string(blocks[j][1]));
    if (!matrices[j].allFinite()) throw InputError(field, "has a non-finite entry");
    Eigen::Map<Mat>(state.data() + off, blocks[j][0], blocks[j][1]) = matrices[j];
    off += blocks[j][0] * blocks[j][1];
  }
  return state;
}

Vec initial_state(const Problem& problem, const InitSpec& init, std::uint64_t seed,
                  std::uint64_t trajectory) {
  const auto& blocks = problem.blocks();
  const int N = problem.depth();
  auto check_alpha = [](double alpha) {
    if (!std::isfinite(alpha) || alpha < 0)
      throw InputError("init.alpha", "must be finite and >= 0, got " + std::to_string(alpha));
  };
  std::vector<Mat> mats = std::visit(
      [&](const auto& s) -> std::vector<Mat> {
        using S = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<S, GaussianInit>) {
          check_alpha(s.alpha);
          if (s.scale_on == ScaleOn::Factors) {
            std::vector<Mat> m;
            const bool e2e = std::holds_alternative<EndToEndFlow>(problem.parametrization());
            const double scale = e2e ? std::pow(s.alpha, N) : s.alpha;
            for (std::size_t j = 0; j < blocks.size(); ++j)
              m.push_back(scale * gaussian_matrix(blocks[j][0], blocks[j][1], seed, trajectory,
                                                  kStreamFactor + j));
            if (e2e) m[0] = truncate_rank(m[0], problem.rank_bound());
            return m;
          }
          if (problem.is_symmetric())
            return {std::sqrt(s.alpha) *
                    gaussian_matrix(blocks[0][0], blocks[0][1], seed, trajectory, kStreamEndToEnd)};
          const Mat W0 = truncate_rank(
              s.alpha * gaussian_matrix(problem.rows(), problem.cols(), seed, trajectory, kStreamEndToEnd),
              problem.rank_bound());
          return from_end_to_end(problem, W0, true, seed, trajectory);
        } else if constexpr (std::is_same_v<S, ScaledIdentityInit>) {
          check_alpha(s.alpha);
          const bool e2e = std::holds_alternative<EndToEndFlow>(problem.parametrization());
          double scale = s.alpha;  // per block
          if (s.scale_on == ScaleOn::EndToEnd && !e2e) scale = std::pow(s.alpha, 1.0 / N);
          if (s.scale_on == ScaleOn::Factors && e2e) scale = std::pow(s.alpha, N);
          std::vector<Mat> m;
          for (const auto& b : blocks) m.push_back(rect_identity(b[0], b[1], scale));
          if (e2e) m[0] = truncate_rank(m[0], problem.rank_bound());
          return m;
        } else if constexpr (std::is_same_v<S, BalancedInit>) {
          if (!s.W0.allFinite()) throw InputError("init.W0", "has a non-finite entry");
          return from_end_to_end(problem, s.W0, s.random_frames, seed, trajectory);
        } else if constexpr (std::is_same_v<S, CriticalPointInit>) {
          if (!std::isfinite(s.epsilon) || s.epsilon < 0)
            throw InputError("init.epsilon", "must be finite and >= 0, got " + std::to_string(s.epsilon));
          const CriticalPointCatalog catalog(problem);
          const auto& pts = catalog.points();
          if (s.index < 0 || s.index >= static_cast<int>(pts.size()))
            throw InputError("init.index", std::to_string(s.index) + " is outside the catalog of " +
                                               std::to_string(pts.size()) + " critical points");
          std::vector<Mat> m = from_end_to_end(problem, pts[s.index].W, false, seed, trajectory);
          if (s.epsilon > 0)
            for (std::size_t j = 0; j < m.size(); ++j)
              m[j] += s.epsilon * gaussian_matrix(m[j].rows(), m[j].cols(), seed, trajectory, kStreamNoise + j);
          return m;
        } else {
          return s.matrices;
        }
      },
      init);
  return pack_state(problem, mats);
}

}  // namespace dlnflow
