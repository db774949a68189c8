// Experiment file -> sweep points. The file is read section by section through TableReader,
// so every value is type- and range-checked where it is read, and unknown keys are caught.
// A sweep point is the base document with the swept keys overwritten, parsed like any file.
// Points are validated once at load and rebuilt on demand afterwards (Experiment::point), so a
// sweep of a million points costs neither minutes nor gigabytes: the sections a point does not
// sweep (its loss and data, its network, its initialization) are read once and shared.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>

#include "../core/bw_target.hpp"
#include "data_files.hpp"
#include "dlnflow/error.hpp"
#include "dlnflow/app/experiment.hpp"
#include "dlnflow/matfun.hpp"
#include "dlnflow/solve.hpp"
#include "matrix_source.hpp"
#include "memory_budget.hpp"
#include "result_files.hpp"
#include "toml_ascii.hpp"
#include "toml_reader.hpp"

namespace dlnflow {

const char* to_string(SaveStates s) {
  switch (s) {
    case SaveStates::None: return "none";
    case SaveStates::Final: return "final";
    case SaveStates::Endpoints: return "endpoints";
    case SaveStates::Recorded: return "recorded";
  }
  return "none";
}


using io::Bounds;
using io::Origin;
using io::TableReader;
using nlohmann::json;

namespace {

constexpr std::int64_t kMaxDim = 2147483647;          // widths are ints in the engine
constexpr std::size_t kMaxPoints = 1000000;           // documented limit of a sweep
constexpr double kMaxChunks = 1e7;                    // the manifest lists every chunk
constexpr std::size_t kMaxWarnings = 20;

std::string shape_text(Index r, Index c) { return std::to_string(r) + " x " + std::to_string(c); }

std::string short_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// Library validation reports its own field names; point them at the section they came from.
template <class F>
auto guarded(TableReader& section, F&& build) {
  try {
    return build();
  } catch (const InputError& e) {
    section.fail(e.field(), std::string(e.what()).substr(std::string("invalid " + e.field() + ": ").size()));
  }
}

struct LossInfo {
  LossSpec spec;
  Index rows = 0, cols = 0;
  bool cols_free = false;  // Bures-Wasserstein: W is n x d0 for any latent width d0
};

// Warnings of one load, each said once however many points repeat it.
struct Warnings {
  std::vector<std::string> list;
  std::set<std::string> seen;
  std::size_t dropped = 0;
  void add(const std::string& w) {
    if (!seen.insert(w).second) return;
    if (list.size() < kMaxWarnings) list.push_back(w);
    else ++dropped;
  }
};

LossInfo read_problem(TableReader p, const std::string& dir) {
  const std::string kind = p.choice("loss", std::nullopt,
                                    {"matrix_approximation", "regression", "autoencoder", "bures_wasserstein",
                                     "sensing", "completion"});
  LossInfo info;
  if (kind == "matrix_approximation") {
    const Mat T = *io::read_matrix(p, "target", dir, true);
    info = {matrix_approximation_loss(T), T.rows(), T.cols()};
  } else if (kind == "regression" || kind == "autoencoder") {
    const Mat X = *io::read_matrix(p, "X", dir, true);
    const Mat Y = kind == "regression" ? *io::read_matrix(p, "Y", dir, true) : X;
    if (Y.cols() != X.cols())
      p.fail("Y", "has " + std::to_string(Y.cols()) + " samples (columns); X has " + std::to_string(X.cols()));
    info = {regression_loss(X, Y), Y.rows(), X.rows()};
  } else if (kind == "bures_wasserstein") {
    const Mat S = *io::read_matrix(p, "sigma0", dir, true);
    const double tau = p.real("tau", 0.0, Bounds::nonnegative());
    if (S.rows() != S.cols()) p.fail("sigma0", "must be square, got " + shape_text(S.rows(), S.cols()));
    info = {BuresWassersteinLoss{S, tau}, S.rows(), S.rows(), true};
  } else if (kind == "sensing") {
    const Mat T = *io::read_matrix(p, "target", dir, true);
    SensingLoss s;
    s.A = io::read_matrix_stack(p, "A", dir, {T.rows(), T.cols()});
    s.y.resize(static_cast<Index>(s.A.size()));
    for (std::size_t i = 0; i < s.A.size(); ++i) s.y(static_cast<Index>(i)) = s.A[i].cwiseProduct(T).sum();
    info = {std::move(s), T.rows(), T.cols()};
  } else {
    const Mat T = *io::read_matrix(p, "target", dir, true);
    const Mat M = *io::read_matrix(p, "mask", dir, true, io::Shape{T.rows(), T.cols()});
    if (M.rows() != T.rows() || M.cols() != T.cols())
      p.fail("mask", "has shape " + shape_text(M.rows(), M.cols()) + ", the target " + shape_text(T.rows(), T.cols()));
    CompletionLoss c{T, {}};
    for (Index i = 0; i < M.rows(); ++i)
      for (Index j = 0; j < M.cols(); ++j)
        if (M(i, j) != 0) c.omega.push_back({static_cast<int>(i), static_cast<int>(j)});
    if (c.omega.empty()) p.fail("mask", "observes no entry");
    info = {std::move(c), T.rows(), T.cols()};
  }
  p.finish();
  return info;
}

// Sum of d_j d_{j-1}: the state a trajectory integrates. Checked before the Problem allocates it
// (an integrator keeps about a dozen copies, so a state that fills memory is already too big).
void require_state_fits(TableReader& n, const std::string& key, const std::vector<std::int64_t>& widths) {
  double state = 0;
  for (std::size_t j = 1; j < widths.size(); ++j) state += static_cast<double>(widths[j]) * static_cast<double>(widths[j - 1]);
  io::require_fits(n, key, 16 * state, "a state of " + io::format_double(state) + " numbers (with the integrator's copies)");
}

Parametrization read_network(TableReader n, const LossInfo& loss) {
  const std::string kind = n.choice("parametrization", "deep", {"deep", "symmetric", "end_to_end"});
  const auto rows = static_cast<int>(loss.rows), cols = static_cast<int>(loss.cols);
  Parametrization param;
  if (kind == "deep") {
    std::vector<std::int64_t> w;
    std::string key = "widths";
    if (n.has("widths")) {
      w = n.integers("widths", std::nullopt, 1);
      for (std::size_t j = 0; j < w.size(); ++j)
        if (w[j] > kMaxDim) n.fail("widths", "entry " + std::to_string(j + 1) + " must be <= " + std::to_string(kMaxDim) + " (got " + std::to_string(w[j]) + ")");
      if (w.size() < 2) n.fail("widths", "needs at least 2 entries (input width first, output width last)");
      if (w.back() != rows)
        n.fail("widths", "last entry (output width) is " + std::to_string(w.back()) + ", the loss needs " + std::to_string(rows));
      if (!loss.cols_free && w.front() != cols)
        n.fail("widths", "first entry (input width) is " + std::to_string(w.front()) + ", the loss needs " + std::to_string(cols));
    } else {
      n.node("widths");
      const int depth = static_cast<int>(n.integer("depth", std::nullopt, 1, 64));
      key = n.has("width") ? "width" : "depth";
      const std::int64_t width = n.integer("width", std::max(rows, cols), 1, kMaxDim);
      const std::int64_t input = loss.cols_free ? n.integer("input", cols, 1, kMaxDim) : cols;
      w.assign(depth + 1, width);
      w.front() = input;
      w.back() = rows;
    }
    require_state_fits(n, key, w);
    param = DeepFactorization{std::vector<int>(w.begin(), w.end())};
  } else if (kind == "symmetric") {
    if (rows != cols && !loss.cols_free)
      n.fail("parametrization", "symmetric needs a square W; the loss's W is " + shape_text(rows, cols));
    const std::int64_t k = n.integer("k", rows, 1, kMaxDim);
    require_state_fits(n, "k", {k, rows});
    param = SymmetricFactorization{rows, static_cast<int>(k)};
  } else {
    const int depth = static_cast<int>(n.integer("depth", std::nullopt, 1, 64));
    const std::int64_t input = loss.cols_free ? n.integer("input", cols, 1, kMaxDim) : cols;
    require_state_fits(n, "input", {input, rows});
    const int cap = static_cast<int>(n.integer("rank_cap", std::min<std::int64_t>(rows, input), 1, kMaxDim));
    param = EndToEndFlow{rows, static_cast<int>(input), depth, cap};
  }
  n.finish();
  return param;
}

InitSpec read_initialization(TableReader r, const Problem& problem, const std::string& dir, Warnings& warnings) {
  const std::string kind = r.choice("kind", "gaussian", {"gaussian", "identity", "balanced", "critical_point", "user"});
  InitSpec init;
  if (kind == "gaussian" || kind == "identity") {
    const double alpha = r.real("alpha", std::nullopt, Bounds::nonnegative());
    const ScaleOn on = r.named("scale_on", std::optional(ScaleOn::EndToEnd), {ScaleOn::EndToEnd, ScaleOn::Factors});
    if (kind == "gaussian") init = GaussianInit{alpha, on};
    else init = ScaledIdentityInit{alpha, on};
  } else if (kind == "balanced") {
    const Mat W0 = *io::read_matrix(r, "W0", dir, true, io::Shape{problem.rows(), problem.cols()});
    if (W0.rows() != problem.rows() || W0.cols() != problem.cols())
      r.fail("W0", "has shape " + shape_text(W0.rows(), W0.cols()) + ", W is " + shape_text(problem.rows(), problem.cols()));
    // The balanced factorization keeps the singular values above W0's rounding (max(m, n) eps
    // relative); a perturbation of a rank-deficient W0 smaller than that is dropped with them.
    if (W0.allFinite() && W0.size() > 0) {
      const Vec s = thin_svd(W0).s;
      const double rounding = static_cast<double>(std::max(W0.rows(), W0.cols())) * std::numeric_limits<double>::epsilon();
      for (Index i = 0; i < s.size(); ++i)
        if (s(i) > 0 && s(i) <= rounding * s(0)) {
          warnings.add(r.key_path("W0") + ": singular value " + std::to_string(i + 1) + " is " + short_number(s(i) / s(0)) +
                       " of the largest, below W0's rounding (" + short_number(rounding) +
                       "): the balanced start drops it, so a perturbation that small is lost and the start is exactly the "
                       "unperturbed matrix; perturb the factors instead (kind = \"critical_point\" with epsilon)");
          break;
        }
    }
    init = BalancedInit{W0, r.boolean("random_frames", false)};
  } else if (kind == "critical_point") {
    init = CriticalPointInit{static_cast<int>(r.integer("index", std::nullopt, 0, kMaxDim)),
                             r.real("epsilon", 0.0, Bounds::nonnegative())};
  } else {
    UserInit u;
    const std::vector<std::string> keys = io::state_matrix_names(problem);
    for (std::size_t j = 0; j < keys.size(); ++j) {
      Mat M = *io::read_matrix(r, keys[j], dir, true);
      const auto want = problem.blocks()[j];
      if (M.rows() != want[0] || M.cols() != want[1])
        r.fail(keys[j], "has shape " + shape_text(M.rows(), M.cols()) + ", expected " + shape_text(want[0], want[1]));
      u.matrices.push_back(std::move(M));
    }
    init = std::move(u);
  }
  r.finish();
  return init;
}

IntegratorConfig read_integrator(TableReader r) {
  IntegratorConfig c;
  c.method = r.named("method", std::optional(c.method),
                     {Method::Euler, Method::RK4, Method::DormandPrince54, Method::Rodas5P, Method::Auto});
  if (is_adaptive(c.method)) {
    // rtol >= 1 would accept any step: the error control would be switched off.
    c.rtol = r.real("rtol", c.rtol, {0.0, 1.0, true, true});
    c.atol = r.real("atol", c.atol, Bounds::nonnegative());
    c.dt_initial = r.real("dt_initial", 0.0, Bounds::nonnegative());
    c.dt_min = r.real("dt_min", 0.0, Bounds::nonnegative());
    if (r.has("dt_max")) c.dt_max = r.real("dt_max", std::nullopt, Bounds::positive());
    else r.node("dt_max");
    if (c.dt_min > c.dt_max)
      r.fail("dt_min", "must be <= dt_max = " + io::format_double(c.dt_max) + " (got " + io::format_double(c.dt_min) + ")");
  } else {
    c.dt = r.real("dt", c.dt, Bounds::positive());
  }
  c.max_steps = r.integer("max_steps", c.max_steps, 1);
  r.finish();
  return c;
}

StopRules read_stop(TableReader r) {
  StopRules s;
  s.t_final = r.real("t_final", std::nullopt, Bounds::positive());
  if (r.has("loss_below")) s.loss_below = r.real("loss_below", std::nullopt);
  else r.node("loss_below");
  s.grad_norm_below = r.real("grad_norm_below", 0.0, Bounds::nonnegative());
  s.grad_min_time = r.real("grad_min_time", 0.0, Bounds::nonnegative());
  s.blowup_norm = r.real("blowup_norm", s.blowup_norm, Bounds::positive());
  r.finish();
  return s;
}

void read_record(TableReader r, double t_final, PointConfig& pc,
                 const std::function<std::shared_ptr<const CriticalPointCatalog>()>& catalog) {
  RecordConfig& rec = pc.options.record;
  const std::string grid = r.choice("grid", "log", {"log", "uniform", "list"});
  if (grid == "log") {
    const int count = static_cast<int>(r.integer("count", 50, 1, 1000000));
    const double first = r.real("t_first", t_final * 1e-4, {0.0, t_final, true, false});
    rec.times = log_grid(first, t_final, count, r.boolean("with_zero", true));
  } else if (grid == "uniform") {
    rec.times = uniform_grid(0.0, t_final, static_cast<int>(r.integer("count", 101, 2, 1000000)));
  } else {
    rec.times = r.reals("times", std::nullopt, {0.0, t_final, false, false});
    for (std::size_t i = 1; i < rec.times.size(); ++i)
      if (!(rec.times[i] > rec.times[i - 1])) r.fail("times", "must be strictly increasing (entry " + std::to_string(i + 1) + ")");
  }
  rec.rank_rtol = r.real("rank_rtol", rec.rank_rtol, Bounds::positive());
  const bool critical = r.boolean("critical_points", false);
  pc.save_states = r.named("save_states", std::optional(SaveStates::None),
                           {SaveStates::None, SaveStates::Final, SaveStates::Endpoints, SaveStates::Recorded});
  rec.keep_states = pc.save_states == SaveStates::Recorded;
  if (critical) {
    pc.catalog = guarded(r, catalog);
    rec.catalog = pc.catalog.get();
  }
  r.finish();
}

// A problem quantity an event level may name: target.sigma<k> (the k-th singular value of
// Cyx Cxx^{-1/2}, the target's own for matrix approximation; docs/theory.md §6.1) or
// sigma0.lambda<k> (the k-th eigenvalue of the BW target), k from 1; nullopt for other names.
std::optional<double> problem_quantity(const Problem& problem, const std::string& name, std::string& why) {
  auto index_after = [&](const std::string& prefix) -> int {
    if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) return 0;
    const std::string digits = name.substr(prefix.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 6) return 0;
    return std::stoi(digits);
  };
  if (const int k = index_after("target.sigma")) {
    const auto* sq = std::get_if<SquareLoss>(&problem.loss());
    if (!sq) return why = "target.sigma<k> needs a square loss", std::nullopt;
    Vec s;
    try {
      s = thin_svd(sq->Cyx * spd_inv_sqrt(sq->Cxx)).s;
    } catch (const std::domain_error&) {
      return why = "target.sigma<k> needs Cxx positive definite", std::nullopt;
    }
    if (k > s.size()) return why = name + ": the target has " + std::to_string(s.size()) + " singular values", std::nullopt;
    return s(k - 1);
  }
  if (const int k = index_after("sigma0.lambda")) {
    if (!problem.bw()) return why = "sigma0.lambda<k> needs the Bures-Wasserstein loss", std::nullopt;
    const Vec& l = problem.bw()->lambda;
    if (k > l.size()) return why = name + ": Sigma0 has " + std::to_string(l.size()) + " eigenvalues", std::nullopt;
    return l(k - 1);
  }
  return std::nullopt;
}

// An event's level: a number, or { of = "<key path or problem quantity>", times = a, plus = b }
// for a * value + b, the value being this point's (a swept one, say initialization.alpha).
double read_level(TableReader& e, const json& document, const Problem& problem) {
  const toml::node* n = e.node("level");
  if (!n || !n->is_table()) return e.real("level", std::nullopt);
  TableReader l = e.table("level");
  const std::string of = l.text("of", std::nullopt);
  const double times = l.real("times", 1.0), plus = l.real("plus", 0.0);
  l.finish();
  std::string why;
  double value = NAN;
  if (const auto q = problem_quantity(problem, of, why)) {
    value = *q;
  } else {
    if (!why.empty()) l.fail("of", why);
    const json* at = &document;
    std::size_t start = 0;
    while (at && start <= of.size()) {
      const std::size_t dot = std::min(of.find('.', start), of.size());
      const std::string key = of.substr(start, dot - start);
      at = at->is_object() && at->contains(key) ? &(*at)[key] : nullptr;
      start = dot + 1;
    }
    if (!at || !at->is_number())
      l.fail("of", "'" + of + "' is neither a number in this experiment (a key path such as initialization.alpha) "
                   "nor a problem quantity (target.sigma<k>, sigma0.lambda<k>)");
    value = at->get<double>();
  }
  const double level = times * value + plus;
  if (!std::isfinite(level)) l.fail("of", "gives a level that is not finite");
  e.resolved()["level_value"] = level;
  return level;
}

void read_events(TableReader& root, PointConfig& pc, const std::string& dir) {
  const toml::array* events = root.array("events");
  json& out = root.resolved()["events"];
  out = json::array();
  if (!events) return;
  const int sv_count = static_cast<int>(std::min(pc.problem->rows(), pc.problem->cols()));
  for (std::size_t i = 0; i < events->size(); ++i) {
    const std::string where = "events[" + std::to_string(i + 1) + "]";
    if (!(*events)[i].is_table()) io::fail_at(root.origin(), &(*events)[i], where, "must be a table ([[events]])");
    out.push_back(json::object());
    TableReader e((*events)[i].as_table(), where, root.origin(), out.back());
    EventSpec spec;
    spec.kind = e.named<EventKind>("kind", std::nullopt,
                                   {EventKind::SingularValue, EventKind::Loss, EventKind::GradNorm, EventKind::CriticalDistance,
                                    EventKind::Linear, EventKind::Distance});
    if (spec.kind == EventKind::SingularValue) spec.index = static_cast<int>(e.integer("index", std::nullopt, 1, sv_count));
    if (spec.kind == EventKind::Linear || spec.kind == EventKind::Distance) {
      const io::Shape w{pc.problem->rows(), pc.problem->cols()};
      spec.matrix = *io::read_matrix(e, "matrix", dir, true, w);
      if (spec.matrix.rows() != w.rows || spec.matrix.cols() != w.cols)
        e.fail("matrix", "is " + std::to_string(spec.matrix.rows()) + "x" + std::to_string(spec.matrix.cols()) +
                             "; W is " + std::to_string(w.rows) + "x" + std::to_string(w.cols));
      if (!spec.matrix.allFinite()) e.fail("matrix", "has a non-finite entry");
    }
    spec.level = read_level(e, root.resolved(), *pc.problem);
    spec.crossing = e.named("crossing", std::optional(Crossing::Either), {Crossing::Up, Crossing::Down, Crossing::Either});
    const std::string crossing = to_string(spec.crossing);
    spec.terminal = e.boolean("terminal", false);
    const std::string fallback =
        (spec.kind == EventKind::SingularValue ? "sigma" + std::to_string(spec.index) : std::string(to_string(spec.kind))) +
        "_" + crossing;
    std::string name = e.text("name", fallback);
    if (name.empty() || name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != std::string::npos)
      e.fail("name", "must be non-empty and use only letters, digits, '_', '-' and '.' (it names a column), got '" + name + "'");
    for (const auto& other : pc.event_names)
      if (other == name) {
        if (e.has("name")) e.fail("name", "'" + name + "' is used by an earlier event");
        name += '_';
        name += std::to_string(i + 1);
      }
    out.back()["name"] = name;
    e.finish();
    pc.event_names.push_back(name);
    pc.options.events.push_back(spec);
  }
}

// An explicit method's step is bounded by the flow's time scale ||y|| / ||dy/dt|| at the start;
// a start so large that reaching t_final needs more steps than max_steps runs for a long time
// and then stops there (alpha = 1e200). Said before the run, not after.
void warn_time_scale(const PointConfig& pc, std::uint64_t seed, const std::string& at, Warnings& warnings) {
  const Vec y = initial_state(*pc.problem, pc.init, seed, 0);
  if (y.size() == 0 || !y.allFinite()) return;
  Vec f;
  try {
    f = flow_velocity(*pc.problem, y);
  } catch (const std::domain_error& e) {
    // What the engine would do at the first step: end the trajectory as failed, with this reason.
    warnings.add("the flow at the initial state" + at + " cannot be evaluated (" + e.what() +
                 "): the trajectory will stop at its first step (is the initialization scale meant?)");
    return;
  }
  const double rate = f.norm() / std::max(y.norm(), std::numeric_limits<double>::min());
  if (!std::isfinite(rate)) {
    warnings.add("the flow at the initial state" + at +
                 " overflows float64 (|dy/dt| is not finite): the trajectory will diverge at its first step (is the "
                 "initialization scale meant?)");
    return;
  }
  const double steps = rate * pc.options.stop.t_final;
  if (!(steps > 10.0 * static_cast<double>(pc.options.integrator.max_steps))) return;
  warnings.add("the initial state" + at + " moves at a relative rate of " + short_number(rate) +
               " per unit time (|dy/dt| / |y|); an explicit method needs about " + short_number(steps) +
               " steps to reach t_final and will stop at max_steps = " + std::to_string(pc.options.integrator.max_steps) +
               " (is the initialization scale meant?)");
}

// ---- Sections shared between points ----------------------------------------------------

// Sections a point does not sweep are the same for every point: read once, then shared. The
// keys are the indices of the swept values under each section (and the sections it needs).
struct Memo {
  // A section as read once: what it yields, its resolved mirror, and the hash of that mirror (a
  // section of inline data is not re-serialized per point).
  template <class P>
  struct Shared {
    P value;
    json resolved;
    std::uint64_t hash;
  };
  std::map<std::string, Shared<LossInfo>> loss;
  std::map<std::string, Shared<std::shared_ptr<const Problem>>> problem;
  std::map<std::string, Shared<InitSpec>> init;
  std::map<std::string, std::shared_ptr<const CriticalPointCatalog>> catalog;
  std::set<std::string> time_scale_checked;
  // A sweep of the loss's own parameters (1e6 values of tau) must not keep 1e6 problems alive.
  template <class M>
  static void bound(M& m) {
    if (m.size() >= 64) m.clear();
  }
};

struct SectionKeys {
  std::string problem, network, init;  // cumulative: network includes problem, init includes network
  std::string timing;                  // init plus the swept integrator and stop keys
};

struct PointOut {
  PointConfig config;
  json resolved;  // the point's document with every default filled in
  std::uint64_t hash = 0;  // of resolved, section by section (the fingerprint's share of this point)
};

// FNV-1a over a canonical walk of the value (no text is built: this runs for every section of
// every point). Strings carry their length, numbers their shortest round-trip text, so the hash
// is the same on every machine and build.
void hash_into(const json& v, std::uint64_t& h) {
  auto bytes = [&](const char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 1099511628211ull;
  };
  auto text = [&](const std::string& s) {
    const std::string n = std::to_string(s.size()) + ":";
    bytes(n.data(), n.size());
    bytes(s.data(), s.size());
  };
  char buf[64];
  switch (v.type()) {
    case json::value_t::object:
      bytes("{", 1);
      for (const auto& [k, e] : v.items()) text(k), hash_into(e, h);
      bytes("}", 1);
      break;
    case json::value_t::array:
      bytes("[", 1);
      for (const auto& e : v) hash_into(e, h);
      bytes("]", 1);
      break;
    case json::value_t::string: bytes("s", 1), text(v.get_ref<const std::string&>()); break;
    case json::value_t::boolean: bytes(v.get<bool>() ? "T" : "F", 1); break;
    case json::value_t::number_float: {
      const auto r = std::to_chars(buf, buf + sizeof buf, v.get<double>());
      bytes("d", 1), bytes(buf, static_cast<std::size_t>(r.ptr - buf));
      break;
    }
    case json::value_t::number_integer: {
      const auto r = std::to_chars(buf, buf + sizeof buf, v.get<std::int64_t>());
      bytes("i", 1), bytes(buf, static_cast<std::size_t>(r.ptr - buf));
      break;
    }
    case json::value_t::number_unsigned: {
      const auto r = std::to_chars(buf, buf + sizeof buf, v.get<std::uint64_t>());
      bytes("i", 1), bytes(buf, static_cast<std::size_t>(r.ptr - buf));
      break;
    }
    default: bytes("n", 1);
  }
}

std::uint64_t combine(std::uint64_t h, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) h = (h ^ ((v >> (8 * i)) & 0xff)) * 1099511628211ull;
  return h;
}

