// Scalar and matrix types shared by the public API.
#pragma once

#include <Eigen/Dense>

namespace dlnflow {

using Mat = Eigen::MatrixXd;
using Vec = Eigen::VectorXd;
using Index = Eigen::Index;

}  // namespace dlnflow
