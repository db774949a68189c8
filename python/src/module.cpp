// dlnflow._core: the engine for the Python package (python/dlnflow/). Thin on purpose: an
// experiment is parsed by the command's own reader (the same schema, the same errors), run by
// the command's own runner (the same results folder, bit for bit), and the arrays-in layer calls
// the library's solve(). Everything a researcher touches (dicts, DataFrames, xarray, tqdm,
// KeyboardInterrupt) is in Python; this file only moves data across and keeps the GIL released
// while the engine works.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <Python.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "dlnflow/app/catalog.hpp"
#include "dlnflow/app/experiment.hpp"
#include "dlnflow/app/run.hpp"
#include "dlnflow/dlnflow.hpp"
#include "dlnflow/gpu_error.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace dlnflow::python {
namespace {

Backend parse_backend(const std::string& b) {
  if (b == "auto") return Backend::Auto;
  if (b == "cpu") return Backend::Cpu;
  if (b == "gpu") return Backend::Gpu;
  throw UsageError("backend must be \"auto\", \"cpu\" or \"gpu\", got \"" + b + "\"");
}

nb::dict coordinates_of(const std::vector<Coordinate>& cs) {
  nb::dict d;
  for (const Coordinate& c : cs) d[c.path.c_str()] = nb::make_tuple(c.text, c.number);
  return d;
}

// Runs `work` on a thread of its own while this (the interpreter's) thread waits with the GIL
// released, waking every 100 ms to run Python's signal handlers (Ctrl-C raises KeyboardInterrupt
// there, and only there) and `tick` (the progress bar). The first exception either raises sets
// `interrupt` (the runner stops after the chunk in flight); the worker is always joined before
// this returns or throws. Returns whether the user interrupted with Ctrl-C (the Python side then
// raises KeyboardInterrupt, saying what was saved); any other exception a handler or the tick
// raised (SystemExit from a SIGTERM handler, say) is raised again as it was.
template <class Work>
bool run_beside_python(Work&& work, std::atomic<bool>& interrupt, const nb::object& tick) {
  std::mutex m;
  std::condition_variable cv;
  bool finished = false;
  std::exception_ptr failure;
  std::thread worker([&] {
    try {
      work();
    } catch (...) {
      failure = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(m);
    finished = true;
    cv.notify_all();
  });
  struct Joiner {  // whatever unwinds this frame, the worker (which uses it) is waited for first
    std::thread& t;
    ~Joiner() {
      if (t.joinable()) {
        nb::gil_scoped_release release;
        t.join();
      }
    }
  } joiner{worker};
  std::unique_ptr<nb::python_error> pending;  // the first exception raised on this side
  while (true) {
    bool done;
    {
      nb::gil_scoped_release release;
      std::unique_lock<std::mutex> lock(m);
      cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return finished; });
      done = finished;
    }
    try {
      if (PyErr_CheckSignals() != 0) throw nb::python_error();
      if (!pending && !tick.is_none()) tick();
    } catch (nb::python_error& e) {
      if (!pending) pending = std::make_unique<nb::python_error>(std::move(e));
      interrupt = true;
    }
    if (done) break;
  }
  worker.join();
  if (failure) std::rethrow_exception(failure);
  if (!pending) return false;
  if (pending->matches(PyExc_KeyboardInterrupt)) return true;
  pending->restore();
  throw nb::python_error();
}

class ExperimentHandle {
 public:
  explicit ExperimentHandle(Experiment ex) : ex_(std::move(ex)) {}
  const Experiment& get() const { return ex_; }

 private:
  Experiment ex_;
};

ExperimentHandle parse(const std::string& text, const std::string& source_name, const std::string& base_dir) {
  nb::gil_scoped_release release;  // data files may be large
  return ExperimentHandle(parse_experiment(text, source_name, base_dir));
}

ExperimentHandle load(const std::string& path) {
  nb::gil_scoped_release release;
  return ExperimentHandle(load_experiment(path));
}