std::uint64_t section_hash(const std::string& key, const json& value) {
  std::uint64_t h = io::fnv1a64(key + "=");
  hash_into(value, h);
  return h;
}

// Section `name` of the point: the shared reading under `key` if there is one, else read() (which
// reads root.table(name), filling its resolved mirror) kept for the next point.
template <class P, class Read>
const Memo::Shared<P>& shared_section(std::map<std::string, Memo::Shared<P>>& memo, const std::string& key,
                                      TableReader& root, const char* name, Read&& read) {
  if (auto it = memo.find(key); it != memo.end()) {
    root.node(name);
    root.resolved()[name] = it->second.resolved;
    return it->second;
  }
  P value = read();
  Memo::bound(memo);
  const json& r = root.resolved()[name];
  return memo[key] = Memo::Shared<P>{std::move(value), r, section_hash(name, r)};
}

// Critical points listed for a problem: subsets of at most rank_bound of its min(rows, cols)
// modes, each with a rows x cols matrix (the catalogue refuses more than 100000).
double catalog_entries(const Problem& problem) {
  const double modes = static_cast<double>(std::min(problem.rows(), problem.cols()));
  double count = 0, binomial = 1;
  for (int k = 0; k <= std::min<int>(problem.rank_bound(), static_cast<int>(modes)) && count <= 1e5; ++k) {
    count += binomial;
    binomial = binomial * (modes - k) / (k + 1);
  }
  return std::min(count, 1e5 + 1) * static_cast<double>(problem.rows()) * static_cast<double>(problem.cols());
}

