#include "small_gemm.hpp"

#include <cstring>
#include <vector>

namespace dlnflow::cpu {

namespace {

// GCC/Clang generic vectors: one AVX-512 register, two AVX2 or four SSE2/NEON registers; the
// compiler picks the instructions, so the kernel is not tied to one instruction set.
template <int W>
struct Vec;
template <>
struct Vec<8> {
  typedef double type __attribute__((vector_size(64)));
};
template <>
struct Vec<4> {
  typedef double type __attribute__((vector_size(32)));
};

// By reference, not by value: a vector returned or passed by value changes the calling
// convention with the instruction set (GCC's -Wpsabi in a portable build).
template <class V>
inline void load(V& v, const double* p) {
  std::memcpy(&v, p, sizeof v);
}
template <class V>
inline void store(double* p, const V& v) {
  std::memcpy(p, &v, sizeof v);
}

// J columns of out, rows covered by C chunks of W: C = 1 when m == W, else 2 at rows 0 and
// m - W (W < m <= 2W). The chunks overlap when m < 2W; the overlapping rows are computed twice by
// the same operations in the same order, so both stores write the same bits, and both chunks'
// old values are read (add) before either is stored. y(p, j) = y[p sp + j sj].
template <int W, int C, int J>
inline void columns(double* __restrict out, int m, int k, const double* __restrict x, const double* __restrict y,
                    long sp, long sj, double alpha, bool add) {
  using V = typename Vec<W>::type;
  const int r[2] = {0, m - W};
  V acc[C][J];
  for (int c = 0; c < C; ++c)
    for (int q = 0; q < J; ++q) acc[c][q] = V{};
  for (int p = 0; p < k; ++p) {
    V xv[C];
    for (int c = 0; c < C; ++c) load(xv[c], x + static_cast<long>(p) * m + r[c]);
    const double* yp = y + p * sp;
    for (int q = 0; q < J; ++q) {
      const double b = yp[q * sj];
      for (int c = 0; c < C; ++c) acc[c][q] += xv[c] * b;
    }
  }
  for (int q = 0; q < J; ++q)
    for (int c = 0; c < C; ++c) {
      acc[c][q] *= alpha;
      if (add) {
        V old;
        load(old, out + static_cast<long>(q) * m + r[c]);
        acc[c][q] += old;
      }
    }
  for (int q = 0; q < J; ++q)
    for (int c = 0; c < C; ++c) store(out + static_cast<long>(q) * m + r[c], acc[c][q]);
}

template <int W, int C>
void kernel(double* out, int m, int n, int k, const double* x, const double* y, long sp, long sj, double alpha,
            bool add) {
  int j = 0;
  for (; j + 4 <= n; j += 4) columns<W, C, 4>(out + static_cast<long>(j) * m, m, k, x, y + j * sj, sp, sj, alpha, add);
  for (; j < n; ++j) columns<W, C, 1>(out + static_cast<long>(j) * m, m, k, x, y + j * sj, sp, sj, alpha, add);
}

}  // namespace

void gemm(double* out, int m, int n, int k, const double* x, Op tx, const double* y, Op ty, double alpha, bool add) {
  if (m <= 0 || n <= 0) return;
  if (m < 4 || m > 16 || k == 0) {
    using CMap = Eigen::Map<const Eigen::MatrixXd>;
    Eigen::Map<Eigen::MatrixXd> o(out, m, n);
    const CMap xs(x, tx == Op::N ? m : k, tx == Op::N ? k : m), ys(y, ty == Op::N ? k : n, ty == Op::N ? n : k);
    if (!add) o.setZero();
    if (tx == Op::N && ty == Op::N) o.noalias() += alpha * xs * ys;
    else if (tx == Op::N) o.noalias() += alpha * xs * ys.transpose();
    else if (ty == Op::N) o.noalias() += alpha * xs.transpose() * ys;
    else o.noalias() += alpha * xs.transpose() * ys.transpose();
    return;
  }
  // A transposed left operand is copied once (m k entries against m k n multiplications), so
  // that the kernel reads its columns contiguously.
  thread_local std::vector<double> xt;
  if (tx == Op::T) {
    xt.resize(static_cast<std::size_t>(m) * k);
    for (int p = 0; p < k; ++p)
      for (int i = 0; i < m; ++i) xt[static_cast<std::size_t>(p) * m + i] = x[static_cast<std::size_t>(i) * k + p];
    x = xt.data();
  }
  const long sp = ty == Op::N ? 1 : n, sj = ty == Op::N ? k : 1;
  if (m == 8) kernel<8, 1>(out, m, n, k, x, y, sp, sj, alpha, add);
  else if (m > 8) kernel<8, 2>(out, m, n, k, x, y, sp, sj, alpha, add);
  else if (m == 4) kernel<4, 1>(out, m, n, k, x, y, sp, sj, alpha, add);
  else kernel<4, 2>(out, m, n, k, x, y, sp, sj, alpha, add);
}

}  // namespace dlnflow::cpu
