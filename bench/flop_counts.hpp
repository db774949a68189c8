// FLOPs of one right-hand-side evaluation of the deep factorization (all widths d, depth N),
// counting a d x d x d product as 2 d^3 and dropping O(d^2) terms.
#pragma once

namespace dlnflow::bench {

// Prefix products, back-propagation and factor gradients: 3 (N - 1) products.
inline double deep_chain_flops(int d, int N) { return 3.0 * (N - 1) * 2.0 * d * d * d; }

// Square loss gradient G = W Cxx - Cyx: one product.
inline double square_loss_flops(int d) { return 2.0 * d * d * d; }

// Smooth BW loss gradient: M = S0^{1/2} W, A = M M^T (2 + 2), symmetric eigendecomposition with
// vectors (counted as 9 d^3, the usual estimate for tridiagonal reduction plus QR iteration and
// back-transformation), A^{-1/2} = V D V^T (2), T = S0^{1/2} A^{-1/2} S0^{1/2} (4), T W (2).
inline double bw_loss_flops(int d) { return 21.0 * d * d * d; }

inline double rk4_step_flops(int d, int N, bool bw) {
  return 4.0 * (deep_chain_flops(d, N) + (bw ? bw_loss_flops(d) : square_loss_flops(d)));
}

}  // namespace dlnflow::bench