PointOut read_point(const toml::table& doc, const Origin& origin, const std::string& dir, std::uint64_t seed,
                    const SectionKeys& keys, Memo& memo, Warnings& warnings, bool validate, bool check_time_scale) {
  PointOut out;
  PointConfig& pc = out.config;
  json& resolved = out.resolved;
  resolved = json::object();
  TableReader root(&doc, "", origin, resolved);
  root.node("name");
  root.node("description");
  root.node("sweep");
  root.node("run");
  if (!root.has("problem")) root.fail("problem", "section [problem] is required");
  const auto& loss = shared_section(memo.loss, keys.problem, root, "problem",
                                    [&] { return read_problem(root.table("problem"), dir); });
  if (!root.has("network")) root.fail("network", "section [network] is required");
  const auto& problem = shared_section(memo.problem, keys.network, root, "network", [&] {
    TableReader network = root.table("network");
    const Parametrization param = read_network(network, loss.value);
    return guarded(network, [&] { return std::make_shared<const Problem>(loss.value.spec, param); });
  });
  pc.problem = problem.value;
  const auto& init = shared_section(memo.init, keys.init, root, "initialization", [&] {
    TableReader init_section = root.table("initialization");
    InitSpec spec = read_initialization(init_section, *pc.problem, dir, warnings);
    // What the library would reject at run time is rejected now (a Gaussian or identity start
    // of a valid alpha cannot be rejected; the others depend on their matrices).
    if (!std::holds_alternative<GaussianInit>(spec) && !std::holds_alternative<ScaledIdentityInit>(spec))
      guarded(init_section, [&] { return initial_state(*pc.problem, spec, seed, 0); });
    return spec;
  });
  pc.init = init.value;
  const std::uint64_t shared_hash = combine(combine(loss.hash, problem.hash), init.hash);

  pc.options.integrator = read_integrator(root.table("integrator"));
  if (!root.has("stop")) root.fail("stop", "section [stop] with t_final is required");
  pc.options.stop = read_stop(root.table("stop"));
  TableReader record = root.table("record");
  read_record(record, pc.options.stop.t_final, pc, [&] {
    if (auto it = memo.catalog.find(keys.network); it != memo.catalog.end()) return it->second;
    io::require_fits(record, "critical_points", catalog_entries(*pc.problem), "the critical-point catalogue");
    Memo::bound(memo.catalog);
    return memo.catalog[keys.network] = std::make_shared<const CriticalPointCatalog>(*pc.problem);
  });
  read_events(root, pc, dir);
  root.finish();

  if (validate) {
    try {
      dlnflow::validate(*pc.problem, pc.options);
    } catch (const InputError& e) {
      // The library names its fields as the file does (integrator.dt_min, events[i] 0-based).
      const toml::node* at = doc.at_path(e.field()).node();
      io::fail_at(origin, at ? at : &doc, at ? e.field() : "experiment", e.what());
    }
    if (memo.time_scale_checked.size() >= 64) memo.time_scale_checked.clear();
    if (check_time_scale && memo.time_scale_checked.insert(keys.timing).second)
      warn_time_scale(pc, seed, origin.context.empty() ? "" : " " + origin.context, warnings);
  }
  out.hash = shared_hash;
  for (const auto& [key, value] : resolved.items())
    if (key != "problem" && key != "network" && key != "initialization")
      out.hash = combine(out.hash, section_hash(key, value));
  return out;
}

