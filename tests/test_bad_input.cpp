// Bad input raises InputError naming the field and the offending value.
#include "helpers.hpp"

namespace dlnflow {
namespace {

using testing::diag;
using testing::mat;

template <class F>
void expect_input_error(F&& f, const std::string& field, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "no error for field " << field;
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), field);
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

const double nan = std::numeric_limits<double>::quiet_NaN();

TEST(BadInput, MismatchedDimensions) {
  expect_input_error([] { Problem(matrix_approximation_loss(Mat::Ones(3, 4)), DeepFactorization{{3, 3}}); },
                     "dimensions", "3x4");
  expect_input_error([] { Problem(SquareLoss{Mat::Identity(3, 3), Mat::Ones(2, 4), 1}, DeepFactorization{{3, 2}}); },
                     "Cyx", "4 columns");
  expect_input_error([] { Problem(BuresWassersteinLoss{diag({1, 2}), 0}, DeepFactorization{{4, 3}}); }, "dimensions", "2x0");
  const Problem p(matrix_approximation_loss(diag({1, 2})), DeepFactorization{{2, 2, 2}});
  expect_input_error([&] { pack_state(p, {Mat::Ones(2, 2), Mat::Ones(3, 2)}); }, "init.matrices[1]", "3x2");
  expect_input_error([&] { integrate(p, Vec::Zero(3), SolveOptions{}); }, "initial_state", "3 entries");
}

TEST(BadInput, SigmaZeroNotSymmetricOrIndefinite) {
  expect_input_error([] { Problem(BuresWassersteinLoss{mat(2, 2, {1, 0.5, 0, 1}), 0}, DeepFactorization{{2, 2}}); },
                     "sigma0", "not symmetric");
  expect_input_error([] { Problem(BuresWassersteinLoss{diag({1, -0.5}), 0}, DeepFactorization{{2, 2}}); }, "sigma0",
                     "-0.5");
  expect_input_error([] { Problem(BuresWassersteinLoss{diag({1, 0}), 0.1}, DeepFactorization{{2, 2}}); }, "sigma0",
                     "positive definite");
}

TEST(BadInput, NegativeTauAndDepthZero) {
  expect_input_error([] { Problem(BuresWassersteinLoss{diag({1, 2}), -0.1}, DeepFactorization{{2, 2}}); }, "tau", "-0.1");
  expect_input_error([] { Problem(matrix_approximation_loss(diag({1})), DeepFactorization{{1}}); }, "widths", "got 1");
  expect_input_error([] { Problem(matrix_approximation_loss(diag({1, 2})), DeepFactorization{{2, 0, 2}}); }, "widths",
                     "d_1 = 0");
  expect_input_error([] { Problem(matrix_approximation_loss(diag({1, 2})), EndToEndFlow{2, 2, 0, 1}); }, "depth", "got 0");
  expect_input_error([] { Problem(matrix_approximation_loss(diag({1, 2})), EndToEndFlow{2, 2, 2, 3}); }, "rank_cap",
                     "got 3");
}

TEST(BadInput, IndexSets) {
  expect_input_error([] { Problem(CompletionLoss{diag({1, 2}), {}}, SymmetricFactorization{2, 2}); }, "omega", "empty");
  expect_input_error([] { Problem(CompletionLoss{diag({1, 2}), {{0, 1}, {2, 0}}}, SymmetricFactorization{2, 2}); },
                     "omega", "(2,0)");
  expect_input_error([] { Problem(CompletionLoss{diag({1, 2}), {{-1, 0}}}, SymmetricFactorization{2, 2}); }, "omega",
                     "(-1,0)");
}

TEST(BadInput, NonFiniteData) {
  expect_input_error([] { Problem(SquareLoss{Mat::Identity(2, 2), mat(2, 2, {1, nan, 0, 1}), 1}, DeepFactorization{{2, 2}}); },
                     "Cyx", "nan");
  expect_input_error([] { Problem(BuresWassersteinLoss{mat(2, 2, {1, 0, 0, INFINITY}), 0}, DeepFactorization{{2, 2}}); },
                     "sigma0", "inf");
  expect_input_error([] { Problem(SensingLoss{{Mat::Identity(2, 2)}, Vec::Constant(1, nan)}, DeepFactorization{{2, 2}}); },
                     "y", "nan");
  expect_input_error([] { Problem(CompletionLoss{mat(1, 2, {1, nan}), {{0, 1}}}, DeepFactorization{{2, 1}}); }, "target",
                     "(0,1)");
  expect_input_error([] { Problem(BuresWassersteinLoss{diag({1, 2}), nan}, DeepFactorization{{2, 2}}); }, "tau", "nan");
  const Problem p(matrix_approximation_loss(diag({1, 2})), DeepFactorization{{2, 2}});
  expect_input_error([&] { pack_state(p, {mat(2, 2, {1, nan, 0, 0})}); }, "init.matrices[0]", "non-finite");
  expect_input_error([&] { initial_state(p, GaussianInit{nan, ScaleOn::EndToEnd}, 0, 0); }, "init.alpha", "nan");
}

TEST(BadInput, SolveOptionsAndInits) {
  const Problem p(matrix_approximation_loss(diag({1, 2})), DeepFactorization{{2, 2, 2}});
  const Vec y = Vec::Ones(p.state_size());
  SolveOptions o;
  o.stop.t_final = -1;
  expect_input_error([&] { integrate(p, y, o); }, "stop.t_final", "-1");
  o = SolveOptions{};
  o.integrator.method = Method::RK4;  // dt is a fixed-step method's (the default is adaptive)
  o.integrator.dt = 0;
  expect_input_error([&] { integrate(p, y, o); }, "integrator.dt", "got 0");
  o = SolveOptions{};
  o.record.times = {0.5, 0.2};
  expect_input_error([&] { integrate(p, y, o); }, "record.times", "0.2");
  o = SolveOptions{};
  o.events = {{EventKind::SingularValue, 5, 1.0, Crossing::Up, false}};
  expect_input_error([&] { integrate(p, y, o); }, "events[1].index", "5");
  o = SolveOptions{};
  o.integrator.method = Method::DormandPrince54;
  o.integrator.rtol = 0;
  expect_input_error([&] { integrate(p, y, o); }, "integrator.rtol", "0");
  expect_input_error([&] { initial_state(p, BalancedInit{Mat::Ones(3, 2)}, 0, 0); }, "init.W0", "3x2");
  const Problem neck(matrix_approximation_loss(diag({1, 2})), DeepFactorization{{2, 1, 2}});
  expect_input_error([&] { initial_state(neck, BalancedInit{diag({1, 2})}, 0, 0); }, "init.W0", "rank 2");
  expect_input_error([&] { initial_state(neck, CriticalPointInit{99, 0}, 0, 0); }, "init.index", "99");
  const Problem sens(SensingLoss{{Mat::Identity(2, 2)}, Vec::Ones(1)}, DeepFactorization{{2, 2}});
  expect_input_error([&] { CriticalPointCatalog c(sens); }, "loss", "square and Bures");
  // A bad initial condition inside a batch fails the batch with the same error.
  expect_input_error([&] { solve(p, {{GaussianInit{-1, ScaleOn::EndToEnd}, 0, 0}}, SolveOptions{}, Backend::Cpu); },
                     "init.alpha", "-1");
}

}  // namespace
}  // namespace dlnflow
