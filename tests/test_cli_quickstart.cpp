// End to end: the dlnflow binary runs examples/quickstart.toml, and every number in its
// summary.csv and trajectories.h5 equals what the library computes when called directly with
// the same problem built by hand (the independent path of examples/quickstart.cpp).
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "dlnflow/dlnflow.hpp"

namespace dlnflow {
namespace {

namespace fs = std::filesystem;

std::vector<std::vector<std::string>> read_csv(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(in, line);) {
    rows.emplace_back();
    std::stringstream s(line);
    for (std::string cell; std::getline(s, cell, ',');) rows.back().push_back(cell);
  }
  return rows;
}

std::vector<double> read_h5(const fs::path& file, const std::string& dataset) {
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  EXPECT_GE(f, 0);
  const hid_t d = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT);
  EXPECT_GE(d, 0) << dataset;
  const hid_t s = H5Dget_space(d);
  std::vector<double> v(static_cast<std::size_t>(H5Sget_simple_extent_npoints(s)));
  H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  H5Sclose(s), H5Dclose(d), H5Fclose(f);
  return v;
}

TEST(CliQuickstart, ResultsEqualTheLibraryCalledDirectly) {
  const fs::path out = fs::temp_directory_path() / ("dlnflow-qs-" + std::to_string(::getpid()));
  fs::remove_all(out);
  const std::string cmd = std::string(DLNFLOW_CLI_PATH) + " run " + DLNFLOW_SOURCE_DIR +
                          "/examples/quickstart.toml --backend cpu --quiet --threads 2 --out " + out.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  for (const char* f : {"manifest.json", "summary.csv", "trajectories.h5"}) ASSERT_TRUE(fs::exists(out / f)) << f;
  EXPECT_FALSE(fs::exists(out / "chunks"));
  std::ifstream mf(out / "manifest.json");
  const auto manifest = nlohmann::json::parse(mf);
  EXPECT_EQ(manifest["status"], "complete");
  EXPECT_EQ(manifest["trajectories"]["done"], 12);

  // The same study, built by hand as in examples/quickstart.cpp.
  const int d = 6;
  Mat target = Mat::Zero(d, d);
  const double mu[3] = {3.0, 2.0, 1.0};
  for (int i = 0; i < 3; ++i) target(i, i) = mu[i];
  const Problem problem(matrix_approximation_loss(target), DeepFactorization{{d, d, d, d}});
  SolveOptions opt;
  opt.integrator.method = Method::DormandPrince54;
  opt.integrator.rtol = 1e-9;
  opt.integrator.atol = 1e-30;
  opt.stop.t_final = 2000.0;
  opt.stop.loss_below = 1e-20;
  opt.record.times = log_grid(1e-2, 2000.0, 40);
  for (int i = 0; i < 3; ++i) opt.events.push_back({EventKind::SingularValue, i + 1, mu[i] / 2, Crossing::Up, false});
  const double alphas[] = {1e-2, 1e-4, 1e-6};

  const auto rows = read_csv(out / "summary.csv");
  ASSERT_EQ(rows.size(), 13u);
  EXPECT_EQ(rows[0][10], "t_escape1");
  for (int p = 0; p < 3; ++p) {
    std::vector<TrajectorySpec> specs;
    for (int s = 0; s < 4; ++s) specs.push_back({GaussianInit{alphas[p], ScaleOn::EndToEnd}, 2026, static_cast<std::uint64_t>(s)});
    const auto direct = solve(problem, specs, opt, Backend::Cpu).trajectories;
    const auto loss = read_h5(out / "trajectories.h5", "points/" + std::to_string(p) + "/loss");
    const auto spectrum = read_h5(out / "trajectories.h5", "points/" + std::to_string(p) + "/spectrum");
    const std::size_t T = opt.record.times.size();
    ASSERT_EQ(loss.size(), 4 * T);
    for (int s = 0; s < 4; ++s) {
      const auto& row = rows[1 + 4 * p + s];
      const auto& r = direct[s];
      EXPECT_EQ(std::stod(row[1]), alphas[p]);
      EXPECT_EQ(row[4], to_string(r.status));
      EXPECT_EQ(std::stod(row[6]), r.final_loss);  // shortest round-trip text: exact
      for (int e = 0; e < 3; ++e) EXPECT_EQ(std::stod(row[10 + e]), r.event_times[e]) << "point " << p << " seed " << s;
      for (std::size_t k = 0; k < T; ++k) {
        EXPECT_EQ(loss[s * T + k], r.samples[k].loss);
        for (int i = 0; i < d; ++i) EXPECT_EQ(spectrum[(s * T + k) * d + i], r.samples[k].spectrum(i));
      }
    }
  }
  fs::remove_all(out);
}

}  // namespace
}  // namespace dlnflow
