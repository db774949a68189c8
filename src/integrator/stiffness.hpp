// When method "auto" switches between Dormand-Prince and Rodas5P, per trajectory (docs/numerics.md).
// To implicit: Hairer's test from dopri5.f (Hairer, Norsett, Wanner, Solving ODEs I, IV.2): the two
// last stages of a step sit at the same time, so h ||f(y1) - f(Y_6)|| / ||y1 - Y_6|| estimates
// h |lambda| along the direction the error grows in; above 3.25 (the stability boundary of DP5 on
// the negative axis is 3.3066) the step is limited by stability, not accuracy. 15 such steps
// (with fewer than 6 in a row below it in between) make the trajectory stiff.
// Hairer's estimate sees h |lambda| along the error's direction, which need not be the stiff one:
// on a plateau of the deep networks' saddle-to-saddle dynamics it read 2.0-2.3 while the steps
// sat at the stability limit for 10^8 steps. So every kRadiusEvery explicit steps the spectral
// radius rho of the Jacobian is estimated too (kRadiusIterations steps of a power iteration whose
// vector is carried from check to check), and kRadiusHits checks in a row with h rho above
// 0.9 * 3.3066 (the step is at the stability limit) switch as well. After such a hit the next
// check comes kRadiusEveryAfterHit steps later: a plateau's stiffness, once seen, is confirmed
// in 8 more steps instead of 32 (on the stiff benchmark, depth 4, alpha = 1e-8, each escape
// was followed by 48 explicit steps at the limit before the switch, a tenth of auto's explicit
// steps; a check costs about half an explicit step).
// Back to explicit: a power iteration on the Jacobian (one Jacobian-vector product per implicit
// step, the vector carried from step to step) estimates its spectral radius rho; when the implicit
// step h is under kWorthFactor = 8 times what DP5 could take, h rho < 8 * 0.9 * 3.3066, and no
// longer growing (under kGrowing = 1.15 times the step three steps back), for more than 3 steps
// in a row, and at least 8 steps have passed since the last switch, the implicit steps no longer
// pay for themselves (one costs about 12 explicit ones on the stiff benchmark, depth 4,
// alpha = 1e-8). Measured there, one thread, 32 seeds (docs/numerics.md):
// - the factor: 8 against 4 took 6% less time at alpha = 1e-5 and 1e-6, the same at 1e-8; 2 was
//   slower, 12 and 16 no better (4 was the best when an implicit step cost 8 explicit ones);
// - the growth: right after an escape the converged mode's transient keeps the implicit steps
//   short, growing by 10-15% a step; a phase cut there (8 steps) left the explicit steps at the
//   stability limit until the monitor re-armed 256 steps later. Not counting growing steps as
//   cheap took 4% off at alpha = 1e-8 (1.15 and 1.3 alike), nothing elsewhere;
// - the 8 steps: a mildly stiff trajectory switches where its explicit step has only just reached
//   the stability limit, and its implicit steps are then no longer than the explicit ones
//   (depth 3, alpha = 1e-4): 20 steps instead of 8 cost 6% more time there.
// An implicit phase that rejected as many steps as it accepted (its error test failing for reasons
// stiffness does not explain), or that lasted under kShortPhase = 80 steps (a plateau too short
// to repay the frozen Jacobian), doubles the evidence needed to switch again, so that auto never
// thrashes between the methods at a cost above a few attempts.
// After a switch back, both tests wait (the monitor is disarmed): an implicit phase ends when its
// steps have shrunk to a few explicit ones, i.e. the solution itself now moves on the explicit
// stability time scale (an escape is under way), and the explicit steps at the stability limit
// that follow would switch to an implicit phase with steps just as short (on the stiff benchmark,
// depth 4, alpha = 1e-8: 23 implicit steps of 0.15 before each escape against explicit ones of
// 0.1, and that short phase's back-off then delayed the switch after the escape). They re-arm
// when a radius check sees the explicit step limited by accuracy, h rho < kRearm * 3.3066 (the
// fast motion itself: the stiffness seen after it is the next plateau's), or after kRearmSteps
// explicit steps.
#pragma once

