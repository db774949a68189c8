// The experiment-file layer: data readers against hand-written files, generators against the
// spectra they promise, sweep expansion, and the error messages a person must be able to act on.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "../src/io/data_files.hpp"
#include "../src/io/toml_reader.hpp"
#include "dlnflow/dlnflow.hpp"
#include "dlnflow/app/experiment.hpp"

namespace dlnflow {
namespace {

namespace fs = std::filesystem;

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("dlnflow-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

// A .npy v1 file of float64 values in the given order.
void write_npy(const fs::path& p, const std::string& shape, bool fortran, const std::vector<double>& v) {
  std::string header = "{'descr': '<f8', 'fortran_order': " + std::string(fortran ? "True" : "False") +
                       ", 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::ofstream out(p, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const std::uint16_t len = static_cast<std::uint16_t>(header.size());
  out.write(reinterpret_cast<const char*>(&len), 2);
  out << header;
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 8));
}

const char* kBase = R"(
[problem]
loss = "matrix_approximation"
target = [[3.0, 0.0], [0.0, 1.0]]
[network]
depth = 2
[initialization]
alpha = 1e-3
[stop]
t_final = 10.0
)";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  return text.replace(text.find(from), from.size(), to);
}

std::string error_of(const std::string& text) {
  try {
    parse_experiment(text, "exp.toml", ".");
  } catch (const ExperimentError& e) {
    return e.what();
  }
  return "";
}

