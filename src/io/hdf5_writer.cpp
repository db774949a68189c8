// trajectories.h5 through the HDF5 C API: one group per sweep point (/points/<i>), because
// points of a depth or width sweep have differently shaped states. Matrices are stored in C
// order (row-major) so that h5py shows W[i, j] as written. Object timestamps are off, so two
// runs with the same results write the same bytes. Each point's datasets are created at their
// final size when its first chunk arrives and filled chunk by chunk (hyperslabs), so memory is
// one chunk's, whatever the run's size.
#include <hdf5.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>

#include "atomic_file.hpp"
#include "dlnflow/init.hpp"
#include "dlnflow/stability.hpp"
#include "result_files.hpp"

namespace dlnflow::io {

namespace {

// HDF5 reports "failed"; the system says why when it is the disk (the usual reason).
std::string failure(const std::string& what) {
  const int e = errno;
  const bool disk = e == ENOSPC || e == EFBIG || e == EDQUOT || e == EIO || e == EROFS;
  return "HDF5: " + what + " failed" + (disk ? std::string(": ") + std::strerror(e) : "");
}
hid_t check(hid_t id, const std::string& what) {
  if (id < 0) throw std::runtime_error(failure(what));
  return id;
}
void check_status(herr_t s, const std::string& what) {
  if (s < 0) throw std::runtime_error(failure(what));
}

class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) reset(), id_ = o.id_, close_ = o.close_, o.id_ = -1;
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  operator hid_t() const { return id_; }
  // Closes now; the id is forgotten even when closing fails, so it is never closed twice.
  herr_t reset() {
    herr_t s = 0;
    if (id_ >= 0) s = close_(id_);
    id_ = -1;
    return s;
  }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

template <class T>
hid_t h5type();
template <>
hid_t h5type<double>() { return H5T_NATIVE_DOUBLE; }
template <>
hid_t h5type<std::int32_t>() { return H5T_NATIVE_INT32; }
template <>
hid_t h5type<std::int64_t>() { return H5T_NATIVE_INT64; }

Handle untimed(hid_t cls) {
  Handle p(check(H5Pcreate(cls), "H5Pcreate"), H5Pclose);
  check_status(H5Pset_obj_track_times(p, 0), "H5Pset_obj_track_times");
  return p;
}

Handle create_dataset(hid_t loc, const std::string& name, hid_t type, const std::vector<hsize_t>& dims) {
  Handle space(check(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "H5Screate " + name), H5Sclose);
  Handle dcpl = untimed(H5P_DATASET_CREATE);
  return Handle(check(H5Dcreate2(loc, name.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), "H5Dcreate " + name),
                H5Dclose);
}

template <class T>
void dataset(hid_t loc, const std::string& name, const std::vector<hsize_t>& dims, const std::vector<T>& data) {
  Handle d = create_dataset(loc, name, h5type<T>(), dims);
  if (!data.empty()) check_status(H5Dwrite(d, h5type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()), "H5Dwrite " + name);
}

// Rows [first, first + count) of a dataset whose first dimension counts trajectories.
template <class T>
void write_rows(hid_t d, const std::string& name, hsize_t first, hsize_t count, const std::vector<T>& data) {
  if (count == 0) return;
  Handle file_space(check(H5Dget_space(d), "H5Dget_space " + name), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(file_space);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(file_space, dims.data(), nullptr);
  std::vector<hsize_t> start(dims.size(), 0), extent = dims;
  start[0] = first, extent[0] = count;
  hsize_t elements = 1;
  for (hsize_t e : extent) elements *= e;
  if (elements != data.size()) throw std::logic_error("HDF5: " + name + ": chunk data of the wrong size");
  if (elements == 0) return;
  check_status(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start.data(), nullptr, extent.data(), nullptr),
               "H5Sselect_hyperslab " + name);
  Handle mem_space(check(H5Screate_simple(rank, extent.data(), nullptr), "H5Screate " + name), H5Sclose);
  check_status(H5Dwrite(d, h5type<T>(), mem_space, file_space, H5P_DEFAULT, data.data()), "H5Dwrite " + name);
}

// ordered: members listed in creation order (h5py and h5ls then list /points as 0, 1, 2, ..., 10,
// not by name as strings: 0, 1, 10, 11, ..., 2).
Handle group(hid_t loc, const std::string& name, bool ordered = false) {
  Handle gcpl = untimed(H5P_GROUP_CREATE);
  if (ordered)
    check_status(H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
                 "H5Pset_link_creation_order " + name);
  return Handle(check(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, gcpl, H5P_DEFAULT), "H5Gcreate " + name), H5Gclose);
}