#include "team.hpp"

namespace dlnflow::integrator {

struct StiffnessMonitor {
  static constexpr double kStiffHLambda = 3.25, kDp5Boundary = 3.3066;
  static constexpr int kStiffSteps = 15, kNonStiffReset = 6, kCheapSteps = 3, kMinStepsBetween = 8;

  static constexpr int kRadiusEvery = 16, kRadiusEveryAfterHit = 4, kRadiusIterations = 2, kRadiusHits = 3;
  static constexpr int kMaxBackoff = 20, kShortPhase = 80;
  static constexpr double kWorthFactor = 8, kGrowing = 1.15;
  static constexpr double kRearm = 0.5;
  static constexpr int kRearmSteps = 256;

  int stiff = 0, nonstiff = 0, cheap = 0, hits = 0, backoff = 0;
  int until_radius = kRadiusEvery;  // accepted explicit steps until the next radius check
  bool armed = true;
  long long since_switch = 0, rejected = 0;  // steps since the last switch, implicit ones rejected
  double back[3] = {0, 0, 0};  // the last three accepted implicit steps' sizes, newest first

  // After an accepted explicit step with estimate h |lambda|; true: switch to the implicit method.
  DLNFLOW_HD bool explicit_step(double h_lambda) {
    ++since_switch;
    if (!armed && since_switch >= kRearmSteps) armed = true;
    if (!armed) return false;
    if (h_lambda > kStiffHLambda) {
      nonstiff = 0;
      if (++stiff >= (static_cast<long long>(kStiffSteps) << backoff)) return reset();
    } else if (++nonstiff >= kNonStiffReset) {
      stiff = 0;
    }
    return false;
  }
  // After an accepted explicit step that did not switch: whether to check the spectral radius now.
  DLNFLOW_HD bool radius_due() { return --until_radius <= 0; }
  // After a spectral-radius check of an explicit step of size h; true: switch to implicit.
  DLNFLOW_HD bool explicit_radius(double h, double rho) {
    until_radius = kRadiusEvery;
    if (!armed) {
      armed = h * rho < kRearm * kDp5Boundary;
      return false;
    }
    if (h * rho > 0.9 * kDp5Boundary) {
      if (++hits >= (static_cast<long long>(kRadiusHits) << backoff)) return reset();
      until_radius = kRadiusEveryAfterHit;
    } else {
      hits = 0;
    }
    return false;
  }
  // After an accepted implicit step of size h with spectral-radius estimate rho; true: switch back.
  DLNFLOW_HD bool implicit_step(double h, double rho) {
    ++since_switch;
    // A phase whose steps still grow is not cheap yet: right after an escape, the converged
    // mode's transient keeps the implicit steps short, and they outgrow the explicit ones by
    // far within tens of steps.
    const bool growing = back[2] > 0 && h > kGrowing * back[2];
    back[2] = back[1], back[1] = back[0], back[0] = h;
    if (h * rho < kWorthFactor * 0.9 * kDp5Boundary && !growing) {
      if (++cheap > kCheapSteps && since_switch >= kMinStepsBetween) {
        if ((rejected >= since_switch || since_switch < kShortPhase) && backoff < kMaxBackoff) ++backoff;
        reset();
        armed = false;
        return true;
      }
    } else {
      cheap = 0;
    }
    return false;
  }
  DLNFLOW_HD void implicit_rejection() { ++rejected; }

 private:
  DLNFLOW_HD bool reset() {
    stiff = nonstiff = cheap = hits = 0;
    back[0] = back[1] = back[2] = 0;
    until_radius = kRadiusEvery;
    since_switch = rejected = 0;
    return true;
  }
};

}  // namespace dlnflow::integrator