// ---- Sweep axes -----------------------------------------------------------------------

struct Axis {
  std::string path;
  std::vector<std::shared_ptr<toml::node>> values;
  toml::source_position where;  // of the axis in [sweep.axes]
  int zip = -1;                 // >= 0: a member of [[sweep.zip]] table `zip`, varying with the others there
};

std::shared_ptr<toml::node> as_node(const toml::node& n) {
  std::shared_ptr<toml::node> out;
  n.visit([&](const auto& v) { out = std::make_shared<std::remove_cvref_t<decltype(v)>>(v); });
  return out;
}

std::string coordinate_text(const toml::node& n, double& number) {
  number = std::nan("");
  if (n.is_integer()) return number = static_cast<double>(n.as_integer()->get()), std::to_string(n.as_integer()->get());
  if (n.is_floating_point()) return number = n.as_floating_point()->get(), io::format_double(number);
  if (n.is_boolean()) return number = n.as_boolean()->get(), n.as_boolean()->get() ? "true" : "false";
  if (n.is_string()) return n.as_string()->get();
  std::string s = "[";  // compact, one line: it becomes a CSV field and an HDF5 attribute
  if (const toml::array* a = n.as_array())
    for (std::size_t i = 0; i < a->size(); ++i) {
      double ignored;
      s += (i ? "," : "") + coordinate_text((*a)[i], ignored);
    }
  return s + "]";
}