void attr_strings(hid_t loc, const std::string& name, const std::vector<std::string>& values, bool scalar = false) {
  Handle type(check(H5Tcopy(H5T_C_S1), "H5Tcopy"), H5Tclose);
  check_status(H5Tset_size(type, H5T_VARIABLE), "H5Tset_size");
  check_status(H5Tset_cset(type, H5T_CSET_UTF8), "H5Tset_cset");
  const hsize_t n = values.size();
  Handle space(check(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), "H5Screate"), H5Sclose);
  Handle a(check(H5Acreate2(loc, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), "H5Acreate " + name), H5Aclose);
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  if (!ptrs.empty()) check_status(H5Awrite(a, type, ptrs.data()), "H5Awrite " + name);
}
void attr_string(hid_t loc, const std::string& name, const std::string& value) { attr_strings(loc, name, {value}, true); }

void attr_int64(hid_t loc, const std::string& name, std::int64_t v) {
  Handle space(check(H5Screate(H5S_SCALAR), "H5Screate"), H5Sclose);
  Handle a(check(H5Acreate2(loc, name.c_str(), H5T_NATIVE_INT64, space, H5P_DEFAULT, H5P_DEFAULT), "H5Acreate " + name), H5Aclose);
  check_status(H5Awrite(a, H5T_NATIVE_INT64, &v), "H5Awrite " + name);
}

void attr_double(hid_t loc, const std::string& name, double v) {
  Handle space(check(H5Screate(H5S_SCALAR), "H5Screate"), H5Sclose);
  Handle a(check(H5Acreate2(loc, name.c_str(), H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, H5P_DEFAULT), "H5Acreate " + name), H5Aclose);
  check_status(H5Awrite(a, H5T_NATIVE_DOUBLE, &v), "H5Awrite " + name);
}

// A diverging trajectory can leave a sample whose singular values were computed from a
// non-finite matrix; whatever a backend returned there, the file says NaN and kRankNotFinite.
bool spectrum_finite(const Sample& s) { return s.spectrum.allFinite(); }

}  // namespace

// The open point: its group and datasets by name, and how many rows are written.
struct TrajectoriesH5Writer::State {
  Experiment ex;
  std::string path, tmp;
  std::vector<std::size_t> done;
  Handle file, points;
  std::size_t next_point = 0;  // groups below this exist
  std::optional<SweepPoint> open;
  Handle group;
  std::vector<std::pair<std::string, Handle>> sets;
  hsize_t written = 0;
  bool committed = false;
  // The catalogue's Hessians, computed once per catalogue (points of a sweep share one; held by
  // its pointer, so that no later catalogue can take its address).
  std::map<std::shared_ptr<const CriticalPointCatalog>, std::vector<CriticalStability>> stability;

