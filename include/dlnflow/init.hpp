// Initial conditions. Every random draw comes from Philox keyed by (seed, trajectory, stream),
// so any backend reproduces the same start bit for bit.
#pragma once

#include <cstdint>
#include <variant>
#include <vector>

#include "dlnflow/problem.hpp"

namespace dlnflow {

// Where an initialization scale alpha applies.
//  EndToEnd: the end-to-end matrix has scale alpha (deep: W0 = alpha G, then a balanced
//            factorization; symmetric: U = sqrt(alpha) G so W = alpha G G^T; end-to-end: W = alpha G).
//  Factors:  every factor has scale alpha (deep: W_j = alpha G_j, unbalanced; symmetric:
//            U = alpha G; end-to-end: W = alpha^N G).
enum class ScaleOn { EndToEnd, Factors };
const char* to_string(ScaleOn on);  // "end_to_end", "factors" (the experiment file's scale_on)

// Entries i.i.d. N(0, alpha^2).
struct GaussianInit {
  double alpha = 1.0;
  ScaleOn scale_on = ScaleOn::EndToEnd;
};

// alpha I (rectangular blocks are [I 0] / [I; 0]).
struct ScaledIdentityInit {
  double alpha = 1.0;
  ScaleOn scale_on = ScaleOn::EndToEnd;
};

// The balanced factorization W_j = Q_j S^{1/N} Q_{j-1}^T of a given end-to-end matrix
// (docs/theory.md §5); hidden frames Q_j = [I; 0] or Haar-random.
struct BalancedInit {
  Mat W0;
  bool random_frames = false;
};

// Catalogued critical point `index` (see catalog.hpp), balanced, plus i.i.d. N(0, epsilon^2)
// noise on every entry of every factor (of U, of W for the end-to-end flow).
struct CriticalPointInit {
  int index = 0;
  double epsilon = 0.0;
};

// Matrices given by the user: the N factors W_1..W_N, or {U}, or {W}.
struct UserInit {
  std::vector<Mat> matrices;
};

using InitSpec =
    std::variant<GaussianInit, ScaledIdentityInit, BalancedInit, CriticalPointInit, UserInit>;

// State vector of one trajectory. `trajectory` and `seed` key the random stream.
Vec initial_state(const Problem& problem, const InitSpec& init, std::uint64_t seed,
                  std::uint64_t trajectory);

// Balanced factors of W0 for the given widths (rank W0 must not exceed min(widths)).
std::vector<Mat> balanced_factors(const Mat& W0, const std::vector<int>& widths,
                                  bool random_frames, std::uint64_t seed, std::uint64_t trajectory);

// Standard normal matrix from the (seed, trajectory, stream) Philox stream.
Mat gaussian_matrix(Index rows, Index cols, std::uint64_t seed, std::uint64_t trajectory,
                    std::uint64_t stream);

// rows x cols matrix with orthonormal columns, Haar-distributed, from the same Philox streams.
Mat haar_frame(Index rows, Index cols, std::uint64_t seed, std::uint64_t trajectory,
               std::uint64_t stream);

// Views of a state vector as the matrices of the parametrization (factors, {U} or {W}).
std::vector<Mat> unpack_state(const Problem& problem, const Vec& state);
Vec pack_state(const Problem& problem, const std::vector<Mat>& matrices);

}  // namespace dlnflow
