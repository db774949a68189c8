// Shared test utilities: finite-difference oracles and small builders used by several files.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "dlnflow/dlnflow.hpp"
#include "core/bw_target.hpp"
#include "cpu/model.hpp"  // the CPU evaluation of a Problem, the tests' reference

namespace dlnflow::testing {

inline Mat rot(double theta) {
  Mat R(2, 2);
  R << std::cos(theta), -std::sin(theta), std::sin(theta), std::cos(theta);
  return R;
}

inline double deg(double d) { return d * std::numbers::pi / 180.0; }

inline Mat diag(std::initializer_list<double> v) {
  Vec d(static_cast<Index>(v.size()));
  Index i = 0;
  for (double x : v) d(i++) = x;
  return d.asDiagonal();
}

inline Mat mat(Index r, Index c, std::initializer_list<double> rowmajor) {
  Mat M(r, c);
  auto it = rowmajor.begin();
  for (Index i = 0; i < r; ++i)
    for (Index j = 0; j < c; ++j) M(i, j) = *it++;
  return M;
}

// Central-difference gradient of f at W (step h).
template <class F>
Mat fd_gradient(F&& f, const Mat& W, double h = 1e-6) {
  Mat G(W.rows(), W.cols());
  for (Index i = 0; i < W.size(); ++i) {
    Mat p = W, m = W;
    p.data()[i] += h;
    m.data()[i] -= h;
    G.data()[i] = (f(p) - f(m)) / (2 * h);
  }
  return G;
}

// Fourth-order five-point stencil: allows a larger step where the value carries roundoff.
template <class F>
Mat fd_gradient4(F&& f, const Mat& W, double h) {
  Mat G(W.rows(), W.cols());
  for (Index i = 0; i < W.size(); ++i) {
    auto at = [&](double s) {
      Mat X = W;
      X.data()[i] += s;
      return f(X);
    };
    G.data()[i] = (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h);
  }
  return G;
}

// Parameter-space gradient of the flow's potential: -rhs.
inline Vec param_gradient(Model& model, const Vec& theta) {
  Vec f;
  model.rhs(theta, f);
  return -f;
}

// Hessian of the parametrized loss by central differences of its exact gradient.
inline Mat fd_hessian(Model& model, const Vec& theta, double h = 1e-5) {
  const Index n = theta.size();
  Mat H(n, n);
  for (Index j = 0; j < n; ++j) {
    Vec p = theta, m = theta;
    p(j) += h;
    m(j) -= h;
    H.col(j) = (param_gradient(model, p) - param_gradient(model, m)) / (2 * h);
  }
  return 0.5 * (H + H.transpose());
}

inline Vec sorted_eigenvalues(const Mat& H) {
  Vec v = sym_eig(H).values;
  std::sort(v.data(), v.data() + v.size());
  return v;
}

inline SolveOptions rk4(double t_final, double dt) {
  SolveOptions o;
  o.integrator.method = Method::RK4;
  o.integrator.dt = dt;
  o.stop.t_final = t_final;
  return o;
}

inline SolveOptions dopri(double t_final, double rtol, double atol = 1e-30) {
  SolveOptions o;
  o.integrator.method = Method::DormandPrince54;
  o.integrator.rtol = rtol;
  o.integrator.atol = atol;
  o.stop.t_final = t_final;
  return o;
}

// End-to-end matrix at the end of an integration.
inline Mat final_W(const Problem& p, const TrajectoryResult& r) {
  Model m(p);
  return m.end_to_end(r.final_state);
}

// dW/dt of the product W_N...W_1 by the product rule, from the factors and their velocities.
inline Mat product_velocity(const Problem& p, const Vec& state, const Vec& velocity) {
  const auto W = unpack_state(p, state);
  const auto V = unpack_state(p, velocity);
  Mat sum = Mat::Zero(p.rows(), p.cols());
  for (std::size_t j = 0; j < W.size(); ++j) {
    Mat term = V[j];
    for (std::size_t i = j; i-- > 0;) term = term * W[i];  // times W_{j-1} ... W_1
    for (std::size_t i = j + 1; i < W.size(); ++i) term = W[i] * term;
    sum += term;
  }
  return sum;
}

// Balance defects D_j = W_j W_j^T - W_{j+1}^T W_{j+1} of a deep state.
inline std::vector<Mat> defects(const Problem& p, const Vec& state) {
  const auto W = unpack_state(p, state);
  std::vector<Mat> D;
  for (std::size_t j = 0; j + 1 < W.size(); ++j) D.push_back(W[j] * W[j].transpose() - W[j + 1].transpose() * W[j + 1]);
  return D;
}

inline double max_abs_diff(const Mat& A, const Mat& B) { return (A - B).cwiseAbs().maxCoeff(); }

}  // namespace dlnflow::testing
