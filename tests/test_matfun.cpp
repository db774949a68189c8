#include <gtest/gtest.h>
#include "dlnflow/dlnflow.hpp"
using namespace dlnflow;
TEST(Matfun, Placeholder) { EXPECT_NEAR(balanced_weight(2, 1, 2), 3.0, 1e-15); }