TEST(DataFiles, NpyCAndFortranOrderReadTheSameMatrix) {
  // 2 x 3 matrix [[1,2,3],[4,5,6]]: C order row by row, Fortran order column by column.
  write_npy(scratch("c.npy"), "(2, 3)", false, {1, 2, 3, 4, 5, 6});
  write_npy(scratch("f.npy"), "(2, 3)", true, {1, 4, 2, 5, 3, 6});
  const auto c = io::read_npy(scratch("c.npy").string());
  const auto f = io::read_npy(scratch("f.npy").string());
  ASSERT_EQ(c.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(c.data, (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(f.data, c.data);
}

TEST(DataFiles, CsvReadsRowsAndRejectsRaggedOrNonNumericRows) {
  std::ofstream(scratch("m.csv")) << "# a comment\n1, 2.5\n-3,4e-2\n";
  const auto a = io::read_csv(scratch("m.csv").string());
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(a.data, (std::vector<double>{1, 2.5, -3, 0.04}));
  std::ofstream(scratch("bad.csv")) << "1,2\n3\n";
  EXPECT_THROW(io::read_csv(scratch("bad.csv").string()), std::runtime_error);
  std::ofstream(scratch("nan.csv")) << "1,x\n";
  EXPECT_THROW(io::read_csv(scratch("nan.csv").string()), std::runtime_error);
}

TEST(ExperimentFile, FileTargetEqualsInlineTarget) {
  write_npy(scratch("t.npy"), "(2, 2)", false, {3, 0, 0, 1});
  const std::string text = replaced(kBase, "[[3.0, 0.0], [0.0, 1.0]]", "\"t.npy\"");
  const auto from_file = parse_experiment(text, "exp.toml", scratch("").string());
  const auto inline_ = parse_experiment(kBase, "exp.toml", ".");
  const auto pa = from_file.point(0), pb = inline_.point(0);
  const auto& a = std::get<SquareLoss>(pa.config.problem->loss());
  const auto& b = std::get<SquareLoss>(pb.config.problem->loss());
  EXPECT_EQ(a.Cyx, b.Cyx);
  EXPECT_NE(from_file.fingerprint, inline_.fingerprint);  // the manifest records which data was used
}

TEST(ExperimentFile, GeneratedLowRankTargetHasTheRequestedSpectrum) {
  const std::string text = replaced(
      replaced(kBase, "[[3.0, 0.0], [0.0, 1.0]]", "{ generate = \"low_rank\", size = 7, spectrum = [5.0, 2.0, 0.5], seed = 3 }"),
      "depth = 2", "depth = 2\nwidth = 7");
  const auto ex = parse_experiment(text, "exp.toml", ".");
  const auto p0 = ex.point(0);
  const auto& l = std::get<SquareLoss>(p0.config.problem->loss());
  const Vec s = Eigen::JacobiSVD<Mat>(l.Cyx).singularValues();  // Cyx = target for Cxx = I
  EXPECT_NEAR(s(0), 5.0, 1e-13);
  EXPECT_NEAR(s(1), 2.0, 1e-13);
  EXPECT_NEAR(s(2), 0.5, 1e-13);
  EXPECT_NEAR(s(3), 0.0, 1e-13);
}

TEST(ExperimentFile, BernoulliMaskIsSymmetricWithTheRequestedDensity) {
  const int d = 120;
  const double p = 0.3;
  const std::string text = R"(
[problem]
loss = "completion"
target = { generate = "random_covariance", size = 120, spectrum = [3.0, 2.0], seed = 1 }
mask = { generate = "bernoulli_mask", p = 0.3, seed = 9 }
[network]
parametrization = "symmetric"
[initialization]
alpha = 1e-3
[stop]
t_final = 1.0
)";
  const auto ex = parse_experiment(text, "exp.toml", ".");
  const auto p0 = ex.point(0);
  const auto& c = std::get<CompletionLoss>(p0.config.problem->loss());
  Mat M = Mat::Zero(d, d);
  for (const auto& ij : c.omega) M(ij[0], ij[1]) = 1;
  EXPECT_EQ(M, M.transpose());
  // Upper triangle (with diagonal): d(d+1)/2 independent Bernoulli(p) draws; 5 sigma band.
  const double n = d * (d + 1) / 2.0;
  const double observed = Mat(M.triangularView<Eigen::Upper>()).sum();
  EXPECT_NEAR(observed, p * n, 5 * std::sqrt(n * p * (1 - p)));
}

TEST(ExperimentFile, SweepExpandsAsACartesianProductWithExactDecades) {
  const auto ex = parse_experiment(std::string(kBase) + R"(
[sweep]
seeds = 3
axes."initialization.alpha" = { from = 1e-16, to = 1e-1, count = 16, spacing = "log" }
axes.network.depth = { from = 2, to = 4 }
)",
                                   "exp.toml", ".");
  ASSERT_EQ(ex.point_count(), 48u);
  EXPECT_EQ(ex.trajectories(), 144u);
  for (int i = 0; i < 16; ++i) {  // depth varies fastest
    const auto c = ex.coordinates(3 * i);
    EXPECT_EQ(c[0].number, std::pow(10.0, -16 + i)) << i;
    EXPECT_EQ(ex.point(3 * i + 2).config.problem->depth(), 4);
    EXPECT_EQ(std::get<GaussianInit>(ex.point(3 * i).config.init).alpha, c[0].number);
  }
}

TEST(ExperimentFile, AxesExpandInTheOrderTheyAreWrittenNotByName) {
  // network.depth first, initialization.alpha (which sorts first by name) second: alpha varies
  // fastest, and the coordinates come in the order written.
  const auto ex = parse_experiment(std::string(kBase) + R"(
[sweep]
axes."network.depth" = [2, 3]
axes."initialization.alpha" = [1e-2, 1e-4, 1e-6]
)",
                                   "exp.toml", ".");
  ASSERT_EQ(ex.point_count(), 6u);
  ASSERT_EQ(ex.axes, (std::vector<std::string>{"network.depth", "initialization.alpha"}));
  for (int p = 0; p < 6; ++p) {
    const auto c = ex.coordinates(p);
    ASSERT_EQ(c.size(), 2u);
    EXPECT_EQ(c[0].path, "network.depth");
    EXPECT_EQ(c[0].number, 2 + p / 3) << p;
    EXPECT_EQ(c[1].number, std::pow(10.0, -2 * (1 + p % 3))) << p;
    EXPECT_EQ(ex.point(p).config.problem->depth(), 2 + p / 3);
  }
}

TEST(ExperimentFile, ZipTablesPairTheirKeysIntoOneDimension) {
  // alpha (3 values) x one paired dimension (depth with t_final, 2 pairs) = 6 points, the pair
  // varying fastest as it is written last; never depth 2 with t_final 100.
  const auto ex = parse_experiment(std::string(kBase) + R"(
[sweep]
axes."initialization.alpha" = [1e-2, 1e-4, 1e-6]
[[sweep.zip]]
"network.depth" = [2, 3]
"stop.t_final" = [10.0, 100.0]
)",
                                   "exp.toml", ".");
  ASSERT_EQ(ex.point_count(), 6u);
  ASSERT_EQ(ex.axes, (std::vector<std::string>{"initialization.alpha", "network.depth", "stop.t_final"}));
  for (int p = 0; p < 6; ++p) {
    const SweepPoint pt = ex.point(p);
    EXPECT_EQ(pt.coordinates[0].number, std::pow(10.0, -2 * (1 + p / 2))) << p;
    EXPECT_EQ(pt.config.problem->depth(), 2 + p % 2) << p;
    EXPECT_EQ(pt.config.options.stop.t_final, p % 2 ? 100.0 : 10.0) << p;
  }
  const std::string uneven = error_of(std::string(kBase) + "[sweep]\n[[sweep.zip]]\n\"network.depth\" = [2, 3]\n"
                                                           "\"stop.t_final\" = [10.0]\n");
  EXPECT_NE(uneven.find("sweep.zip[1].stop.t_final: has 1 values, network.depth has 2"), std::string::npos) << uneven;
  const std::string twice = error_of(std::string(kBase) + "[sweep]\naxes.\"network.depth\" = [2, 3]\n[[sweep.zip]]\n"
                                                          "\"network.depth\" = [2, 3]\n\"stop.t_final\" = [1.0, 2.0]\n");
  EXPECT_NE(twice.find("network.depth: is swept twice"), std::string::npos) << twice;
}

