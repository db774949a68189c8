// What the tests of the command use to reach states a user reaches only by chance (an interrupt
// after exactly k chunks); not part of RunOptions, which is what a user asks for.
#pragma once

#include "dlnflow/app/run.hpp"

namespace dlnflow::run {

struct TestHooks {
  int stop_after_chunks = -1;  // act as if interrupted once this many chunks have run here; -1: off
};

RunOutcome run_experiment(const Experiment& experiment, const RunOptions& options, const TestHooks& hooks);

}  // namespace dlnflow::run