nb::dict describe(const ExperimentHandle& h, std::size_t max_points) {
  const Experiment& ex = h.get();
  nb::dict d;
  d["name"] = ex.name;
  d["description"] = ex.description;
  d["source"] = ex.source_path;
  d["axes"] = ex.axes;
  d["seeds"] = ex.seeds;
  d["seed"] = ex.seed;
  d["chunk_size"] = ex.chunk_size;
  d["point_count"] = ex.point_count();
  d["trajectories"] = ex.trajectories();
  d["warnings"] = ex.warnings;
  d["resolved"] = ex.resolved_json;
  nb::list points;
  for (std::size_t i = 0; i < std::min(max_points, ex.point_count()); ++i) {
    const SweepPoint p = ex.point(i, false);
    const auto& c = p.config;
    nb::dict q;
    q["index"] = p.index;
    q["coordinates"] = coordinates_of(p.coordinates);
    q["state_size"] = static_cast<long long>(c.problem->state_size());
    q["method"] = std::string(to_string(c.options.integrator.method));
    q["t_final"] = c.options.stop.t_final;
    q["record_times"] = c.options.record.times.size();
    q["events"] = c.event_names;
    nb::list catalog;
    if (c.catalog)
      for (const auto& cp : c.catalog->points()) catalog.append(nb::make_tuple(cp.label, cp.loss));
    q["critical_points"] = catalog;
    points.append(q);
  }
  d["points"] = points;
  return d;
}

nb::dict estimate(const ExperimentHandle& h, const std::string& out_dir, int threads) {
  ResourceEstimate e;
  {
    nb::gil_scoped_release release;
    e = estimate_resources(h.get(), out_dir, threads);
  }
  nb::dict d;
  d["memory_bytes"] = e.memory_bytes;
  d["disk_bytes"] = e.disk_bytes;
  d["memory_available"] = e.memory_available;
  d["disk_available"] = e.disk_available;
  d["fits"] = e.fits();
  d["text"] = e.describe();
  return d;
}

// Runs into out_dir (which the Python side chose: the user's folder, or a temporary one it made
// for an in-memory run). progress(done, total) is called from this thread, with the GIL.
nb::dict run(const ExperimentHandle& h, const std::string& out_dir, const std::string& backend, int threads,
             bool resume, bool overwrite, bool force, const nb::object& progress) {
  RunOptions opt;
  opt.out_dir = out_dir;
  opt.backend = parse_backend(backend);
  opt.threads = threads;
  opt.resume = resume, opt.overwrite = overwrite, opt.force = force;
  opt.quiet = true;  // the Python side draws its own progress and turns warnings into warnings
  std::atomic<bool> interrupt{false};
  opt.interrupt = &interrupt;
  std::atomic<std::size_t> done{0}, total{0};
  opt.on_progress = [&](std::size_t d, std::size_t t) { done = d, total = t; };
  RunOutcome out;
  nb::object tick = nb::none();
  if (!progress.is_none()) tick = nb::cpp_function([&] { progress(done.load(), total.load()); });
  const bool by_user = run_beside_python([&] { out = run_experiment(h.get(), opt); }, interrupt, tick);
  nb::dict d;
  d["interrupted"] = out.status == RunStatus::Interrupted;
  d["by_user"] = by_user;
  d["done"] = out.done, d["total"] = out.total, d["diverged"] = out.diverged, d["reused"] = out.reused;
  d["seconds"] = out.seconds;
  d["backend"] = out.backend;
  d["backend_reason"] = out.backend_reason;
  nb::list unfinished;
  for (const auto& [status, n] : out.unfinished) unfinished.append(nb::make_tuple(status, n));
  d["unfinished"] = unfinished;
  return d;
}

nb::dict problem_info(const ExperimentHandle& h) {
  const SweepPoint p = h.get().point(0, false);
  const Problem& pr = *p.config.problem;
  nb::dict d;
  d["state_size"] = static_cast<long long>(pr.state_size());
  nb::list blocks;
  for (const auto& b : pr.blocks()) blocks.append(nb::make_tuple(static_cast<long long>(b[0]), static_cast<long long>(b[1])));
  d["blocks"] = blocks;
  d["rows"] = static_cast<long long>(pr.rows()), d["cols"] = static_cast<long long>(pr.cols());
  d["depth"] = pr.depth();
  d["events"] = p.config.event_names;
  d["record_times"] = p.config.options.record.times;
  return d;
}

