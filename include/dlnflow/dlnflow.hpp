// Umbrella header of the public library API (docs/library.md). The application layer (experiment
// files, results folders) is include/dlnflow/app/, a separate target.
#pragma once

#include "dlnflow/catalog.hpp"
#include "dlnflow/codes.hpp"
#include "dlnflow/cuda_probe.hpp"
#include "dlnflow/error.hpp"
#include "dlnflow/gpu.hpp"
#include "dlnflow/gpu_error.hpp"
#include "dlnflow/init.hpp"
#include "dlnflow/matfun.hpp"
#include "dlnflow/problem.hpp"
#include "dlnflow/solve.hpp"
#include "dlnflow/types.hpp"
