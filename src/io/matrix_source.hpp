// The matrices an experiment file names: inline rows, a .npy/.csv file, or a generated one
// ({ generate = "low_rank" | "random_covariance" | "gaussian" | "identity" | "diagonal" |
// "bernoulli_mask", ... }); see docs/experiment-file.md for every generator's keys.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dlnflow/types.hpp"
#include "toml_reader.hpp"

namespace dlnflow::io {

struct Shape {
  Index rows = 0, cols = 0;
};

// Reads `key` of the reader as a matrix. `like` supplies the default size of generators
// (a completion mask takes its target's size). Throws ExperimentError; absent and not
// required gives nullopt.
std::optional<Mat> read_matrix(TableReader& r, const std::string& key, const std::string& base_dir,
                               bool required, std::optional<Shape> like = std::nullopt);

// A stack of equally sized matrices (sensing operators): a 3-D .npy file (count x rows x cols)
// or { generate = "gaussian", count = m, seed = s, symmetric = false }.
std::vector<Mat> read_matrix_stack(TableReader& r, const std::string& key, const std::string& base_dir,
                                   Shape shape);

}  // namespace dlnflow::io