TEST(ExperimentFile, ErrorsNameThePlaceTheKeyAndTheAcceptedValues) {
  EXPECT_NE(error_of("[problem\nloss = 1").find("exp.toml:1:"), std::string::npos) << error_of("[problem\nloss = 1");
  const std::string typo = replaced(kBase, "alpha = 1e-3", "alpah = 1e-3");
  EXPECT_NE(error_of(typo).find("exp.toml:8:9: initialization.alpha: is required but missing (found 'alpah'; did you mean 'alpha'?)"),
            std::string::npos)
      << error_of(typo);
  const std::string bad = replaced(kBase, "t_final = 10.0", "t_final = -1.0");
  const std::string msg = error_of(bad);
  EXPECT_NE(msg.find("exp.toml:10:11: stop.t_final: must be > 0 (got -1)"), std::string::npos) << msg;
  const std::string missing = replaced(kBase, "[[3.0, 0.0], [0.0, 1.0]]", "\"nowhere.npy\"");
  EXPECT_NE(error_of(missing).find("nowhere.npy' does not exist"), std::string::npos) << error_of(missing);
  std::string method = std::string(kBase) + "[integrator]\nmethod = \"rk5\"\n";
  EXPECT_NE(error_of(method).find("must be one of euler, rk4, dopri5, rodas5p, auto (got 'rk5') (did you mean 'rk4'?)"), std::string::npos)
      << error_of(method);
  const std::string swept = error_of(std::string(kBase) + "[sweep]\naxes.\"initialization.alpah\" = [1.0]\n");
  EXPECT_NE(swept.find("initialization.alpah: unknown key (did you mean 'alpha'?)"), std::string::npos) << swept;
  EXPECT_NE(swept.find("at sweep point 0"), std::string::npos) << swept;
}

TEST(ExperimentFile, NonAsciiTextMeansWhatItSaysAndNeverReachesTheParserOutsideStrings) {
  // toml++ 3.3 misbehaves on non-ASCII characters outside strings (io/toml_ascii.hpp): the parser
  // gets \u escapes, and the values read back are the UTF-8 the file holds.
  const std::string text = std::string("# σ and α in a comment\n") + "name = \"unicode\"\n" +
                           "description = 'σ₀ = \"Σ\" \\ in a literal'\n" + kBase +
                           "[[events]]\nkind = \"loss\"\nlevel = 1.0\nname = \"x\" # é\n";
  const auto ex = parse_experiment(text, "exp.toml", ".");
  EXPECT_EQ(ex.description, "σ₀ = \"Σ\" \\ in a literal");
  const auto multi = parse_experiment("description = \"\"\"\nα \"β\" \\u03B3\"\"\"\n" + std::string(kBase), "exp.toml", ".");
  EXPECT_EQ(multi.description, "α \"β\" γ");
  const auto literal = parse_experiment("description = '''\nα \"β\" \\n'''\n" + std::string(kBase), "exp.toml", ".");
  EXPECT_EQ(literal.description, "α \"β\" \\n");
  EXPECT_NE(error_of("σ = 1\n" + std::string(kBase)).find("exp.toml:1:1: TOML syntax error: a non-ASCII character outside a string"),
            std::string::npos);
  EXPECT_NE(error_of("x =+=\"ʞ\"\n").find("exp.toml:1:"), std::string::npos);  // the fuzzer's case: an error, no UB
  EXPECT_NE(error_of("description = \"\xff\"\n" + std::string(kBase)).find("not UTF-8"), std::string::npos);
}

TEST(ExperimentFile, EditDistanceSuggestsOnlyNearKeys) {
  EXPECT_EQ(io::edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(io::did_you_mean("t_finl", {"t_final", "loss_below"}), " (did you mean 't_final'?)");
  EXPECT_EQ(io::did_you_mean("zzzzzz", {"t_final", "loss_below"}), "");
}

}  // namespace
}  // namespace dlnflow
