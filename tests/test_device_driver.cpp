// The fused kernel's whole trajectory driver (kernels/device/driver.cuh) run on the host and
// compared with the CPU backend, trajectory by trajectory, for every loss x parametrization x
// integrator: steps, rejections and evaluations equal; states, losses, recorded diagnostics,
// catalogue distances and event times to 1e-10. The GPU runs exactly this code on a thread
// block; test_gpu_fused repeats the comparison there.
#include <gtest/gtest.h>

#include "device_cases.hpp"
#include "../src/gpu/batch.hpp"
#include "../src/gpu/pack.hpp"
#include "dlnflow/gpu.hpp"

namespace dlnflow {
namespace {

using testing::DeviceCase;

std::vector<TrajectorySpec> specs_for(const DeviceCase& c, int count) {
  std::vector<TrajectorySpec> specs;
  for (int b = 0; b < count; ++b) specs.push_back({c.init, 5, static_cast<std::uint64_t>(b)});
  return specs;
}

class DeviceDriver : public ::testing::TestWithParam<std::tuple<int, Method>> {};


// The host-emulated fused driver, one member per team.
std::vector<TrajectoryResult> emulated(const Problem& p, const std::vector<TrajectorySpec>& specs, const SolveOptions& o) {
  return gpu::solve_batch_emulated(p, specs, o, 1);
}

TEST_P(DeviceDriver, EqualsTheCpuBackendTrajectoryByTrajectory) {
  const DeviceCase c = testing::device_cases()[std::get<0>(GetParam())];
  bool some_event = false;
  testing::run_against_cpu(c, std::get<1>(GetParam()), 2, emulated,
                           [&](const TrajectoryResult& dev, const TrajectoryResult& cpu, const std::string& what) {
                             testing::expect_same_trajectory(dev, cpu, 1e-10, what);
                             for (double t : cpu.event_times) some_event = some_event || !std::isnan(t);
                           });
  EXPECT_TRUE(some_event) << "the case should cross at least one event level, or the event code is untested";
}

INSTANTIATE_TEST_SUITE_P(AllCases, DeviceDriver,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(testing::device_cases().size())),
                                            ::testing::Values(Method::Euler, Method::RK4, Method::DormandPrince54)),
                         [](const auto& info) {
                           return testing::device_cases()[std::get<0>(info.param)].name + "_" +
                                  to_string(std::get<1>(info.param));
                         });

// The implicit methods on the device math (its Jacobian-vector products and frozen Jacobian,
// kernels/device/flow_jvp.cuh, frozen_jacobian.cuh) against the CPU backend, trajectory by
// trajectory: states, losses, recorded diagnostics and event times to 1e-10 as for the explicit
// methods; the work within a few percent (why not equal: device_cases.hpp, expect_same_implicit_run).
class DeviceDriverImplicit : public ::testing::TestWithParam<std::tuple<int, Method>> {};

TEST_P(DeviceDriverImplicit, EqualsTheCpuBackendTrajectoryByTrajectory) {
  const DeviceCase c = testing::implicit_device_cases()[std::get<0>(GetParam())];
  const Method m = std::get<1>(GetParam());
  testing::run_against_cpu(c, m, 2, emulated,
                           [&](const TrajectoryResult& dev, const TrajectoryResult& cpu, const std::string& what) {
                             testing::expect_same_implicit_run(dev, cpu, 1e-10, what);
                             // Not vacuous: rodas5p steps implicitly throughout, auto switches on the stiff case.
                             if (m == Method::Rodas5P) EXPECT_EQ(cpu.implicit_steps, cpu.steps) << what;
                             if (c.name == "deep_stiff" && m == Method::Auto) EXPECT_GE(cpu.switches, 1) << what;
                           });
}

INSTANTIATE_TEST_SUITE_P(AllCases, DeviceDriverImplicit,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(testing::implicit_device_cases().size())),
                                            ::testing::Values(Method::Rodas5P, Method::Auto)),
                         [](const auto& info) {
                           return testing::implicit_device_cases()[std::get<0>(info.param)].name + "_" +
                                  to_string(std::get<1>(info.param));
                         });