// The catalogues of the sweep (dlnflow/app/catalog.hpp): one row per (group, critical point).
nb::list catalog(const ExperimentHandle& h) {
  const auto groups = catalog_groups(h.get());
  nb::list rows;
  for (const CatalogGroup& g : groups) {
    const auto& pts = g.catalog->points();
    for (std::size_t i = 0; i < pts.size(); ++i) {
      const CriticalStability& s = g.stability[i];
      nb::dict r;
      r["points"] = nb::tuple(nb::cast(g.points));
      r["index"] = i;
      r["label"] = pts[i].label;
      r["rank"] = pts[i].J.size();
      r["loss"] = pts[i].loss;
      r["kind"] = std::string(to_string(s.kind));
      r["hessian_negative"] = s.negative, r["hessian_zero"] = s.zero, r["hessian_positive"] = s.positive;
      r["rate"] = s.rate, r["escape_slope"] = s.escape_slope, r["order"] = s.order;
      r["reason"] = s.reason;
      r["hessian_eigenvalues"] = std::vector<double>(s.eigenvalues.data(), s.eigenvalues.data() + s.eigenvalues.size());
      rows.append(r);
    }
  }
  return rows;
}

template <class T>
nb::ndarray<nb::numpy, T> owned(std::vector<T>&& v, std::initializer_list<std::size_t> shape) {
  auto* heap = new std::vector<T>(std::move(v));
  nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T>(heap->data(), shape, owner);
}

// The arrays-in layer: every row of `states` (batch x state_size, C order, the state vectors as
// docs/library.md lays them out) integrated with point 0's problem and options.
nb::dict solve_states(const ExperimentHandle& h, nb::ndarray<double, nb::ndim<2>, nb::c_contig> states,
                      const std::string& backend, int threads, const nb::object& progress) {
  const SweepPoint p = h.get().point(0, false);
  const Problem& pr = *p.config.problem;
  const std::size_t B = states.shape(0), n = states.shape(1);
  if (n != static_cast<std::size_t>(pr.state_size()))
    throw InputError("initial_states", "rows of " + std::to_string(n) + " numbers, the problem's state has " +
                                           std::to_string(pr.state_size()));
  std::vector<TrajectorySpec> specs(B);
  for (std::size_t b = 0; b < B; ++b) {
    UserInit u;
    const double* row = states.data() + b * n;
    for (const auto& blk : pr.blocks()) {
      u.matrices.emplace_back(Eigen::Map<const Mat>(row, blk[0], blk[1]));
      row += blk[0] * blk[1];
    }
    specs[b] = {std::move(u), 0, b};
  }
  SolveOptions o = p.config.options;
  o.threads = threads;
  const Backend be = parse_backend(backend);
  std::atomic<bool> never{false};
  std::atomic<std::size_t> done{0};
  BatchSolution sol;
  nb::object tick = nb::none();
  if (!progress.is_none()) tick = nb::cpp_function([&] { progress(done.load(), B); });
  // solve() has no interrupt: Ctrl-C is raised once the batch is done.
  if (run_beside_python([&] { sol = solve(pr, specs, o, be, {}, [&](std::size_t, const TrajectoryResult&) { ++done; }); },
                        never, tick)) {
    PyErr_SetNone(PyExc_KeyboardInterrupt);
    throw nb::python_error();
  }
  const std::size_t E = p.config.event_names.size(), T = o.record.times.size();
  std::size_t r = 0;  // the longest spectrum of any valid sample (invalid ones have none)
  for (const TrajectoryResult& t : sol.trajectories)
    for (const Sample& s : t.samples)
      if (s.valid) r = std::max(r, static_cast<std::size_t>(s.spectrum.size()));
  std::vector<double> final_state(B * n), final_loss(B), t_end(B), events(B * E), loss(B * T), grad(B * T),
      spectrum(B * T * r, std::nan(""));
  std::vector<long long> steps(B), rejected(B), final_rank(B);
  nb::list status, message;
  for (std::size_t b = 0; b < B; ++b) {
    const TrajectoryResult& t = sol.trajectories[b];
    std::copy(t.final_state.data(), t.final_state.data() + n, final_state.begin() + b * n);
    final_loss[b] = t.final_loss, t_end[b] = t.t_end;
    steps[b] = t.steps, rejected[b] = t.rejected, final_rank[b] = t.final_rank;
    for (std::size_t e = 0; e < E; ++e) events[b * E + e] = t.event_times[e];
    for (std::size_t k = 0; k < T; ++k) {
      const Sample& s = t.samples[k];
      loss[b * T + k] = s.valid ? s.loss : std::nan("");
      grad[b * T + k] = s.valid ? s.grad_norm : std::nan("");
      for (std::size_t i = 0; s.valid && i < r && i < static_cast<std::size_t>(s.spectrum.size()); ++i)
        spectrum[(b * T + k) * r + i] = s.spectrum(static_cast<Index>(i));
    }
    status.append(std::string(to_string(t.status)));
    message.append(t.message);
  }
  nb::dict d;
  d["final_state"] = owned(std::move(final_state), {B, n});
  d["final_loss"] = owned(std::move(final_loss), {B});
  d["t_end"] = owned(std::move(t_end), {B});
  d["steps"] = owned(std::move(steps), {B});
  d["rejected"] = owned(std::move(rejected), {B});
  d["final_rank"] = owned(std::move(final_rank), {B});
  d["event_times"] = owned(std::move(events), {B, E});
  d["time"] = owned(std::vector<double>(o.record.times), {T});
  d["loss"] = owned(std::move(loss), {B, T});
  d["grad_norm"] = owned(std::move(grad), {B, T});
  d["spectrum"] = owned(std::move(spectrum), {B, T, r});
  d["status"] = status;
  d["message"] = message;
  d["backend"] = std::string(to_string(sol.backend));
  return d;
}

}  // namespace
}  // namespace dlnflow::python

