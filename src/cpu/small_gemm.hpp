// Products of the small dense matrices a deep linear network is made of (hidden widths of 4 to 16,
// the sizes the saddle-to-saddle studies use), for the CPU backend's flows, Jacobian-vector
// products and rebalancing. At these sizes Eigen's general product spends more time packing its
// operands into blocks than multiplying them: a 10 x 10 product took 135-180 ns with Eigen and
// 65-95 ns with the register-blocked kernel here, which reads the operands in place (Intel Xeon,
// AVX-512; the transposed left operand included). The gain fades above 16 rows (10-20% at 20)
// and Eigen's cache blocking wins from 32, so outside 4..16 rows Eigen's product is used (and
// below 4 rows a register block would be mostly padding). libxsmm, the library for such products,
// generates machine code per shape at run time; it would be one more dependency for a kernel of
// some sixty lines that the compiler vectorizes for whatever instruction set it targets.
#pragma once

#include <Eigen/Dense>
#include <type_traits>

namespace dlnflow::cpu {

enum class Op { N, T };  // an operand as stored, or its transpose

// out = alpha op(x) op(y) (+ out when add), all column-major and contiguous; out is m x n with
// m = rows of op(x), n = columns of op(y), k the inner dimension. out may not alias x or y.
void gemm(double* out, int m, int n, int k, const double* x, Op tx, const double* y, Op ty, double alpha, bool add);

// The same on Eigen matrices and maps (contiguous, column-major); a Mat `out` is resized to fit
// (unless add), a map must have the result's shape.
template <class Out, class X, class Y>
void gemm(Out& out, const X& x, Op tx, const Y& y, Op ty, double alpha = 1, bool add = false) {
  const int m = static_cast<int>(tx == Op::N ? x.rows() : x.cols());
  const int k = static_cast<int>(tx == Op::N ? x.cols() : x.rows());
  const int n = static_cast<int>(ty == Op::N ? y.cols() : y.rows());
  if constexpr (std::is_same_v<Out, Eigen::MatrixXd>)
    if (!add) out.resize(m, n);
  eigen_assert(out.rows() == m && out.cols() == n && (ty == Op::N ? y.rows() : y.cols()) == k);
  gemm(out.data(), m, n, k, x.data(), tx, y.data(), ty, alpha, add);
}

}  // namespace dlnflow::cpu