// Without a recording grid or events the driver reserves less workspace (the interpolation
// vectors go): final states, losses and counts still equal the CPU's.
TEST(DeviceDriverLean, WithoutRecordingEqualsTheCpu) {
  for (const DeviceCase& c : testing::device_cases())
    for (Method m : {Method::RK4, Method::DormandPrince54}) {
      const SolveOptions o = testing::device_case_plain_options(c, m);
      const auto specs = specs_for(c, 2);
      const auto cpu = solve(*c.problem, specs, o, Backend::Cpu).trajectories;
      const auto dev = gpu::solve_batch_emulated(*c.problem, specs, o, 1);
      for (std::size_t b = 0; b < cpu.size(); ++b)
        testing::expect_same_trajectory(dev[b], cpu[b], 1e-10, c.name + " without recording #" + std::to_string(b));
    }
}

// A terminal event ends the trajectory at the event: the final loss is the event's level (the
// state is interpolated there, not left at the step's end), nothing is recorded past it, and
// the device agrees with the CPU.
TEST(DeviceDriverTerminal, EndsAtTheEventTime) {
  int stops = 0;
  for (const DeviceCase& c : testing::device_cases())
    for (Method m : {Method::RK4, Method::DormandPrince54}) {
      SolveOptions o = testing::device_case_options(c, m, nullptr);
      o.record.catalog = nullptr;
      o.events.resize(1);  // the loss event at half the initial loss
      o.events[0].terminal = true;
      const auto specs = specs_for(c, 2);
      const auto cpu = solve(*c.problem, specs, o, Backend::Cpu).trajectories;
      const auto dev = gpu::solve_batch_emulated(*c.problem, specs, o, 1);
      for (std::size_t b = 0; b < cpu.size(); ++b) {
        const std::string what = c.name + " terminal #" + std::to_string(b);
        testing::expect_same_trajectory(dev[b], cpu[b], 1e-10, what);
        if (cpu[b].status != Status::EventStop) continue;
        ++stops;
        EXPECT_EQ(cpu[b].t_end, cpu[b].event_times[0]) << what;
        EXPECT_NEAR(cpu[b].final_loss, o.events[0].level, 1e-9 * std::max(1.0, o.events[0].level)) << what;
        for (const auto& s : cpu[b].samples) EXPECT_TRUE(!s.valid || s.t <= cpu[b].t_end) << what;
      }
    }
  EXPECT_GT(stops, 10) << "most cases cross half their initial loss";
}

// The same driver on teams of 3 and 8 real threads meeting at barriers: the split of work and
// every barrier of the device code, not just its arithmetic.
TEST(DeviceDriverTeams, MultiThreadTeamsGiveTheSingleThreadResult) {
  const auto cases = testing::device_cases();
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const DeviceCase& c = cases[i];
    std::unique_ptr<CriticalPointCatalog> catalog;
    if (c.catalog) catalog = std::make_unique<CriticalPointCatalog>(*c.problem);
    const SolveOptions o = testing::device_case_options(c, Method::DormandPrince54, catalog.get());
    const auto specs = specs_for(c, 1);
    const auto one = gpu::solve_batch_emulated(*c.problem, specs, o, 1);
    for (int members : {3, 8}) {
      if (members == 8 && i % 3 != 0) continue;  // barrier-heavy on a 2-core CI machine: a third of the cases
      const auto many = gpu::solve_batch_emulated(*c.problem, specs, o, members);
      testing::expect_same_trajectory(many[0], one[0], 1e-12, c.name + " team of " + std::to_string(members));
    }
  }
}

