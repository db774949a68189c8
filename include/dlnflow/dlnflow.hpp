// Umbrella header of the public API.
#pragma once

#include "dlnflow/catalog.hpp"
#include "dlnflow/error.hpp"
#include "dlnflow/init.hpp"
#include "dlnflow/matfun.hpp"
#include "dlnflow/model.hpp"
#include "dlnflow/problem.hpp"
#include "dlnflow/solve.hpp"
#include "dlnflow/types.hpp"
