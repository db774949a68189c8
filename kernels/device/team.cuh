// The device math is written against the team of src/integrator/team.hpp (a block or a warp on
// the GPU, one thread or a std::barrier group on the host), shared with the trajectory driver.
#pragma once

#include "integrator/team.hpp"

namespace dlnflow::device {

using integrator::copy;
using integrator::Epsilon;
using integrator::finite;
using integrator::HostTeam;
using integrator::team_max;
using integrator::team_sum;
#if defined(__CUDACC__)
using integrator::BlockTeam;
#endif

}  // namespace dlnflow::device