  hid_t set(const std::string& name) const {
    for (const auto& [n, h] : sets)
      if (n == name) return h;
    throw std::logic_error("HDF5: no dataset " + name);
  }
  void make(hid_t loc, const std::string& name, hid_t type, const std::vector<hsize_t>& dims) {
    sets.emplace_back(name, create_dataset(loc, name.substr(name.find_last_of('/') + 1), type, dims));
  }
  void close_point() {
    if (!open) return;
    if (written != done[static_cast<std::size_t>(open->index)])
      throw std::logic_error("HDF5: point " + std::to_string(open->index) + " got " + std::to_string(written) + " of " +
                             std::to_string(done[static_cast<std::size_t>(open->index)]) + " trajectories");
    sets.clear();
    group.reset();
    open.reset();
  }
  void open_point(SweepPoint point);
  void add(const std::vector<TrajectoryRecord>& recs);
};

void TrajectoriesH5Writer::State::open_point(SweepPoint point) {
  const PointConfig& pc = point.config;
  const Problem& problem = *pc.problem;
  group = io::group(points, std::to_string(point.index));
  hid_t g = group;
  attr_string(g, "experiment", pc.resolved_json);
  for (const auto& c : point.coordinates) {
    if (std::isnan(c.number)) attr_string(g, c.path, c.text);
    else if (c.integer) attr_int64(g, c.path, static_cast<std::int64_t>(c.number));  // network.depth = 3, not 3.0
    else attr_double(g, c.path, c.number);
  }
  const hsize_t n = done[static_cast<std::size_t>(point.index)];
  const hsize_t T = pc.options.record.times.size();
  const hsize_t r = static_cast<hsize_t>(std::min(problem.rows(), problem.cols()));
  const hsize_t E = pc.event_names.size();
  dataset<double>(g, "time", {T}, pc.options.record.times);
  make(g, "seed", H5T_NATIVE_INT64, {n});
  make(g, "trajectory", H5T_NATIVE_INT64, {n});
  make(g, "status", H5T_NATIVE_INT32, {n});
  make(g, "t_end", H5T_NATIVE_DOUBLE, {n});
  make(g, "final_loss", H5T_NATIVE_DOUBLE, {n});
  make(g, "final_rank", H5T_NATIVE_INT32, {n});
  make(g, "steps", H5T_NATIVE_INT64, {n});
  make(g, "rejected", H5T_NATIVE_INT64, {n});
  make(g, "rhs_evaluations", H5T_NATIVE_INT64, {n});
  make(g, "switches", H5T_NATIVE_INT64, {n});
  make(g, "implicit_steps", H5T_NATIVE_INT64, {n});
  make(g, "implicit_time", H5T_NATIVE_DOUBLE, {n});
  make(g, "jvp_evaluations", H5T_NATIVE_INT64, {n});
  make(g, "linear_iterations", H5T_NATIVE_INT64, {n});
  make(g, "loss", H5T_NATIVE_DOUBLE, {n, T});
  make(g, "grad_norm", H5T_NATIVE_DOUBLE, {n, T});
  make(g, "balance_defect", H5T_NATIVE_DOUBLE, {n, T});
  make(g, "rank", H5T_NATIVE_INT32, {n, T});
  make(g, "spectrum", H5T_NATIVE_DOUBLE, {n, T, r});
  {
    Handle ev = io::group(g, "events");
    attr_strings(ev, "names", pc.event_names);
    make(ev, "events/times", H5T_NATIVE_DOUBLE, {n, E});
  }
  if (pc.catalog) {
    Handle cg = io::group(g, "critical_points");
    std::vector<std::string> labels;
    std::vector<double> values;
    for (const auto& p : pc.catalog->points()) labels.push_back(p.label), values.push_back(p.loss);
    attr_strings(cg, "labels", labels);
    dataset<double>(cg, "loss", {values.size()}, values);
    auto it = stability.find(pc.catalog);
    if (it == stability.end()) {
      if (stability.size() >= 16) stability.clear();
      it = stability.emplace(pc.catalog, catalog_stability(problem, *pc.catalog)).first;
    }
    std::vector<std::string> kinds;
    std::vector<std::int32_t> neg, zero, pos, order;
    std::vector<double> rate, slope;
    for (const auto& st : it->second) {
      kinds.push_back(to_string(st.kind));
      neg.push_back(st.negative), zero.push_back(st.zero), pos.push_back(st.positive), order.push_back(st.order);
      rate.push_back(st.rate), slope.push_back(st.escape_slope);
    }
    attr_strings(cg, "kinds", kinds);
    const hsize_t K = kinds.size();
    dataset<std::int32_t>(cg, "hessian_negative", {K}, neg);
    dataset<std::int32_t>(cg, "hessian_zero", {K}, zero);
    dataset<std::int32_t>(cg, "hessian_positive", {K}, pos);
    dataset<double>(cg, "rate", {K}, rate);
    dataset<double>(cg, "escape_slope", {K}, slope);
    dataset<std::int32_t>(cg, "order", {K}, order);
    make(cg, "critical_points/distance", H5T_NATIVE_DOUBLE, {n, T});
    make(cg, "critical_points/nearest", H5T_NATIVE_INT32, {n, T});
    make(cg, "critical_points/final_nearest", H5T_NATIVE_INT32, {n});
    make(cg, "critical_points/final_distance", H5T_NATIVE_DOUBLE, {n});
  }
  const auto names = state_matrix_names(problem);
  auto state_sets = [&](const std::string& prefix, bool per_time) {
    Handle sg = io::group(g, prefix);
    for (std::size_t b = 0; b < names.size(); ++b) {
      const auto [br, bc] = problem.blocks()[b];
      std::vector<hsize_t> dims{n};
      if (per_time) dims.push_back(T);
      dims.push_back(static_cast<hsize_t>(br)), dims.push_back(static_cast<hsize_t>(bc));
      make(sg, prefix + "/" + names[b], H5T_NATIVE_DOUBLE, dims);
    }
  };
  if (pc.save_states == SaveStates::Recorded) state_sets("states", true);
  if (pc.save_states == SaveStates::Endpoints) state_sets("initial_state", false);
  if (pc.save_states == SaveStates::Final || pc.save_states == SaveStates::Endpoints) state_sets("final_state", false);
  open = std::move(point);
  written = 0;
}

