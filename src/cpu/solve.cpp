// The CPU backend's entry points: one trajectory on the shared trajectory driver
// (src/integrator/driver.hpp) over Eigen (eigen_math.hpp) on a one-member team, and the flow's
// velocity at a state.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "dlnflow/error.hpp"
#include "dlnflow/matfun.hpp"
#include "model.hpp"
#include "dlnflow/solve.hpp"
#include "solve_internal.hpp"

namespace dlnflow {

namespace cpu {

Runner::Runner(Model& model, const SolveOptions& options, const CriticalPointCatalog* catalog)
    : model_(model), options_(options), driver_(options), math_(model, catalog, options.events),
      layout_(integrator::output_layout(driver_.config, math_.state(), math_.spectrum_size())),
      work_(static_cast<std::size_t>(Driver::workspace(driver_.config, math_, 1, kAlign))),
      out_(static_cast<std::size_t>(layout_.stride())) {}

TrajectoryResult Runner::run(const Vec& y0) {
  const integrator::HostTeam team;
  const auto out = integrator::TrajectoryOut<double>::at(out_.data(), layout_);
  integrator::run_trajectory(team, math_, driver_.config, y0.data(), out, work_.data(), kAlign);
  TrajectoryResult r = core::unpack_result(layout_, options_, out_.data());
  if (r.status == Status::Failed && !math_.error().empty()) r.message = math_.error();
  return r;
}

}  // namespace cpu

TrajectoryResult integrate(const Problem& problem, const Vec& initial_state, const SolveOptions& options) {
  validate(problem, options);
  if (initial_state.size() != problem.state_size())
    throw InputError("initial_state", "has " + std::to_string(initial_state.size()) +
                                          " entries, the problem's state has " +
                                          std::to_string(problem.state_size()));
  Model model(problem);
  cpu::Runner runner(model, options, options.record.catalog);
  return runner.run(initial_state);
}

Vec flow_velocity(const Problem& problem, const Vec& state) {
  if (state.size() != problem.state_size())
    throw InputError("state", "has " + std::to_string(state.size()) + " entries, the problem's state has " +
                                  std::to_string(problem.state_size()));
  Model model(problem);
  Vec dstate(state.size());
  model.rhs(state, dstate);
  return dstate;
}

}  // namespace dlnflow
