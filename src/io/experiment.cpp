// Experiment file -> sweep points. The file is read section by section through TableReader,
// so every value is type- and range-checked where it is read, and unknown keys are caught.
// A sweep point is the base document with the swept keys overwritten, parsed like any file.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "dlnflow/error.hpp"
#include "dlnflow/experiment.hpp"
#include "data_files.hpp"
#include "matrix_source.hpp"
#include "result_files.hpp"
#include "toml_reader.hpp"

namespace dlnflow {

using io::Bounds;
using io::Origin;
using io::TableReader;
using nlohmann::json;

namespace {

std::string shape_text(Index r, Index c) { return std::to_string(r) + " x " + std::to_string(c); }

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

Parametrization read_network(TableReader n, const LossInfo& loss) {
  const std::string kind = n.choice("parametrization", "deep", {"deep", "symmetric", "end_to_end"});
  const auto rows = static_cast<int>(loss.rows), cols = static_cast<int>(loss.cols);
  Parametrization param;
  if (kind == "deep") {
    std::vector<int> widths;
    if (n.has("widths")) {
      for (auto w : n.integers("widths", std::nullopt, 1)) widths.push_back(static_cast<int>(w));
      if (widths.size() < 2) n.fail("widths", "needs at least 2 entries (input width first, output width last)");
      if (widths.back() != rows)
        n.fail("widths", "last entry (output width) is " + std::to_string(widths.back()) + ", the loss needs " + std::to_string(rows));
      if (!loss.cols_free && widths.front() != cols)
        n.fail("widths", "first entry (input width) is " + std::to_string(widths.front()) + ", the loss needs " + std::to_string(cols));
    } else {
      n.node("widths");
      const int depth = static_cast<int>(n.integer("depth", std::nullopt, 1, 64));
      const int width = static_cast<int>(n.integer("width", std::max(rows, cols), 1));
      const int input = loss.cols_free ? static_cast<int>(n.integer("input", cols, 1)) : cols;
      widths.assign(depth + 1, width);
      widths.front() = input;
      widths.back() = rows;
    }
    param = DeepFactorization{widths};
  } else if (kind == "symmetric") {
    if (rows != cols && !loss.cols_free)
      n.fail("parametrization", "symmetric needs a square W; the loss's W is " + shape_text(rows, cols));
    param = SymmetricFactorization{rows, static_cast<int>(n.integer("k", rows, 1))};
  } else {
    const int depth = static_cast<int>(n.integer("depth", std::nullopt, 1, 64));
    const int input = loss.cols_free ? static_cast<int>(n.integer("input", cols, 1)) : cols;
    const int cap = static_cast<int>(n.integer("rank_cap", std::min(rows, input), 1));
    param = EndToEndFlow{rows, input, depth, cap};
  }
  n.finish();
  return param;
}

InitSpec read_initialization(TableReader r, const Problem& problem, const std::string& dir) {
  const std::string kind = r.choice("kind", "gaussian", {"gaussian", "identity", "balanced", "critical_point", "user"});
  InitSpec init;
  if (kind == "gaussian" || kind == "identity") {
    const double alpha = r.real("alpha", std::nullopt, Bounds::nonnegative());
    const ScaleOn on = r.choice("scale_on", "end_to_end", {"end_to_end", "factors"}) == "factors" ? ScaleOn::Factors
                                                                                                 : ScaleOn::EndToEnd;
    if (kind == "gaussian") init = GaussianInit{alpha, on};
    else init = ScaledIdentityInit{alpha, on};
  } else if (kind == "balanced") {
    const Mat W0 = *io::read_matrix(r, "W0", dir, true, io::Shape{problem.rows(), problem.cols()});
    if (W0.rows() != problem.rows() || W0.cols() != problem.cols())
      r.fail("W0", "has shape " + shape_text(W0.rows(), W0.cols()) + ", W is " + shape_text(problem.rows(), problem.cols()));
    init = BalancedInit{W0, r.boolean("random_frames", false)};
  } else if (kind == "critical_point") {
    init = CriticalPointInit{static_cast<int>(r.integer("index", std::nullopt, 0)),
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
  const std::string m = r.choice("method", "dopri5", {"euler", "rk4", "dopri5"});
  c.method = m == "euler" ? Method::Euler : m == "rk4" ? Method::RK4 : Method::DormandPrince54;
  if (c.method == Method::DormandPrince54) {
    c.rtol = r.real("rtol", c.rtol, Bounds::positive());
    c.atol = r.real("atol", c.atol, Bounds::nonnegative());
    c.dt_initial = r.real("dt_initial", 0.0, Bounds::nonnegative());
    c.dt_min = r.real("dt_min", 0.0, Bounds::nonnegative());
    if (r.has("dt_max")) c.dt_max = r.real("dt_max", std::nullopt, Bounds::positive());
    else r.node("dt_max");
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

void read_record(TableReader r, double t_final, PointConfig& pc) {
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
  const std::string save = r.choice("save_states", "none", {"none", "final", "endpoints", "recorded"});
  pc.save_states = save == "none"        ? SaveStates::None
                   : save == "final"     ? SaveStates::Final
                   : save == "endpoints" ? SaveStates::Endpoints
                                         : SaveStates::Recorded;
  rec.keep_states = pc.save_states == SaveStates::Recorded;
  if (critical) {
    pc.catalog = guarded(r, [&] { return std::make_shared<const CriticalPointCatalog>(*pc.problem); });
    rec.catalog = pc.catalog.get();
  }
  r.finish();
}

void read_events(TableReader& root, PointConfig& pc) {
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
    spec.kind = e.choice("kind", std::nullopt, {"singular_value", "loss"}) == "loss" ? EventKind::Loss : EventKind::SingularValue;
    if (spec.kind == EventKind::SingularValue) spec.index = static_cast<int>(e.integer("index", std::nullopt, 1, sv_count)) - 1;
    spec.level = e.real("level", std::nullopt);
    const std::string crossing = e.choice("crossing", "either", {"up", "down", "either"});
    spec.crossing = crossing == "up" ? Crossing::Up : crossing == "down" ? Crossing::Down : Crossing::Either;
    spec.terminal = e.boolean("terminal", false);
    const std::string fallback =
        (spec.kind == EventKind::Loss ? std::string("loss") : "sigma" + std::to_string(spec.index + 1)) + "_" + crossing;
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

// One point: the whole document minus [sweep] and [run], which the caller reads.
PointConfig read_point(const toml::table& doc, const Origin& origin, const std::string& dir, std::uint64_t seed) {
  PointConfig pc;
  json resolved = json::object();
  TableReader root(&doc, "", origin, resolved);
  root.node("name");
  root.node("description");
  root.node("sweep");
  root.node("run");
  if (!root.has("problem")) root.fail("problem", "section [problem] is required");
  const LossInfo loss = read_problem(root.table("problem"), dir);
  if (!root.has("network")) root.fail("network", "section [network] is required");
  TableReader network = root.table("network");
  const Parametrization param = read_network(network, loss);
  pc.problem = guarded(network, [&] { return std::make_shared<const Problem>(loss.spec, param); });

  TableReader init_section = root.table("initialization");
  pc.init = read_initialization(init_section, *pc.problem, dir);
  pc.options.integrator = read_integrator(root.table("integrator"));
  if (!root.has("stop")) root.fail("stop", "section [stop] with t_final is required");
  pc.options.stop = read_stop(root.table("stop"));
  read_record(root.table("record"), pc.options.stop.t_final, pc);
  read_events(root, pc);
  root.finish();

  // What the library would reject at run time is rejected now.
  guarded(init_section, [&] { return initial_state(*pc.problem, pc.init, seed, 0); });
  try {
    integrate_batch(*pc.problem, {}, pc.options);
  } catch (const InputError& e) {
    io::fail_at(origin, &doc, "experiment", e.what());
  }
  resolved.erase("sweep");
  resolved.erase("run");
  resolved.erase("name");
  resolved.erase("description");
  pc.resolved_json = resolved.dump();
  return pc;
}

// ---- Sweep axes -----------------------------------------------------------------------

struct Axis {
  std::string path;
  std::vector<std::shared_ptr<toml::node>> values;
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

std::vector<std::shared_ptr<toml::node>> range_values(TableReader r) {
  std::vector<std::shared_ptr<toml::node>> out;
  const toml::node* from = r.node("from");
  const toml::node* to = r.node("to");
  if (from && to && from->is_integer() && to->is_integer() && !r.has("count")) {
    const auto a = r.integer("from", std::nullopt), b = r.integer("to", std::nullopt);
    const auto step = r.integer("step", 1, 1);
    if (b < a) r.fail("to", "must be >= from for an integer range");
    if ((b - a) / step > 100000) r.fail("step", "makes more than 100000 values");
    for (auto v = a; v <= b; v += step) out.push_back(std::make_shared<toml::value<std::int64_t>>(v));
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

void collect_axes(TableReader& r, const toml::table& t, const std::string& prefix, std::vector<Axis>& axes) {
  for (const auto& [k, v] : t) {
    const std::string key(k.str());
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    r.node(key);
    if (v.is_array()) {
      Axis a{path, {}};
      for (const auto& e : *v.as_array()) a.values.push_back(as_node(e));
      if (a.values.empty()) io::fail_at(r.origin(), &v, "sweep.axes." + path, "has no values");
      axes.push_back(std::move(a));
    } else if (v.is_table() && v.as_table()->contains("from")) {
      json ignored;
      axes.push_back({path, range_values(TableReader(v.as_table(), "sweep.axes." + path, r.origin(), ignored))});
    } else if (v.is_table()) {
      json ignored;
      TableReader sub(v.as_table(), r.key_path(key), r.origin(), ignored);
      collect_axes(sub, *v.as_table(), path, axes);
    } else {
      io::fail_at(r.origin(), &v, "sweep.axes." + path,
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

}  // namespace

Experiment parse_experiment(const std::string& text, const std::string& source_name, const std::string& base_dir) {
  toml::table doc;
  try {
    doc = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream s;
    s << source_name << ":" << e.source().begin.line << ":" << e.source().begin.column
      << ": TOML syntax error: " << e.description();
    throw ExperimentError(s.str());
  }
  const Origin origin{source_name, ""};
  Experiment ex;
  ex.source_path = source_name;
  json top = json::object();
  TableReader root(&doc, "", origin, top);
  ex.name = root.text("name", std::filesystem::path(source_name).stem().string());
  ex.description = root.text("description", "");
  TableReader run = root.table("run");
  ex.chunk_size = static_cast<int>(run.integer("chunk_size", 64, 1, 1000000));
  run.finish();

  TableReader sweep = root.table("sweep");
  ex.seeds = static_cast<int>(sweep.integer("seeds", 1, 1, 100000000));
  ex.seed = static_cast<std::uint64_t>(sweep.integer("seed", 0, 0));
  std::vector<Axis> axes;
  if (const toml::node* a = sweep.node("axes")) {
    if (!a->is_table()) io::fail_at(origin, a, "sweep.axes", "must be a table of key paths, e.g. \"initialization.alpha\" = [1e-3, 1e-6]");
    json ignored;
    TableReader ar(a->as_table(), "sweep.axes", origin, ignored);
    collect_axes(ar, *a->as_table(), "", axes);
    for (std::size_t i = 0; i < axes.size(); ++i)
      if (axes[i].path.rfind("sweep", 0) == 0 || axes[i].path.rfind("run", 0) == 0)
        io::fail_at(origin, a, "sweep.axes." + axes[i].path, "only keys of the problem, network, initialization, integrator, record and stop sections can be swept");
  }
  sweep.finish();
  std::size_t total = 1;
  for (const auto& a : axes) {
    total *= a.values.size();
    if (total > 1000000) io::fail_at(origin, doc.get("sweep"), "sweep.axes", "expands to more than 1000000 points");
  }
  json resolved_axes = json::object();
  for (const auto& a : axes) {
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

  const std::string dir = base_dir.empty() ? "." : base_dir;
  std::uint64_t fp = io::fnv1a64(std::to_string(ex.seeds) + "/" + std::to_string(ex.seed));
  for (std::size_t p = 0; p < total; ++p) {
    SweepPoint point;
    point.index = static_cast<int>(p);
    // Overrides go into the parsed document itself: a copied toml::table loses the source
    // positions that error messages point to. Each point overwrites every swept key.
    toml::table& copy = doc;
    std::string context;
    std::size_t rest = p;
    std::vector<std::size_t> pick(axes.size());
    for (std::size_t k = axes.size(); k-- > 0;) pick[k] = rest % axes[k].values.size(), rest /= axes[k].values.size();
    for (std::size_t k = 0; k < axes.size(); ++k) {
      const toml::node& v = *axes[k].values[pick[k]];
      Coordinate c{axes[k].path, "", 0.0};
      c.text = coordinate_text(v, c.number);
      context += (context.empty() ? "" : ", ") + c.path + " = " + c.text;
      point.coordinates.push_back(std::move(c));
      assign(copy, axes[k].path, v, origin);
    }
    const Origin at{source_name, axes.empty() ? "" : "(at sweep point " + std::to_string(p) + ": " + context + ")"};
    point.config = read_point(copy, at, dir, ex.seed);
    fp = io::fnv1a64(point.config.resolved_json, fp);
    ex.points.push_back(std::move(point));
  }
  ex.fingerprint = fp;  // unknown top-level keys were caught by read_point
  json summary = {{"name", ex.name},
                  {"description", ex.description},
                  {"source", source_name},
                  {"experiment", json::parse(ex.points.front().config.resolved_json)},
                  {"sweep", {{"seeds", ex.seeds}, {"seed", ex.seed}, {"axes", resolved_axes}, {"points", total}}},
                  {"run", {{"chunk_size", ex.chunk_size}}}};
  ex.resolved_json = summary.dump();
  return ex;
}

Experiment load_experiment(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ExperimentError(path + ": cannot open the experiment file");
  std::stringstream s;
  s << in.rdbuf();
  return parse_experiment(s.str(), path, std::filesystem::path(path).parent_path().string());
}

}  // namespace dlnflow