// Number literals of a swept value, checked where they are written (the copies lose positions).
void check_literals(const toml::node& n, const Origin& origin, const std::string& key) {
  if (n.is_floating_point()) io::number_of(n, origin, key);
  if (const toml::array* a = n.as_array())
    for (const auto& e : *a) check_literals(e, origin, key);
}

std::vector<std::shared_ptr<toml::node>> range_values(TableReader r) {
  std::vector<std::shared_ptr<toml::node>> out;
  const toml::node* from = r.node("from");
  const toml::node* to = r.node("to");
  if (from && to && from->is_integer() && to->is_integer() && !r.has("count")) {
    const auto a = r.integer("from", std::nullopt), b = r.integer("to", std::nullopt);
    const auto step = r.integer("step", 1, 1);
    if (b < a) r.fail("to", "must be >= from for an integer range");
    if ((static_cast<double>(b) - static_cast<double>(a)) / static_cast<double>(step) >= 100000)
      r.fail("step", "makes more than 100000 values");
    for (auto v = a; v <= b; v += step) {
      out.push_back(std::make_shared<toml::value<std::int64_t>>(v));
      if (v > b - step) break;  // v + step would pass b (or overflow)
    }
    r.finish();
    return out;
  }
  const double a = r.real("from", std::nullopt), b = r.real("to", std::nullopt);
  const int count = static_cast<int>(r.integer("count", std::nullopt, 1, 100000));
  const bool log = r.choice("spacing", "linear", {"linear", "log"}) == "log";
  if (log && !(a > 0 && b > 0)) r.fail("spacing", "log spacing needs from > 0 and to > 0");
  for (int i = 0; i < count; ++i) {
    const double s = count == 1 ? 0.0 : static_cast<double>(i) / (count - 1);
    double v;
    if (log) {
      double e = std::log10(a) + s * (std::log10(b) - std::log10(a));
      if (std::abs(e - std::round(e)) < 1e-9) e = std::round(e);  // exact decades stay exact
      v = std::pow(10.0, e);
    } else {
      v = a + s * (b - a);
    }
    if (i == 0) v = a;
    if (i == count - 1) v = b;
    out.push_back(std::make_shared<toml::value<double>>(v));
  }
  r.finish();
  return out;
}

