// Host matrix functions against their defining identities.
#include "helpers.hpp"

#include "cpu/small_gemm.hpp"

namespace dlnflow {
namespace {

TEST(Matfun, PowersOfPsdMatrices) {
  const Mat A = gaussian_matrix(5, 3, 61, 0, 0);
  const Mat S = A * A.transpose();  // rank 3, PSD
  const Mat R = psd_sqrt(S);
  EXPECT_LT(testing::max_abs_diff(R * R, S), 1e-13 * S.norm());
  EXPECT_EQ(psd_power(S, 0.0), Mat(Mat::Identity(5, 5)));  // X^0 = I, not the range projector
  EXPECT_LT(testing::max_abs_diff(psd_power(S, 1.0 / 3) * psd_power(S, 2.0 / 3), S), 1e-12 * S.norm());
  const Mat P = S + Mat::Identity(5, 5);
  const Mat Q = spd_inv_sqrt(P);
  EXPECT_LT(testing::max_abs_diff(Q * P * Q, Mat::Identity(5, 5)), 1e-13);
  EXPECT_THROW(spd_inv_sqrt(S), std::domain_error);
  const SymEig e = sym_eig(P);
  for (Index i = 1; i < 5; ++i) EXPECT_GE(e.values(i - 1), e.values(i));  // decreasing
}

// The register-blocked kernel of src/cpu/small_gemm.cpp against Eigen's own product: every row
// count it takes (4..16, one or two overlapping chunks), the ones left to Eigen on either side,
// column counts around its blocks of 4, every transpose, scaling and accumulation. The bound is
// the products' rounding, k eps (|op(x)| |op(y)|).
TEST(Matfun, SmallProductsMatchEigen) {
  using cpu::Op;
  int cases = 0;
  for (int m : {1, 3, 4, 5, 7, 8, 9, 10, 12, 15, 16, 17, 24})
    for (int k : {1, 2, 7, 10, 33})
      for (int n : {1, 3, 4, 5, 9})
        for (int ops = 0; ops < 4; ++ops) {
          const Op tx = ops & 1 ? Op::T : Op::N, ty = ops & 2 ? Op::T : Op::N;
          const Mat x = gaussian_matrix(tx == Op::N ? m : k, tx == Op::N ? k : m, 71, m * 100 + k, n * 4 + ops);
          const Mat y = gaussian_matrix(ty == Op::N ? k : n, ty == Op::N ? n : k, 72, m * 100 + k, n * 4 + ops);
          const Mat ox = tx == Op::N ? x : Mat(x.transpose()), oy = ty == Op::N ? y : Mat(y.transpose());
          const Mat c0 = gaussian_matrix(m, n, 73, m, n);
          const Mat want = c0 - 0.75 * ox * oy;
          const double eps = std::numeric_limits<double>::epsilon();
          const Mat bound = 4.0 * k * eps * (c0.cwiseAbs() + ox.cwiseAbs() * oy.cwiseAbs());
          Mat got = c0;
          cpu::gemm(got, x, tx, y, ty, -0.75, true);
          ASSERT_TRUE(((got - want).cwiseAbs().array() <= bound.array()).all())
              << m << "x" << k << "x" << n << " ops " << ops;
          Mat fresh(2, 2);  // resized by the product
          cpu::gemm(fresh, x, tx, y, ty);
          ASSERT_EQ(fresh.rows(), m);
          ASSERT_TRUE(((fresh - ox * oy).cwiseAbs().array() <= bound.array()).all()) << m << "x" << k << "x" << n;
          ++cases;
        }
  EXPECT_EQ(cases, 13 * 5 * 5 * 4);
}

TEST(Matfun, TruncationIsEckartYoung) {
  const Mat W = gaussian_matrix(6, 4, 61, 1, 0);
  const Vec s = thin_svd(W).s;
  for (int r = 0; r <= 4; ++r) {
    const Mat T = truncate_rank(W, r);
    EXPECT_NEAR((W - T).norm(), s.tail(4 - r).norm(), 1e-13);
    EXPECT_EQ(numerical_rank(thin_svd(T).s, 1e-10), r);
  }
}

TEST(Matfun, BalancedWeightClosedForms) {
  EXPECT_NEAR(balanced_weight(2, 1, 2), 3.0, 1e-15);            // k_2(x, y) = x + y
  EXPECT_NEAR(balanced_weight(2, 2, 5), 5 * std::pow(2.0, 8.0 / 5), 1e-13);  // N x^{2-2/N}
  EXPECT_NEAR(balanced_weight(3, 0, 4), std::pow(3.0, 1.5), 1e-13);          // x^{2(N-1)/N}
  EXPECT_EQ(balanced_weight(0, 0, 3), 0.0);
  EXPECT_EQ(balanced_weight(0, 0, 1), 1.0);                   // N = 1: A_W is the identity
  // Quotient form (x^2 - y^2) / (x^{2/N} - y^{2/N}) away from x = y.
  EXPECT_NEAR(balanced_weight(3, 1.5, 7), (9 - 2.25) / (std::pow(9.0, 1.0 / 7) - std::pow(2.25, 1.0 / 7)), 1e-12);
  const Mat Z = gaussian_matrix(3, 4, 61, 2, 0), W = gaussian_matrix(3, 4, 61, 2, 1);
  EXPECT_LT(testing::max_abs_diff(balanced_operator(W, Z, 1, 3), Z), 1e-14);  // depth 1
}

}  // namespace
}  // namespace dlnflow