void TrajectoriesH5Writer::State::add(const std::vector<TrajectoryRecord>& recs) {
  const PointConfig& pc = open->config;
  const Problem& problem = *pc.problem;
  const hsize_t m = recs.size();
  const hsize_t r = static_cast<hsize_t>(std::min(problem.rows(), problem.cols()));
  const double nan = std::nan("");
  std::vector<std::int64_t> seed, traj, steps, rejected, evals, switches, isteps, jvps, liters;
  std::vector<std::int32_t> status, final_rank, final_critical, rank, crit;
  std::vector<double> itime, t_end, final_loss, final_dist, events, loss, grad, defect, spectrum, dist;
  for (const auto& rec : recs) {
    const auto& res = rec.result;
    seed.push_back(rec.seed_index);
    traj.push_back(static_cast<std::int64_t>(rec.point) * ex.seeds + rec.seed_index);
    steps.push_back(res.steps), rejected.push_back(res.rejected), evals.push_back(res.rhs_evaluations);
    switches.push_back(res.switches), isteps.push_back(res.implicit_steps), itime.push_back(res.implicit_time);
    jvps.push_back(res.jvp_evaluations), liters.push_back(res.linear_iterations);
    status.push_back(static_cast<int>(res.status)), final_rank.push_back(res.final_rank);
    final_critical.push_back(res.final_critical), final_dist.push_back(res.final_critical_distance);
    t_end.push_back(res.t_end), final_loss.push_back(res.final_loss);
    events.insert(events.end(), res.event_times.begin(), res.event_times.end());
    for (const auto& s : res.samples) {
      const bool finite = s.valid && spectrum_finite(s);
      loss.push_back(s.valid ? s.loss : nan);
      grad.push_back(s.valid ? s.grad_norm : nan);
      defect.push_back(s.valid ? s.balance_defect : nan);
      dist.push_back(finite ? s.critical_distance : nan);
      rank.push_back(!s.valid ? -1 : finite ? s.rank : kRankNotFinite);  // a backend's garbage never reaches the file
      crit.push_back(finite ? s.critical_index : -1);
      for (hsize_t k = 0; k < r; ++k)
        spectrum.push_back(finite && static_cast<hsize_t>(s.spectrum.size()) > k ? s.spectrum(static_cast<Index>(k)) : nan);
    }
  }
  write_rows(set("seed"), "seed", written, m, seed);
  write_rows(set("trajectory"), "trajectory", written, m, traj);
  write_rows(set("status"), "status", written, m, status);
  write_rows(set("t_end"), "t_end", written, m, t_end);
  write_rows(set("final_loss"), "final_loss", written, m, final_loss);
  write_rows(set("final_rank"), "final_rank", written, m, final_rank);
  write_rows(set("steps"), "steps", written, m, steps);
  write_rows(set("rejected"), "rejected", written, m, rejected);
  write_rows(set("rhs_evaluations"), "rhs_evaluations", written, m, evals);
  write_rows(set("switches"), "switches", written, m, switches);
  write_rows(set("implicit_steps"), "implicit_steps", written, m, isteps);
  write_rows(set("implicit_time"), "implicit_time", written, m, itime);
  write_rows(set("jvp_evaluations"), "jvp_evaluations", written, m, jvps);
  write_rows(set("linear_iterations"), "linear_iterations", written, m, liters);
  write_rows(set("loss"), "loss", written, m, loss);
  write_rows(set("grad_norm"), "grad_norm", written, m, grad);
  write_rows(set("balance_defect"), "balance_defect", written, m, defect);
  write_rows(set("rank"), "rank", written, m, rank);
  write_rows(set("spectrum"), "spectrum", written, m, spectrum);
  write_rows(set("events/times"), "events/times", written, m, events);
  if (pc.catalog) {
    write_rows(set("critical_points/distance"), "critical_points/distance", written, m, dist);
    write_rows(set("critical_points/nearest"), "critical_points/nearest", written, m, crit);
    write_rows(set("critical_points/final_nearest"), "critical_points/final_nearest", written, m, final_critical);
    write_rows(set("critical_points/final_distance"), "critical_points/final_distance", written, m, final_dist);
  }
  // Matrices: column-major blocks of the state vector -> row-major datasets, NaN where absent.
  const auto names = state_matrix_names(problem);
  auto write_states = [&](const std::string& prefix, const std::vector<std::vector<const Vec*>>& per_rec) {
    Index offset = 0;
    for (std::size_t b = 0; b < names.size(); ++b) {
      const auto [br, bc] = problem.blocks()[b];
      std::vector<double> out;
      for (const auto& list : per_rec)
        for (const Vec* state : list)
          for (Index i = 0; i < br; ++i)
            for (Index j = 0; j < bc; ++j)
              out.push_back(state && state->size() ? (*state)(offset + j * br + i) : nan);
      write_rows(set(prefix + "/" + names[b]), prefix + "/" + names[b], written, m, out);
      offset += br * bc;
    }
  };
  if (pc.save_states == SaveStates::Recorded) {
    std::vector<std::vector<const Vec*>> per_rec;
    for (const auto& rec : recs) {
      per_rec.emplace_back();
      for (const auto& s : rec.result.samples) per_rec.back().push_back(s.valid ? &s.state : nullptr);
    }
    write_states("states", per_rec);
  }
  if (pc.save_states == SaveStates::Endpoints) {
    // Regenerated from (sweep seed, seed index) exactly as the run drew it: the checkpoints need
    // not carry a second copy of every state.
    std::vector<Vec> initial;
    initial.reserve(recs.size());
    for (const auto& rec : recs)
      initial.push_back(initial_state(problem, pc.init, ex.seed, static_cast<std::uint64_t>(rec.seed_index)));
    std::vector<std::vector<const Vec*>> per_rec;
    for (const auto& v : initial) per_rec.push_back({&v});
    write_states("initial_state", per_rec);
  }
  if (pc.save_states == SaveStates::Final || pc.save_states == SaveStates::Endpoints) {
    std::vector<std::vector<const Vec*>> per_rec;
    for (const auto& rec : recs) per_rec.push_back({&rec.result.final_state});
    write_states("final_state", per_rec);
  }
  written += m;
}