void collect_axes(TableReader& r, const toml::table& t, const std::string& prefix, std::vector<Axis>& axes,
                  const std::string& section = "sweep.axes") {
  for (const auto& [k, v] : t) {
    const std::string key(k.str());
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    r.node(key);
    if (v.is_array()) {
      Axis a{path, {}, v.source().begin};
      for (const auto& e : *v.as_array()) {
        check_literals(e, r.origin(), section + "." + path);
        a.values.push_back(as_node(e));
      }
      if (a.values.empty()) io::fail_at(r.origin(), &v, section + "." + path, "has no values");
      axes.push_back(std::move(a));
    } else if (v.is_table() && v.as_table()->contains("from")) {
      json ignored;
      axes.push_back({path, range_values(TableReader(v.as_table(), section + "." + path, r.origin(), ignored)), v.source().begin});
    } else if (v.is_table()) {
      json ignored;
      TableReader sub(v.as_table(), r.key_path(key), r.origin(), ignored);
      collect_axes(sub, *v.as_table(), path, axes, section);
    } else {
      io::fail_at(r.origin(), &v, section + "." + path,
                  "must be a list of values or a range { from = a, to = b, count = n, spacing = \"log\" }");
    }
  }
}

void assign(toml::table& doc, const std::string& path, const toml::node& value, const Origin& origin) {
  toml::table* t = &doc;
  std::size_t start = 0;
  for (std::size_t dot; (dot = path.find('.', start)) != std::string::npos; start = dot + 1) {
    const std::string part = path.substr(start, dot - start);
    if (!t->contains(part)) t->insert(part, toml::table{});
    toml::node* n = t->get(part);
    if (!n->is_table())
      io::fail_at(origin, n, "sweep.axes." + path, "'" + part + "' is not a table, so it cannot hold a swept key");
    t = n->as_table();
  }
  const toml::node* old = t->get(path.substr(start));
  if (old && old->is_table())
    io::fail_at(origin, old, "sweep.axes." + path, "names a table; sweep a single value inside it instead");
  value.visit([&](const auto& v) { t->insert_or_assign(path.substr(start), v); });
}

// A name becomes a folder under results/: one path component, no hidden or special names.
void check_name(TableReader& root, const std::string& name) {
  const bool ok = !name.empty() && name.size() <= 200 && name != "." && name != ".." && name[0] != '.' && name[0] != '-' &&
                  name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.+") == std::string::npos;
  if (!ok)
    root.fail("name", "must be 1 to 200 letters, digits, '_', '-', '.' or '+', not starting with '.' or '-' "
                      "(it names the folder results/<name>), got '" + name + "'");
}

}  // namespace

// ---- The sweep source: the document, its axes, and the caches of shared sections ----------

namespace detail {

struct SweepSource {
  std::mutex mutex;  // building a point writes its swept values into the document
  toml::table doc;
  Origin origin;
  std::string dir;
  std::uint64_t seed = 0;
  std::vector<Axis> axes;
  Memo memo;
  Warnings warnings;