NB_MODULE(_core, m) {
  using namespace dlnflow;
  using namespace dlnflow::python;
  m.doc() = "dlnflow's engine (use the dlnflow package, not this module)";
  // Python classes of the same names are defined in dlnflow/_errors.py and bound here, so that
  // the engine's errors arrive as them.
  // Raw references kept for the life of the process (never released: the interpreter may be
  // gone before static destructors run).
  static PyObject *input_error = nullptr, *usage_error = nullptr, *gpu_error = nullptr, *run_error = nullptr;
  m.def("_bind_errors", [](nb::handle in, nb::handle usage, nb::handle gpu, nb::handle run) {
    input_error = in.inc_ref().ptr(), usage_error = usage.inc_ref().ptr();
    gpu_error = gpu.inc_ref().ptr(), run_error = run.inc_ref().ptr();
  });
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    auto raise = [](PyObject* cls, const char* what) { PyErr_SetString(cls ? cls : PyExc_RuntimeError, what); };
    try {
      std::rethrow_exception(p);
    } catch (const ExperimentError& e) {
      raise(input_error, e.what());
    } catch (const InputError& e) {
      raise(input_error, e.what());
    } catch (const UsageError& e) {
      raise(usage_error, e.what());
    } catch (const GpuError& e) {
      raise(gpu_error, e.what());
    } catch (const std::runtime_error& e) {
      raise(run_error, e.what());
    }
  });
  nb::class_<ExperimentHandle>(m, "Experiment");
  m.def("parse", &python::parse, "text"_a, "source_name"_a, "base_dir"_a);
  m.def("load", &python::load, "path"_a);
  m.def("describe", &python::describe, "experiment"_a, "max_points"_a);
  m.def("estimate", &python::estimate, "experiment"_a, "out_dir"_a, "threads"_a);
  m.def("run", &python::run, "experiment"_a, "out_dir"_a, "backend"_a, "threads"_a, "resume"_a, "overwrite"_a, "force"_a,
        "progress"_a.none());
  m.def("problem_info", &python::problem_info, "experiment"_a);
  m.def("catalog", &python::catalog, "experiment"_a);
  m.def("solve_states", &python::solve_states, "experiment"_a, "states"_a, "backend"_a, "threads"_a, "progress"_a.none());
  m.def("build_summary", &build_summary);
  m.def("gpu_available", [] {
    std::string why;
    const bool ok = gpu_available(&why);
    return nb::make_tuple(ok, why);
  });
}