// Divergence, the step-size floor and a failing matrix function end one trajectory with the
// CPU's status and message, not the batch.
TEST(DeviceDriverStops, DivergenceAndStepUnderflowMatchTheCpu) {
  const Problem p(matrix_approximation_loss(2.0 * Mat::Identity(3, 3)), DeepFactorization{{3, 3, 3}});
  SolveOptions o;
  o.integrator.method = Method::Euler;
  o.integrator.dt = 5.0;  // gradient descent far beyond stability: diverges
  o.stop.t_final = 1000;
  o.stop.blowup_norm = 1e100;
  const std::vector<TrajectorySpec> specs{{GaussianInit{1.0}, 1, 0}};
  const auto cpu = solve(p, specs, o, Backend::Cpu).trajectories;
  const auto dev = gpu::solve_batch_emulated(p, specs, o);
  ASSERT_EQ(cpu[0].status, Status::Diverged);
  testing::expect_same_trajectory(dev[0], cpu[0], 1e-10, "diverging Euler");
  EXPECT_EQ(dev[0].message, cpu[0].message);

  o.integrator.method = Method::DormandPrince54;
  o.integrator.rtol = 1e-14;
  o.integrator.atol = 0;
  o.integrator.dt_min = 0.5;  // the pair needs much smaller steps at this tolerance
  o.stop.t_final = 10;
  const auto cpu2 = solve(p, specs, o, Backend::Cpu).trajectories;
  const auto dev2 = gpu::solve_batch_emulated(p, specs, o);
  ASSERT_EQ(cpu2[0].status, Status::StepUnderflow);
  testing::expect_same_trajectory(dev2[0], cpu2[0], 1e-10, "step underflow");
}

// The batched path replays the CPU's fixed steps from a precomputed list: same count, same
// sizes (the shortened last one included), same end time as the CPU driver's Kahan clock.
TEST(BatchedPlanning, FixedStepsAreTheCpuDriversSteps) {
  const Problem p(matrix_approximation_loss(Mat::Identity(2, 2)), DeepFactorization{{2, 2}});
  for (double dt : {0.1, 1e-3, 0.3, 0.7, 1.0 / 3})
    for (double T : {0.0, 1.0, 2.05, 10.0, 1e-4}) {
      SolveOptions o;
      o.integrator.method = Method::Euler;
      o.integrator.dt = dt;
      o.stop.t_final = T;
      const TrajectoryResult r = integrate(p, initial_state(p, GaussianInit{0.1}, 1, 0), o);
      const std::vector<double> steps = gpu::fixed_steps(dt, T);
      EXPECT_EQ(static_cast<std::int64_t>(steps.size()), r.steps) << dt << " " << T;
      for (std::size_t i = 0; i + 1 < steps.size(); ++i) EXPECT_EQ(steps[i], dt);
      if (!steps.empty()) EXPECT_LE(steps.back(), dt);
    }
}

// What the batched path covers, and that the rest is refused with the reason.
TEST(BatchedPlanning, CoverageIsStatedWithTheReason) {
  const Problem square(matrix_approximation_loss(Mat::Identity(3, 3)), DeepFactorization{{3, 3, 3}});
  SolveOptions o;
  for (Method m : {Method::Euler, Method::RK4, Method::DormandPrince54}) {
    o.integrator.method = m;
    EXPECT_EQ(gpu::batched_unsupported(gpu::pack_run(square, o)), "");
  }
  auto reason = [](const Problem& p, const SolveOptions& opt) { return gpu::batched_unsupported(gpu::pack_run(p, opt)); };
  SolveOptions rec = o;
  rec.record.times = {0.5};
  EXPECT_NE(reason(square, rec).find("grid"), std::string::npos);
  SolveOptions stop = o;
  stop.stop.loss_below = 1e-3;
  EXPECT_NE(reason(square, stop).find("stop"), std::string::npos);
  const Problem plain(BuresWassersteinLoss{Mat::Identity(3, 3), 0.0}, DeepFactorization{{3, 3}});
  EXPECT_NE(reason(plain, o).find("tau > 0"), std::string::npos);
  const Problem sym(matrix_approximation_loss(Mat::Identity(3, 3)), SymmetricFactorization{3, 2});
  EXPECT_NE(reason(sym, o).find("deep factorization"), std::string::npos);
  std::string why;
  EXPECT_FALSE(gpu_supports(sym, o, &why, GpuPath::Batched));
  EXPECT_NE(why.find("batched path cannot run"), std::string::npos) << why;
  EXPECT_TRUE(gpu_supports(sym, o, &why, GpuPath::Fused));
}

}  // namespace
}  // namespace dlnflow