  // The sweep's dimensions: an axis of its own, or a [[sweep.zip]] group (the axes of one group
  // vary together); in the order written, the last fastest. dims[d] lists its axes.
  std::vector<std::vector<std::size_t>> dims;

  void make_dims() {
    dims.clear();
    std::map<int, std::size_t> zip_dim;
    for (std::size_t k = 0; k < axes.size(); ++k) {
      if (axes[k].zip >= 0 && zip_dim.count(axes[k].zip)) {
        dims[zip_dim[axes[k].zip]].push_back(k);
        continue;
      }
      if (axes[k].zip >= 0) zip_dim[axes[k].zip] = dims.size();
      dims.push_back({k});
    }
  }
  std::size_t count() const {
    std::size_t n = 1;
    for (const auto& d : dims) n *= axes[d[0]].values.size();
    return n;
  }
  std::vector<std::size_t> picks(std::size_t p) const {
    std::vector<std::size_t> pick(axes.size());
    for (std::size_t d = dims.size(); d-- > 0;) {
      const std::size_t n = axes[dims[d][0]].values.size();
      for (std::size_t k : dims[d]) pick[k] = p % n;
      p /= n;
    }
    return pick;
  }
  std::vector<Coordinate> coordinates(std::size_t p) const {
    std::vector<Coordinate> out;
    const auto pick = picks(p);
    for (std::size_t k = 0; k < axes.size(); ++k) {
      Coordinate c{axes[k].path, "", 0.0};
      c.text = coordinate_text(*axes[k].values[pick[k]], c.number);
      c.integer = axes[k].values[pick[k]]->is_integer();
      out.push_back(std::move(c));
    }
    return out;
  }
  // Caller holds the mutex. check_time_scale: integrate the start for a moment (the warning of
  // warn_time_scale), which costs a right-hand side.
  PointOut build(std::size_t p, bool validate, bool check_time_scale = false) {
    const auto pick = picks(p);
    SectionKeys keys;
    std::string context;
    for (std::size_t k = 0; k < axes.size(); ++k) {
      const std::string& path = axes[k].path;
      const std::string tag = std::to_string(k) + ":" + std::to_string(pick[k]) + ";";
      if (path.rfind("problem.", 0) == 0) keys.problem += tag;
      else if (path.rfind("network.", 0) == 0) keys.network += tag;
      else if (path.rfind("initialization.", 0) == 0) keys.init += tag;
      else if (path.find('.') == std::string::npos) keys.problem += tag;  // a top-level key: share nothing on it
      if (path.rfind("integrator.", 0) == 0 || path.rfind("stop.", 0) == 0) keys.timing += tag;
      double ignored;
      context += (context.empty() ? "" : ", ") + path + " = " + coordinate_text(*axes[k].values[pick[k]], ignored);
      assign(doc, path, *axes[k].values[pick[k]], origin);
    }
    keys.network = keys.problem + "|" + keys.network;
    keys.init = keys.network + "|" + keys.init;
    keys.timing = keys.init + "|" + keys.timing;
    Origin at = origin;
    if (!axes.empty()) at.context = "(at sweep point " + std::to_string(p) + ": " + context + ")";
    return read_point(doc, at, dir, seed, keys, memo, warnings, validate, check_time_scale);
  }
};

}  // namespace detail

std::size_t Experiment::point_count() const { return sweep ? sweep->count() : 0; }

std::vector<Coordinate> Experiment::coordinates(std::size_t index) const { return sweep->coordinates(index); }

SweepPoint Experiment::point(std::size_t index, bool with_resolved_json) const {
  std::lock_guard<std::mutex> lock(sweep->mutex);
  PointOut built = sweep->build(index, false);
  SweepPoint p;
  p.index = static_cast<int>(index);
  p.coordinates = sweep->coordinates(index);
  p.config = std::move(built.config);
  if (with_resolved_json) p.config.resolved_json = built.resolved.dump();
  return p;
}

