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

namespace dlnflow::integrator {

// A Rosenbrock method (linearly implicit) as data: with J the flow's Jacobian at the step's start y,
//     U_i = y + sum_{j<i} a[i][j] k_j,   (I - h gamma J) k_i = h gamma f(U_i) + gamma sum_{j<i} c[i][j] k_j,
// y1 = y + sum_j b[j] k_j, the error estimate sum_j e[j] k_j, and the dense output
//     y(t0 + th h) = (1 - th) y + th (y1 + (1 - th) (h_1 + th (h_2 + th h_3))),  h_r = sum_j hd[r][j] k_j.
// (The W-transformed form of Hairer-Wanner, Solving ODEs II, IV.7, as OrdinaryDiffEq.jl writes it.)
constexpr int kRosenbrockStages = 8;

struct RosenbrockTableau {
  int stages = kRosenbrockStages;
  int order = 5;
  double gamma = 0;
  double a[kRosenbrockStages][kRosenbrockStages] = {};
  double c[kRosenbrockStages][kRosenbrockStages] = {};
  double b[kRosenbrockStages] = {};
  double e[kRosenbrockStages] = {};
  double hd[3][kRosenbrockStages] = {};
};

// Rodas5P: G. Steinebach, "Construction of Rosenbrock-Wanner method Rodas5P and numerical
// benchmarks within the Julia Differential Equations package", BIT Numer. Math. 63, 27 (2023):
// order 5, L-stable, stiffly accurate (y1 = U_8 + k_8, so the error estimate is k_8), with a
// dense output of order 4. Coefficients as published with OrdinaryDiffEq.jl (RODAS5PA, RODAS5PC,
// RODAS5PH).
constexpr RosenbrockTableau rodas5p() {
  RosenbrockTableau t;
  t.gamma = 0.21193756319429014;
  constexpr double A[8][8] = {
      {0, 0, 0, 0, 0, 0, 0, 0},
      {3.0, 0, 0, 0, 0, 0, 0, 0},
      {2.849394379747939, 0.45842242204463923, 0, 0, 0, 0, 0, 0},
      {-6.954028509809101, 2.489845061869568, -10.358996098473584, 0, 0, 0, 0, 0},
      {2.8029986275628964, 0.5072464736228206, -0.3988312541770524, -0.04721187230404641, 0, 0, 0, 0},
      {-7.502846399306121, 2.561846144803919, -11.627539656261098, -0.18268767659942256, 0.030198172008377946, 0, 0, 0},
      {-7.502846399306121, 2.561846144803919, -11.627539656261098, -0.18268767659942256, 0.030198172008377946, 1, 0, 0},
      {-7.502846399306121, 2.561846144803919, -11.627539656261098, -0.18268767659942256, 0.030198172008377946, 1, 1, 0},
  };
  constexpr double C[8][7] = {
      {0, 0, 0, 0, 0, 0, 0},
      {-14.155112264123755, 0, 0, 0, 0, 0, 0},
      {-17.97296035885952, -2.859693295451294, 0, 0, 0, 0, 0},
      {147.12150275711716, -1.41221402718213, 71.68940251302358, 0, 0, 0, 0},
      {165.43517024871676, -0.4592823456491126, 42.90938336958603, -5.961986721573306, 0, 0, 0},
      {24.854864614690072, -3.0009227002832186, 47.4931110020768, 5.5814197821558125, -0.6610691825249471, 0, 0},
      {30.91273214028599, -3.1208243349937974, 77.79954646070892, 34.28646028294783, -19.097331116725623,
       -28.087943162872662, 0},
      {37.80277123390563, -3.2571969029072276, 112.26918849496327, 66.9347231244047, -40.06618937091002,
       -54.66780262877968, -9.48861652309627},
  };
  constexpr double H[3][8] = {
      {25.948786856663858, -2.5579724845846235, 10.433815404888879, -2.3679251022685204, 0.524948541321073,
       1.1241088310450404, 0.4272876194431874, -0.17202221070155493},
      {-9.91568850695171, -0.9689944594115154, 3.0438037242978453, -24.495224566215796, 20.176138334709044,
       15.98066361424651, -6.789040303419874, -6.710236069923372},
      {11.419903575922262, 2.8879645146136994, 72.92137995996029, 80.12511834622643, -52.072871366152654,
       -59.78993625266729, -0.15582684282751913, 4.883087185713722},
  };
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 8; ++j) t.a[i][j] = A[i][j], t.hd[0][j] = H[0][j], t.hd[1][j] = H[1][j], t.hd[2][j] = H[2][j];
    for (int j = 0; j < 7; ++j) t.c[i][j] = C[i][j];
  }
  for (int j = 0; j < 7; ++j) t.b[j] = A[7][j];
  t.b[7] = 1;
  t.e[7] = 1;
  return t;
}

}  // namespace dlnflow::integrator