TrajectoriesH5Writer::TrajectoriesH5Writer(const std::string& path, const Experiment& ex, const std::string& status,
                                           std::vector<std::size_t> done)
    : s_(std::make_unique<State>()) {
  // HDF5 1.10 cannot close a file whose flush failed (a full disk): the close fails, the file
  // stays in the library's tables, and its exit handler closes it again and crashes. Without
  // the handler a failed file is simply dropped with its temporary (the destructor removes it).
  H5dont_atexit();
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors become exceptions, not stderr noise
  s_->ex = ex;
  s_->path = path;
  s_->tmp = temporary_name(path);
  s_->done = std::move(done);
  Handle fcpl = untimed(H5P_FILE_CREATE);
  Handle fapl(check(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate"), H5Pclose);
  // Closing the file closes everything in it: after a failed write (a full disk) nothing is
  // left open for the library's exit handler to flush and close a second time.
  check_status(H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG), "H5Pset_fclose_degree");
  s_->file = Handle(check(H5Fcreate(s_->tmp.c_str(), H5F_ACC_TRUNC, fcpl, fapl), "creating " + s_->tmp), H5Fclose);
  attr_string(s_->file, "format", "dlnflow-results/1");
  attr_string(s_->file, "status", status);
  attr_string(s_->file, "experiment", ex.resolved_json);
  std::vector<std::string> names;
  for (int st = 0; st <= static_cast<int>(Status::Failed); ++st) names.push_back(to_string(static_cast<Status>(st)));
  attr_strings(s_->file, "status_names", names);
  attr_strings(s_->file, "axes", ex.axes);
  s_->points = group(s_->file, "points", /*ordered=*/true);
}

TrajectoriesH5Writer::~TrajectoriesH5Writer() {
  if (!s_ || s_->committed) return;
  s_->sets.clear();
  s_->group.reset();
  s_->points.reset();
  s_->file.reset();
  std::remove(s_->tmp.c_str());
}

void TrajectoriesH5Writer::add(const SweepPoint& point, const std::vector<TrajectoryRecord>& records) {
  State& s = *s_;
  if (!s.open || s.open->index != point.index) {
    s.close_point();
    for (; s.next_point < static_cast<std::size_t>(point.index); ++s.next_point) {  // points with nothing done
      s.open_point(s.ex.point(s.next_point));
      s.close_point();
    }
    s.open_point(point);
    s.next_point = static_cast<std::size_t>(point.index) + 1;
  }
  s.add(records);
}

void TrajectoriesH5Writer::commit() {
  State& s = *s_;
  s.close_point();
  for (; s.next_point < s.ex.point_count(); ++s.next_point) {
    s.open_point(s.ex.point(s.next_point));
    s.close_point();
  }
  s.points.reset();
  check_status(H5Fflush(s.file, H5F_SCOPE_GLOBAL), "H5Fflush (writing " + s.tmp + ")");
  if (s.file.reset() < 0) throw std::runtime_error("HDF5: closing " + s.tmp + " failed");
  commit_file(s.tmp, s.path);
  s.committed = true;
}

std::vector<std::string> state_matrix_names(const Problem& problem) {
  if (std::holds_alternative<DeepFactorization>(problem.parametrization())) {
    std::vector<std::string> names;
    for (int j = 1; j <= problem.depth(); ++j) names.push_back('W' + std::to_string(j));
    return names;
  }
  return {problem.is_symmetric() ? "U" : "W"};
}

}  // namespace dlnflow::io