Experiment parse_experiment(const std::string& text, const std::string& source_name, const std::string& base_dir) {
  auto src = std::make_shared<detail::SweepSource>();
  const std::string ascii = io::ascii_toml(text, source_name);
  try {
    src->doc = toml::parse(ascii, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream s;
    s << source_name << ":" << e.source().begin.line << ":" << e.source().begin.column
      << ": TOML syntax error: " << e.description();
    throw ExperimentError(s.str());
  }
  toml::table& doc = src->doc;
  src->origin = Origin{source_name, "", std::make_shared<const std::string>(ascii), nullptr};
  const Origin& origin = src->origin;
  Experiment ex;
  ex.source_path = source_name;
  json top = json::object();
  TableReader root(&doc, "", origin, top);
  ex.name = root.text("name", std::filesystem::path(source_name).stem().string());
  check_name(root, ex.name);
  ex.description = root.text("description", "");
  TableReader run = root.table("run");
  ex.chunk_size = static_cast<int>(run.integer("chunk_size", 64, 1, 1000000));
  run.finish();

  TableReader sweep = root.table("sweep");
  ex.seeds = static_cast<int>(sweep.integer("seeds", 1, 1, 100000000));
  ex.seed = static_cast<std::uint64_t>(sweep.integer("seed", 0, 0));
  std::vector<Axis>& axes = src->axes;
  if (const toml::node* a = sweep.node("axes")) {
    if (!a->is_table()) io::fail_at(origin, a, "sweep.axes", "must be a table of key paths, e.g. \"initialization.alpha\" = [1e-3, 1e-6]");
    json ignored;
    TableReader ar(a->as_table(), "sweep.axes", origin, ignored);
    collect_axes(ar, *a->as_table(), "", axes);
  }
  // Paired axes: each [[sweep.zip]] table is one dimension whose keys take their i-th values
  // together (lists of one length).
  if (const toml::node* z = sweep.node("zip")) {
    if (!z->is_array_of_tables())
      io::fail_at(origin, z, "sweep.zip",
                  "must be [[sweep.zip]] tables, each of key paths with lists of one length, e.g. \"network.depth\" = [2, 3] "
                  "and \"stop.t_final\" = [1e3, 1e4]");
    int k = 0;
    for (const toml::node& t : *z->as_array()) {
      const std::string at = "sweep.zip[" + std::to_string(k + 1) + "]";
      json ignored;
      TableReader zr(t.as_table(), at, origin, ignored);
      std::vector<Axis> group;
      collect_axes(zr, *t.as_table(), "", group, at);
      if (group.empty()) io::fail_at(origin, &t, at, "names no key to sweep");
      for (const Axis& g : group)
        if (g.values.size() != group[0].values.size())
          io::fail_at(origin, &t, at + "." + g.path,
                      "has " + std::to_string(g.values.size()) + " values, " + group[0].path + " has " +
                          std::to_string(group[0].values.size()) + ": the keys of one [[sweep.zip]] table vary together");
      for (Axis& g : group) {
        g.zip = k;
        axes.push_back(std::move(g));
      }
      ++k;
    }
  }
  // In the order they are written (toml++ tables iterate by key name): the last one written
  // varies fastest, as docs/experiment-file.md says. (A dict from Python is written in its
  // insertion order.)
  std::stable_sort(axes.begin(), axes.end(), [](const Axis& x, const Axis& y) {
    return x.where.line != y.where.line ? x.where.line < y.where.line : x.where.column < y.where.column;
  });
  std::set<std::string> seen_paths;
  for (std::size_t i = 0; i < axes.size(); ++i) {
    const std::string where = axes[i].zip >= 0 ? "sweep.zip[" + std::to_string(axes[i].zip + 1) + "]" : "sweep.axes";
    if (axes[i].path.rfind("sweep", 0) == 0 || axes[i].path.rfind("run", 0) == 0 || axes[i].path == "name" ||
        axes[i].path == "description")
      io::fail_at(origin, doc.get("sweep"), where + "." + axes[i].path, "only keys of the problem, network, initialization, integrator, record and stop sections can be swept");
    if (!seen_paths.insert(axes[i].path).second)
      io::fail_at(origin, doc.get("sweep"), where + "." + axes[i].path, "is swept twice (in sweep.axes and a [[sweep.zip]], or two of them)");
  }
  src->make_dims();
  std::size_t total = 1;
  for (const auto& d : src->dims) {
    total *= axes[d[0]].values.size();
    if (total > kMaxPoints) io::fail_at(origin, doc.get("sweep"), "sweep.axes", "expands to more than 1000000 points");
  }
  const double chunks_per_point = std::ceil(static_cast<double>(ex.seeds) / ex.chunk_size);
  if (chunks_per_point * static_cast<double>(total) > kMaxChunks)
    sweep.fail("seeds", "with chunk_size = " + std::to_string(ex.chunk_size) + " and " + std::to_string(total) +
                            " points makes " + io::format_double(chunks_per_point * static_cast<double>(total)) +
                            " chunks; at most 1e7 (raise [run] chunk_size)");
  sweep.finish();
  auto swept = std::make_shared<std::map<std::string, toml::source_position>>();
  json resolved_axes = json::object();
  json zipped = json::array();  // the [[sweep.zip]] groups, by key path
  for (const auto& d : src->dims)
    if (axes[d[0]].zip >= 0) {
      json g = json::array();
      for (std::size_t k : d) g.push_back(axes[k].path);
      zipped.push_back(g);
    }
  for (const auto& a : axes) {
    (*swept)[a.path] = a.where;
    json vals = json::array();
    for (const auto& v : a.values) {
      double num;
      const std::string t = coordinate_text(*v, num);
      if (std::isnan(num)) vals.push_back(t);
      else vals.push_back(num);
    }
    resolved_axes[a.path] = vals;
    ex.axes.push_back(a.path);
  }
  src->origin.swept = swept;
  src->dir = base_dir.empty() ? "." : base_dir;
  src->seed = ex.seed;

  // Every point is read once here (errors name the point), hashed into the fingerprint, and
  // dropped; the run rebuilds each when it gets to it.
  std::uint64_t fp = io::fnv1a64("dlnflow-experiment/2 seeds=" + std::to_string(ex.seeds) + " seed=" + std::to_string(ex.seed) +
                                 " chunk_size=" + std::to_string(ex.chunk_size) + " points=" + std::to_string(total));
  json point0;
  // The time-scale warning costs a right-hand side per point: a million points are checked at
  // 10000 of them, evenly spread (the first and the last among them).
  const std::size_t stride = std::max<std::size_t>(1, total / 10000);
  for (std::size_t p = 0; p < total; ++p) {
    PointOut built = src->build(p, true, p % stride == 0 || p + 1 == total);
    fp = combine(fp, built.hash);
    if (p == 0) point0 = std::move(built.resolved);
  }
  ex.fingerprint = fp;  // unknown top-level keys were caught by read_point
  ex.warnings = src->warnings.list;
  if (src->warnings.dropped) ex.warnings.push_back("... and " + std::to_string(src->warnings.dropped) + " more warning(s)");
  json summary = {{"name", ex.name},
                  {"description", ex.description},
                  {"source", source_name},
                  {"experiment", point0},
                  {"sweep", {{"seeds", ex.seeds}, {"seed", ex.seed}, {"axes", resolved_axes}, {"zip", zipped},
                             {"order", ex.axes}, {"points", total}}},
                  {"run", {{"chunk_size", ex.chunk_size}}}};
  ex.resolved_json = summary.dump();
  ex.sweep = std::move(src);
  return ex;
}

Experiment load_experiment(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ExperimentError(path + ": cannot open the experiment file");
  std::stringstream s;
  s << in.rdbuf();
  Experiment ex = parse_experiment(s.str(), path, std::filesystem::path(path).parent_path().string());
  // Recorded by its canonical path, so that resuming with another spelling of the same file
  // (./x.toml, ../dir/x.toml) records the same source.
  std::error_code ec;
  const auto canonical = std::filesystem::weakly_canonical(std::filesystem::absolute(path), ec);
  if (!ec) {
    ex.source_path = canonical.string();
    json summary = json::parse(ex.resolved_json);
    summary["source"] = ex.source_path;
    ex.resolved_json = summary.dump();
  }
  return ex;
}

}  // namespace dlnflow
