// Explicit Runge-Kutta methods as data (as diffrax makes Dopri5 a ButcherTableau): the stepping
// code in steppers.hpp exists once and reads these. Stage i is
//     Y_i = y + h sum_j a[i][j] k_j,   k_i = f(Y_i),   y1 = y + h sum_j b[j] k_j,
// with two conventions that fix the rounding, so that every backend and every earlier result
// agree to the last bit: a row with one nonzero coefficient is applied as (h a) k, a row with
// several as (h / divisor) (sum_j a_j k_j) summed left to right (RK4's weights are 1, 2, 2, 1
// over 6, as it is written).
#pragma once

#include "dlnflow/codes.hpp"

namespace dlnflow::integrator {

constexpr int kMaxStages = 7;

struct Tableau {
  int stages = 1;        // s: k_1 = f(y) .. k_s
  bool fsal = false;     // k_s = f(y1): the next step's k_1 comes free, and so does the loss at y1
  int order = 1;         // of y1 (the error estimate is of order - 1)
  double a[kMaxStages][kMaxStages] = {};
  double a_divisor[kMaxStages] = {1, 1, 1, 1, 1, 1, 1};
  double b[kMaxStages] = {};
  double b_divisor = 1;
  bool embedded = false;            // an error estimate h sum_j e[j] k_j (e = b - b*)
  double e[kMaxStages] = {};
  bool dense = false;               // Hairer's continuous extension with coefficients d (contd5)
  double d[kMaxStages] = {};
};

constexpr Tableau euler() {
  Tableau t;
  t.stages = 1, t.order = 1;
  t.b[0] = 1;
  return t;
}

constexpr Tableau rk4() {
  Tableau t;
  t.stages = 4, t.order = 4;
  t.a[1][0] = 0.5;
  t.a[2][1] = 0.5;
  t.a[3][2] = 1;
  t.b[0] = 1, t.b[1] = 2, t.b[2] = 2, t.b[3] = 1;
  t.b_divisor = 6;
  return t;
}

// Dormand-Prince 5(4) (Hairer, Norsett, Wanner, Solving ODEs I, Table II.5.2) with its
// fourth-order dense output (Hairer's dopri5, contd5).
constexpr Tableau dormand_prince54() {
  Tableau t;
  t.stages = 7, t.fsal = true, t.order = 5, t.embedded = true, t.dense = true;
  t.a[1][0] = 1.0 / 5;
  t.a[2][0] = 3.0 / 40, t.a[2][1] = 9.0 / 40;
  t.a[3][0] = 44.0 / 45, t.a[3][1] = -56.0 / 15, t.a[3][2] = 32.0 / 9;
  t.a[4][0] = 19372.0 / 6561, t.a[4][1] = -25360.0 / 2187, t.a[4][2] = 64448.0 / 6561, t.a[4][3] = -212.0 / 729;
  t.a[5][0] = 9017.0 / 3168, t.a[5][1] = -355.0 / 33, t.a[5][2] = 46732.0 / 5247, t.a[5][3] = 49.0 / 176,
  t.a[5][4] = -5103.0 / 18656;
  t.b[0] = 35.0 / 384, t.b[2] = 500.0 / 1113, t.b[3] = 125.0 / 192, t.b[4] = -2187.0 / 6784, t.b[5] = 11.0 / 84;
  t.e[0] = 71.0 / 57600, t.e[2] = -71.0 / 16695, t.e[3] = 71.0 / 1920, t.e[4] = -17253.0 / 339200,
  t.e[5] = 22.0 / 525, t.e[6] = -1.0 / 40;
  t.d[0] = -12715105075.0 / 11282082432, t.d[2] = 87487479700.0 / 32700410799,
  t.d[3] = -10690763975.0 / 1880347072, t.d[4] = 701980252875.0 / 199316789632,
  t.d[5] = -1453857185.0 / 822651844, t.d[6] = 69997945.0 / 29380423;
  return t;
}

constexpr Tableau tableau(Method m) {
  return m == Method::Euler ? euler() : m == Method::RK4 ? rk4() : dormand_prince54();
}

}  // namespace dlnflow::integrator
