// The implicit method (rodas5p) and the automatic switching (auto): accuracy against a tight
// dopri5 reference (against closed forms: tests/test_integrators.cpp, for both adaptive
// methods), the linear solver against a dense LU, the invariants the exact flow keeps
// (balancedness, a non-increasing loss), and what auto must leave unchanged.
#include <Eigen/LU>
#include <random>

#include "helpers.hpp"
#include "integrator/krylov.hpp"
#include "integrator/step_control.hpp"
#include "integrator/stiffness.hpp"
#include "integrator/team.hpp"

namespace dlnflow {
namespace {

using testing::diag;
using testing::mat;

SolveOptions with_method(SolveOptions o, Method m) {
  o.integrator.method = m;
  return o;
}

// The linear solver alone, on a symmetric J with eigenvalues over six decades of both signs
// (a stiff converged mode down to an escaping one), against Eigen's LU of I - hg J.
TEST(Implicit, GcrSolvesAgainstDenseLuAndReusesItsDirections) {
  const int n = 40;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  Mat X(n, n);
  for (Index i = 0; i < X.size(); ++i) X.data()[i] = normal(rng);
  const Mat Q = Eigen::HouseholderQR<Mat>(X).householderQ();
  Vec lambda(n);
  for (int i = 0; i < n; ++i) lambda(i) = -std::pow(10.0, 3.0 - 6.0 * i / (n - 1));
  lambda(n - 1) = 0.3;  // an unstable direction
  const Mat J = Q * lambda.asDiagonal() * Q.transpose();
  const double hg = 2.0;
  const Mat A = Mat::Identity(n, n) - hg * J;
  const Vec wt = Vec::Ones(n);  // unit scales: the target is an RMS residual of 1e-9
  std::vector<double> p(2 * n * n), q(2 * n * n), r(n), scratch(1);
  integrator::KrylovWork<double> kw;
  kw.capacity = 2 * n, kw.p = p.data(), kw.q = q.data(), kw.r = r.data();
  int applications = 0;
  auto apply = [&](const double* in, double* out) {
    ++applications;
    Eigen::Map<Vec>(out, n) = A * Eigen::Map<const Vec>(in, n);
  };
  auto identity = [&](const double* in, double* out) { std::copy(in, in + n, out); };
  const integrator::HostTeam team;
  const Vec b1 = Vec::NullaryExpr(n, [&](Index) { return normal(rng); });
  Vec x(n);
  const auto r1 = integrator::gcr(team, n, b1.data(), x.data(), wt.data(), 1e-9, kw, apply, identity, scratch.data());
  ASSERT_TRUE(r1.converged);
  // The true residual meets the target up to rounding (||A|| ||x|| eps ~ 1e-12); the error is
  // at most ||A^{-1}|| = 1 / (1 - hg 0.3) = 2.5 times it.
  const double target = 1e-9 * std::sqrt(double(n));
  EXPECT_LT((A * x - b1).norm(), 1.01 * target);
  EXPECT_LT((x - A.partialPivLu().solve(b1)).norm(), 2.5 * 1.01 * target);
  EXPECT_LT(r1.iterations, n);
  // A right-hand side in the span of the directions found (A x, x a combination of them)
  // needs no new product.
  const Vec x1 = x, b2 = A * x1;
  applications = 0;
  const auto r2 = integrator::gcr(team, n, b2.data(), x.data(), wt.data(), 1e-9, kw, apply, identity, scratch.data());
  ASSERT_TRUE(r2.converged);
  EXPECT_EQ(applications, 0);
  EXPECT_LT((x - x1).norm(), 1e-9 * x1.norm());
  // With room for too few directions it reports failure instead of a wrong answer.
  kw.count = 0, kw.capacity = 3;
  EXPECT_FALSE(integrator::gcr(team, n, b1.data(), x.data(), wt.data(), 1e-9, kw, apply, identity, scratch.data()).converged);
}

// The stiff case of issue #15 at a size a test affords: a rank-4 target, depth 4, Gaussian start
// of scale 1e-6, one event per singular value crossing half its target value.
struct StiffCase {
  Problem p{matrix_approximation_loss(diag({4, 3, 2, 1, 0, 0})), DeepFactorization{{6, 6, 6, 6, 6}}};
  Vec y0 = initial_state(p, GaussianInit{1e-6, ScaleOn::EndToEnd}, 11, 0);
  SolveOptions options(Method m, double rtol, double atol, double t_final = 2000) const {
    SolveOptions o = with_method(testing::dopri(t_final, rtol, atol), m);
    for (int i = 1; i <= 4; ++i) o.events.push_back({EventKind::SingularValue, i, 0.5 * (5 - i), Crossing::Up, false});
    return o;
  }
};

TEST(Implicit, AutoSwitchesOnTheStiffPlateauAndAgreesWithATightReference) {
  StiffCase c;
  const auto ref = integrate(c.p, c.y0, c.options(Method::DormandPrince54, 1e-12, 1e-16));
  const auto dp = integrate(c.p, c.y0, c.options(Method::DormandPrince54, 1e-9, 1e-14));
  const auto au = integrate(c.p, c.y0, c.options(Method::Auto, 1e-9, 1e-14));
  const auto ro = integrate(c.p, c.y0, c.options(Method::Rodas5P, 1e-9, 1e-14));
  for (const auto* r : {&ref, &dp, &au, &ro}) ASSERT_EQ(r->status, Status::Completed) << r->message;
  for (int e = 0; e < 4; ++e) {
    ASSERT_TRUE(std::isfinite(ref.event_times[e])) << e;
    EXPECT_NEAR(au.event_times[e] / ref.event_times[e], 1.0, 1e-6) << e;
    EXPECT_NEAR(ro.event_times[e] / ref.event_times[e], 1.0, 1e-6) << e;
  }
  // Each escape after the first leaves a converged mode behind: auto goes implicit on the
  // plateaus (and back for the escapes), and pays far fewer steps than dopri5 for them.
  EXPECT_GE(au.switches, 2);
  EXPECT_GT(au.implicit_steps, 0);
  EXPECT_GT(au.implicit_time, 0.5 * au.event_times[3] - au.event_times[0]);
  EXPECT_LT(au.steps, dp.steps / 3);
  EXPECT_EQ(dp.switches, 0);
  EXPECT_EQ(dp.implicit_steps, 0);
  EXPECT_EQ(ro.implicit_steps, ro.steps);
  EXPECT_GT(ro.jvp_evaluations, 0);
  EXPECT_GT(ro.linear_iterations, 0);
  EXPECT_NEAR(au.final_loss, ref.final_loss, 1e-8 * ref.final_loss + 1e-12);
}

// A thread's Math runs its trajectories one after another: a frozen Jacobian left by one must
// not precondition the next (its result would then depend on the batch's order and the thread
// count). Each trajectory of a batch under auto and rodas5p equals the same start run alone, bit
// for bit. (Without the forgetting at a trajectory's start this fails: the later trajectories'
// first solves are then preconditioned by the earlier one's frozen Jacobian.)
TEST(Implicit, ABatchEqualsItsTrajectoriesRunAlone) {
  StiffCase c;
  std::vector<TrajectorySpec> specs;
  for (int i = 0; i < 3; ++i) specs.push_back({GaussianInit{1e-6, ScaleOn::EndToEnd}, 11, std::uint64_t(i)});
  for (Method m : {Method::Auto, Method::Rodas5P}) {
    SCOPED_TRACE(to_string(m));
    SolveOptions o = c.options(m, 1e-9, 1e-14);
    o.threads = 1;
    const auto batch = solve(c.p, specs, o, Backend::Cpu).trajectories;
    ASSERT_EQ(batch.size(), specs.size());
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const auto alone = integrate(c.p, initial_state(c.p, specs[i].init, specs[i].seed, specs[i].trajectory), o);
      ASSERT_EQ(alone.status, Status::Completed) << alone.message;
      EXPECT_GT(alone.implicit_steps, 0) << i;
      EXPECT_EQ(batch[i].final_state, alone.final_state) << i;
      EXPECT_EQ(batch[i].event_times, alone.event_times) << i;
      EXPECT_EQ(batch[i].linear_iterations, alone.linear_iterations) << i;
    }
  }
}

TEST(Implicit, InvariantsHoldAsWellAsUnderDopri5) {
  // The balancedness defect W_{j+1}^T W_{j+1} - W_j W_j^T is conserved by the exact flow
  // (docs/theory.md §4); its drift under rodas5p and auto is compared with dopri5's at the same
  // tolerance. The loss of a gradient flow never increases: across recorded times it may rise
  // by at most the tolerance's worth.
  StiffCase c;
  auto drift = [&](const TrajectoryResult& r) {
    const auto W0 = unpack_state(c.p, c.y0), W1 = unpack_state(c.p, r.final_state);
    double d = 0;
    for (std::size_t j = 0; j + 1 < W0.size(); ++j) {
      const Mat D0 = W0[j + 1].transpose() * W0[j + 1] - W0[j] * W0[j].transpose();
      const Mat D1 = W1[j + 1].transpose() * W1[j + 1] - W1[j] * W1[j].transpose();
      d = std::max(d, (D1 - D0).norm());
    }
    return d;
  };
  std::map<Method, double> drifts, recorded;
  for (Method m : {Method::DormandPrince54, Method::Rodas5P, Method::Auto}) {
    SolveOptions o = c.options(m, 1e-9, 1e-14);
    o.record.times = log_grid(1e-2, 2000, 400);
    const auto r = integrate(c.p, c.y0, o);
    ASSERT_EQ(r.status, Status::Completed) << r.message;
    drifts[m] = drift(r);
    for (const auto& s : r.samples)  // inside steps too: the interpolant is rebalanced as well
      recorded[m] = std::max(recorded[m], std::abs(s.balance_defect - r.samples[0].balance_defect));
    for (std::size_t i = 1; i < r.samples.size(); ++i)
      EXPECT_LE(r.samples[i].loss, r.samples[i - 1].loss * (1 + 1e-9) + 1e-14) << to_string(m) << " t = " << r.samples[i].t;
  }
  // Issue #15 asks for no more drift than dopri5's. Measured here at the end: dopri5 8.4e-12,
  // auto 2.9e-15, rodas5p 2.0e-15; over the recorded times (interpolants included) dopri5
  // 1.7e-11, rodas5p 9.0e-15, auto 1.5e-11 (from its explicit phase before the first switch,
  // dopri5's steps exactly). Without the rebalancing of implicit steps (src/cpu/rebalance.hpp)
  // auto drifted 1.2 and rodas5p 2.1 times as much as dopri5 at the end.
  const double dp = drifts[Method::DormandPrince54], dp_rec = recorded[Method::DormandPrince54];
  EXPECT_LE(drifts[Method::Auto], 0.1 * dp);
  EXPECT_LE(drifts[Method::Rodas5P], 0.1 * dp);
  EXPECT_LE(recorded[Method::Rodas5P], 0.1 * dp_rec);
  EXPECT_LE(recorded[Method::Auto], dp_rec);
}

TEST(Implicit, AutoIsDopri5WhereTheFlowIsNotStiff) {
  // A single-mode target up to its escape: nothing has converged yet, no step is limited by
  // stability, and auto must take exactly dopri5's steps (bit for bit). (After the escape the
  // converged mode does make the flow stiff: auto then switches, as it should.)
  const Problem p(matrix_approximation_loss(diag({2, 0, 0})), DeepFactorization{{3, 3, 3, 3}});
  const Vec y0 = initial_state(p, GaussianInit{1e-4, ScaleOn::EndToEnd}, 5, 0);
  SolveOptions o = testing::dopri(500, 1e-9, 1e-14);
  o.record.times = uniform_grid(0, 500, 11);
  o.events = {{EventKind::SingularValue, 1, 1.0, Crossing::Up, true}};
  const auto dp = integrate(p, y0, o);
  const auto au = integrate(p, y0, with_method(o, Method::Auto));
  ASSERT_EQ(dp.status, Status::EventStop);
  EXPECT_EQ(au.switches, 0);
  EXPECT_EQ(au.steps, dp.steps);
  EXPECT_EQ(au.final_state, dp.final_state);
  // The end-to-end flow has no Jacobian yet: auto stays explicit there, rodas5p is refused.
  const Problem e2e(matrix_approximation_loss(diag({2, 1})), EndToEndFlow{2, 2, 3, 2});
  const Vec z0 = initial_state(e2e, GaussianInit{1e-3, ScaleOn::EndToEnd}, 5, 0);
  const auto e_dp = integrate(e2e, z0, testing::dopri(50, 1e-9, 1e-14));
  const auto e_au = integrate(e2e, z0, with_method(testing::dopri(50, 1e-9, 1e-14), Method::Auto));
  EXPECT_EQ(e_au.switches, 0);
  EXPECT_EQ(e_au.final_state, e_dp.final_state);
  try {
    integrate(e2e, z0, with_method(testing::dopri(50, 1e-9), Method::Rodas5P));
    ADD_FAILURE() << "rodas5p on the end-to-end flow was accepted";
  } catch (const InputError& err) {
    EXPECT_NE(std::string(err.what()).find("integrator.method"), std::string::npos) << err.what();
  }
}

// The implicit steps' controller: the standard proposal 0.9 err^(-1/5), capped by Gustafsson's
// predictive one 0.9 (h / h_acc) (err_acc / err^2)^(1/5) (Hairer & Wanner, Solving ODEs II,
// IV.8) once a step of the phase has been accepted; the explicit steps keep the standard one.
TEST(Implicit, PredictiveControllerCapsTheStepByGustafssonsFormula) {
  integrator::StepConfig c;
  c.method = Method::Rodas5P;
  auto after = [&](bool predictive, std::initializer_list<std::pair<double, double>> steps) {
    integrator::StepClock<double> k;
    for (auto [h, err] : steps) EXPECT_TRUE(integrator::conclude_step(c, 1e9, h, false, err, k, predictive));
    return k.h;
  };
  const double first = 0.9 * std::pow(0.5, -0.2);
  EXPECT_DOUBLE_EQ(after(true, {{1.0, 0.5}}), first);  // nothing to predict from yet
  // Errors growing (a plateau's end): the prediction is the smaller step.
  const double standard = 0.9 * std::pow(0.8, -0.2), predicted = 0.9 * std::pow(0.5 / 0.64, 0.2);
  ASSERT_LT(predicted, standard);
  EXPECT_DOUBLE_EQ(after(true, {{1.0, 0.5}, {1.0, 0.8}}), predicted);
  EXPECT_DOUBLE_EQ(after(false, {{1.0, 0.5}, {1.0, 0.8}}), standard);
  // After a longer step, the prediction scales with the ratio of the last two.
  EXPECT_DOUBLE_EQ(after(true, {{1.0, 0.5}, {1.5, 0.8}}), 1.5 * std::min(standard, 0.9 * 1.5 * std::pow(0.5 / 0.64, 0.2)));
  // Errors shrinking: the standard proposal is the smaller one and stands.
  EXPECT_DOUBLE_EQ(after(true, {{1.0, 0.8}, {1.0, 0.2}}), 0.9 * std::pow(0.2, -0.2));
  // A rejection in between keeps the last accepted step as the one to predict from.
  integrator::StepClock<double> k;
  EXPECT_TRUE(integrator::conclude_step(c, 1e9, 1.0, false, 0.5, k, true));
  EXPECT_FALSE(integrator::conclude_step(c, 1e9, 1.0, false, 3.0, k, true));
  EXPECT_TRUE(integrator::conclude_step(c, 1e9, 0.5, false, 0.7, k, true));
  EXPECT_DOUBLE_EQ(k.h, 0.5 * std::min(0.9 * std::pow(0.7, -0.2), 0.9 * (0.5 / 1.0) * std::pow(0.5 / 0.49, 0.2)));
}

// auto after a switch back to explicit (stiffness.hpp): explicit steps at the stability limit do
// not switch again until a radius check has seen an accuracy-limited step (h rho below half the
// boundary) or kRearmSteps explicit steps have passed; then kRadiusHits checks at the limit do.
TEST(Implicit, AutoWaitsForTheFastMotionAfterASwitchBack) {
  using integrator::StiffnessMonitor;
  const double limit = StiffnessMonitor::kDp5Boundary;
  auto switched_back = [&] {
    StiffnessMonitor m;
    for (int i = 0; i < 2 * StiffnessMonitor::kShortPhase; ++i) EXPECT_FALSE(m.implicit_step(1.0, 100.0));
    int cheap = 0;
    while (!m.implicit_step(1.0, 1.0)) EXPECT_LT(++cheap, 100);  // h rho = 1: dopri5 could take these
    EXPECT_EQ(m.backoff, 0);  // a long phase: no back-off, so only the waiting is tested below
    return m;
  };
  auto hits_to_switch = [&](StiffnessMonitor& m) {
    for (int i = 1; i <= 100; ++i)
      if (m.explicit_radius(1.0, 1.05 * limit)) return i;
    return -1;
  };
  StiffnessMonitor fresh;
  EXPECT_EQ(hits_to_switch(fresh), StiffnessMonitor::kRadiusHits);  // armed from the start

  StiffnessMonitor waiting = switched_back();
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(waiting.explicit_radius(1.0, 1.05 * limit)) << i;
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(waiting.explicit_step(10.0)) << i;  // Hairer's test waits too
  EXPECT_FALSE(waiting.explicit_radius(1.0, 0.4 * limit));  // the fast motion: re-armed
  EXPECT_EQ(hits_to_switch(waiting), StiffnessMonitor::kRadiusHits);

  StiffnessMonitor patient = switched_back();
  for (int i = 1; i < StiffnessMonitor::kRearmSteps; ++i) EXPECT_FALSE(patient.explicit_step(1.0));
  EXPECT_FALSE(patient.explicit_step(1.0));  // the kRearmSteps-th step re-arms
  EXPECT_EQ(hits_to_switch(patient), StiffnessMonitor::kRadiusHits);
}

// auto's radius checks (stiffness.hpp): every kRadiusEvery explicit steps, but
// kRadiusEveryAfterHit after a check that found the step at the stability limit, so that a
// plateau's stiffness is confirmed soon after it is first seen; a check below the limit, or the
// switch, restores the long interval.
TEST(Implicit, AutoConfirmsAStiffnessHitSooner) {
  using integrator::StiffnessMonitor;
  const double limit = StiffnessMonitor::kDp5Boundary;
  StiffnessMonitor m;
  auto steps_to_check = [&] {
    int i = 1;
    while (!m.radius_due()) EXPECT_LT(++i, 1000);
    return i;
  };
  EXPECT_EQ(steps_to_check(), StiffnessMonitor::kRadiusEvery);
  EXPECT_FALSE(m.explicit_radius(1.0, 0.5 * limit));  // accuracy-limited: no hit
  EXPECT_EQ(steps_to_check(), StiffnessMonitor::kRadiusEvery);
  for (int hit = 1; hit < StiffnessMonitor::kRadiusHits; ++hit) {
    EXPECT_FALSE(m.explicit_radius(1.0, 1.05 * limit)) << hit;
    EXPECT_EQ(steps_to_check(), StiffnessMonitor::kRadiusEveryAfterHit) << hit;
  }
  EXPECT_FALSE(m.explicit_radius(1.0, 0.5 * limit));  // the run of hits broken: back to the long interval
  EXPECT_EQ(steps_to_check(), StiffnessMonitor::kRadiusEvery);
  for (int hit = 1; hit < StiffnessMonitor::kRadiusHits; ++hit) EXPECT_FALSE(m.explicit_radius(1.0, 1.05 * limit));
  EXPECT_TRUE(m.explicit_radius(1.0, 1.05 * limit));  // kRadiusHits in a row: switch
  EXPECT_EQ(steps_to_check(), StiffnessMonitor::kRadiusEvery);
}

// auto's switch back (stiffness.hpp): implicit steps under kWorthFactor times dopri5's stable
// step (h rho below kWorthFactor * 0.9 * 3.3066) switch back after more than kCheapSteps in a
// row, once kMinStepsBetween steps have passed; but not while the steps still grow by more than
// kGrowing over three steps (right after an escape), however short they are.
TEST(Implicit, AutoSwitchesBackFromShortStepsOnlyOnceTheyStopGrowing) {
  using integrator::StiffnessMonitor;
  const double cheap_rho = 0.5 * StiffnessMonitor::kWorthFactor * 0.9 * StiffnessMonitor::kDp5Boundary;
  const double worth_rho = 2 * StiffnessMonitor::kWorthFactor * 0.9 * StiffnessMonitor::kDp5Boundary;
  auto steps_to_switch = [](StiffnessMonitor& m, double h0, double growth, double rho) {
    double h = h0;
    for (int i = 1; i <= 400; ++i, h *= growth)
      if (m.implicit_step(h, rho / h0)) return i;  // h rho grows with h: cheap while h < 2 h0
    return -1;
  };
  // Constant short steps: back after kMinStepsBetween (> kCheapSteps) steps.
  StiffnessMonitor flat;
  EXPECT_EQ(steps_to_switch(flat, 1.0, 1.0, cheap_rho), StiffnessMonitor::kMinStepsBetween);
  // Steps growing by 10% a step (33% over three, above kGrowing): never cheap until they outgrow
  // the threshold, so the phase goes on.
  StiffnessMonitor growing;
  EXPECT_EQ(steps_to_switch(growing, 1.0, 1.1, cheap_rho), -1);
  // Growing by 4% a step (12% over three): cheap, back as for constant steps.
  StiffnessMonitor slow;
  EXPECT_EQ(steps_to_switch(slow, 1.0, 1.04, cheap_rho), StiffnessMonitor::kMinStepsBetween);
  // Steps worth taking implicitly: no switch back.
  StiffnessMonitor worth;
  EXPECT_EQ(steps_to_switch(worth, 1.0, 1.0, worth_rho), -1);
}

TEST(Implicit, EntriesTheFlowKeepsAtZeroStayZeroUnderATinyAtol) {
  // A diagonal target from alpha I: the exact flow keeps every off-diagonal entry at exactly 0.
  // With atol = 1e-60 (as examples/greedy-low-rank/ use) the implicit stages' roundoff there
  // had failed every error test; an explicit phase after it then chased the specks for millions
  // of rejected steps. rodas5p and auto must keep them exactly 0 and finish in few steps.
  const Problem p(matrix_approximation_loss(diag({3, 2, 1})), DeepFactorization{{3, 3, 3, 3, 3}});
  const Vec y0 = initial_state(p, ScaledIdentityInit{1e-12, ScaleOn::EndToEnd}, 0, 0);
  for (Method m : {Method::Rodas5P, Method::Auto}) {
    SolveOptions o = with_method(testing::dopri(1e7, 1e-12, 1e-60), m);
    o.stop.loss_below = 1e-20;
    const auto r = integrate(p, y0, o);
    EXPECT_EQ(r.status, Status::LossConverged) << to_string(m) << " " << r.message;
    EXPECT_LT(r.steps + r.rejected, 20000) << to_string(m);
    for (const Mat& W : unpack_state(p, r.final_state))
      for (Index i = 0; i < 3; ++i)
        for (Index j = 0; j < 3; ++j)
          if (i != j) EXPECT_EQ(W(i, j), 0.0) << to_string(m) << " (" << i << ", " << j << ")";
  }
}

TEST(Implicit, TheGpuBackendRunsTheImplicitMethodsOnItsFusedPathOnly) {
  // The device math linearizes like the CPU's (test_device_driver compares them): the GPU backend
  // takes auto (the default) and rodas5p; the batched cuBLAS path has no implicit method and says so.
  const Problem p(matrix_approximation_loss(diag({2, 1})), DeepFactorization{{2, 2, 2}});
  for (Method m : {Method::Auto, Method::Rodas5P}) {
    std::string why;
    EXPECT_TRUE(gpu_supports(p, with_method(testing::dopri(1, 1e-8), m), &why)) << to_string(m) << ": " << why;
    EXPECT_FALSE(gpu_supports(p, with_method(testing::dopri(1, 1e-8), m), &why, GpuPath::Batched));
    EXPECT_NE(why.find("no implicit method"), std::string::npos) << why;
  }
  EXPECT_EQ(SolveOptions{}.integrator.method, Method::Auto);
}

TEST(Implicit, SmoothBuresWassersteinThroughTheImplicitMethod) {
  // The BW loss with tau > 0 at depth 3 (its Hessian by Daleckii-Krein divided differences),
  // rodas5p against a tight dopri5 reference on the final state.
  const Problem p(BuresWassersteinLoss{diag({4, 2, 1}), 0.1}, DeepFactorization{{3, 3, 3, 3}});
  const Vec y0 = initial_state(p, GaussianInit{1e-3, ScaleOn::EndToEnd}, 9, 0);
  const auto ref = integrate(p, y0, testing::dopri(200, 1e-12, 1e-16));
  const auto ro = integrate(p, y0, with_method(testing::dopri(200, 1e-9, 1e-14), Method::Rodas5P));
  ASSERT_EQ(ro.status, Status::Completed) << ro.message;
  EXPECT_LT((testing::final_W(p, ro) - testing::final_W(p, ref)).norm() / testing::final_W(p, ref).norm(), 1e-6);
  EXPECT_NEAR(ro.final_loss, ref.final_loss, 1e-7 * std::abs(ref.final_loss) + 1e-12);
}

}  // namespace
}  // namespace dlnflow
