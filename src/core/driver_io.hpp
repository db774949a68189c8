// The trajectory driver (src/integrator/driver.hpp) in the host's types: the plain DriverConfig a
// Problem's SolveOptions become, and the TrajectoryResult an output block (OutputLayout) becomes.
// Every backend goes through these two, so options and results mean the same on all of them.
#pragma once

#include <string>
#include <vector>

#include "dlnflow/solve.hpp"
#include "integrator/driver.hpp"

namespace dlnflow::core {

// The options as the driver reads them, with the event list they point to. `config.times` points
// into options.record.times and `config.events` into `events`: a backend that copies them (to
// device memory) re-points both.
struct DriverOptions {
  integrator::DriverConfig<double> config;
  std::vector<integrator::EventData> events;

  explicit DriverOptions(const SolveOptions& options);
  DriverOptions(const DriverOptions& other) : config(other.config), events(other.events) { config.events = events.data(); }
  DriverOptions& operator=(const DriverOptions&) = delete;
};

TrajectoryResult unpack_result(const OutputLayout& layout, const SolveOptions& options, const double* block);

}  // namespace dlnflow::core
