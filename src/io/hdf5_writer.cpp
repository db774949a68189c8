// trajectories.h5 through the HDF5 C API: one group per sweep point (/points/<i>), because
// points of a depth or width sweep have differently shaped states. Matrices are stored in C
// order (row-major) so that h5py shows W[i, j] as written. Object timestamps are off, so two
// runs with the same results write the same datasets.
#include <hdf5.h>

#include <cmath>
#include <stdexcept>

#include "atomic_file.hpp"
#include "dlnflow/init.hpp"
#include "result_files.hpp"

namespace dlnflow::io {

namespace {

hid_t check(hid_t id, const std::string& what) {
  if (id < 0) throw std::runtime_error("HDF5: " + what + " failed");
  return id;
}
void check_status(herr_t s, const std::string& what) {
  if (s < 0) throw std::runtime_error("HDF5: " + what + " failed");
}

class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  operator hid_t() const { return id_; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

template <class T>
hid_t h5type();
template <>
hid_t h5type<double>() { return H5T_NATIVE_DOUBLE; }
template <>
hid_t h5type<std::int32_t>() { return H5T_NATIVE_INT32; }
template <>
hid_t h5type<std::int64_t>() { return H5T_NATIVE_INT64; }

Handle untimed_dcpl() {
  Handle p(check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate"), H5Pclose);
  check_status(H5Pset_obj_track_times(p, 0), "H5Pset_obj_track_times");
  return p;
}

template <class T>
void dataset(hid_t loc, const std::string& name, const std::vector<hsize_t>& dims, const std::vector<T>& data) {
  Handle space(check(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "H5Screate " + name), H5Sclose);
  Handle dcpl = untimed_dcpl();
  Handle d(check(H5Dcreate2(loc, name.c_str(), h5type<T>(), space, H5P_DEFAULT, dcpl, H5P_DEFAULT), "H5Dcreate " + name),
           H5Dclose);
  if (!data.empty()) check_status(H5Dwrite(d, h5type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()), "H5Dwrite " + name);
}

Handle group(hid_t loc, const std::string& name) {
  Handle gcpl(check(H5Pcreate(H5P_GROUP_CREATE), "H5Pcreate"), H5Pclose);
  check_status(H5Pset_obj_track_times(gcpl, 0), "H5Pset_obj_track_times");
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

void attr_double(hid_t loc, const std::string& name, double v) {
  Handle space(check(H5Screate(H5S_SCALAR), "H5Screate"), H5Sclose);
  Handle a(check(H5Acreate2(loc, name.c_str(), H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, H5P_DEFAULT), "H5Acreate " + name), H5Aclose);
  check_status(H5Awrite(a, H5T_NATIVE_DOUBLE, &v), "H5Awrite " + name);
}

const char* status_name(int s) { return to_string(static_cast<Status>(s)); }

// One dataset per state matrix (W1..WN, U or W) of shape (n[, T], rows, cols); states(rec, out)
// appends the T (or, with T = 0, one) states of a trajectory, nullptr where there is none.
template <class States>
void write_states(hid_t g, const std::string& name, const Problem& problem, const std::vector<const TrajectoryRecord*>& recs,
                  hsize_t T, States states) {
  const auto names = state_matrix_names(problem);
  Handle sg = group(g, name);
  std::vector<std::vector<const Vec*>> per_rec(recs.size());
  for (std::size_t i = 0; i < recs.size(); ++i) states(*recs[i], per_rec[i]);
  Index offset = 0;
  for (std::size_t b = 0; b < names.size(); ++b) {
    const auto [br, bc] = problem.blocks()[b];
    std::vector<double> out;
    for (const auto& list : per_rec)
      for (const Vec* state : list)  // column-major block -> row-major
        for (Index i = 0; i < br; ++i)
          for (Index j = 0; j < bc; ++j)
            out.push_back(state && state->size() ? (*state)(offset + j * br + i) : std::nan(""));
    std::vector<hsize_t> dims{recs.size()};
    if (T) dims.push_back(T);
    dims.push_back(static_cast<hsize_t>(br)), dims.push_back(static_cast<hsize_t>(bc));
    dataset<double>(sg, names[b], dims, out);
    offset += br * bc;
  }
}

void write_point(hid_t file, const Experiment& ex, const SweepPoint& point, const std::vector<const TrajectoryRecord*>& recs) {
  const PointConfig& pc = point.config;
  const Problem& problem = *pc.problem;
  Handle g = group(file, "points/" + std::to_string(point.index));
  attr_string(g, "experiment", pc.resolved_json);
  for (const auto& c : point.coordinates) {
    if (std::isnan(c.number)) attr_string(g, c.path, c.text);
    else attr_double(g, c.path, c.number);
  }
  const hsize_t n = recs.size();
  const hsize_t T = pc.options.record.times.size();
  const hsize_t r = static_cast<hsize_t>(std::min(problem.rows(), problem.cols()));
  const hsize_t E = pc.event_names.size();
  const double nan = std::nan("");

  dataset<double>(g, "time", {T}, pc.options.record.times);
  std::vector<std::int64_t> seed, traj, steps, rejected, evals;
  std::vector<std::int32_t> status, final_rank, final_critical;
  std::vector<double> t_end, final_loss, final_dist, events;
  std::vector<double> loss, grad, defect, spectrum, dist;
  std::vector<std::int32_t> rank, crit;
  for (const auto* rec : recs) {
    const auto& res = rec->result;
    seed.push_back(rec->seed_index);
    traj.push_back(static_cast<std::int64_t>(rec->point) * ex.seeds + rec->seed_index);
    steps.push_back(res.steps), rejected.push_back(res.rejected), evals.push_back(res.rhs_evaluations);
    status.push_back(static_cast<int>(res.status)), final_rank.push_back(rec->final_rank);
    final_critical.push_back(rec->final_critical), final_dist.push_back(rec->final_critical_distance);
    t_end.push_back(res.t_end), final_loss.push_back(res.final_loss);
    events.insert(events.end(), res.event_times.begin(), res.event_times.end());
    for (const auto& s : res.samples) {
      loss.push_back(s.valid ? s.loss : nan);
      grad.push_back(s.valid ? s.grad_norm : nan);
      defect.push_back(s.valid ? s.balance_defect : nan);
      dist.push_back(s.valid ? s.critical_distance : nan);
      rank.push_back(s.valid ? s.rank : -1);
      crit.push_back(s.valid ? s.critical_index : -1);
      for (hsize_t k = 0; k < r; ++k)
        spectrum.push_back(s.valid && static_cast<hsize_t>(s.spectrum.size()) > k ? s.spectrum(static_cast<Index>(k)) : nan);
    }
  }
  dataset<std::int64_t>(g, "seed", {n}, seed);
  dataset<std::int64_t>(g, "trajectory", {n}, traj);
  dataset<std::int32_t>(g, "status", {n}, status);
  dataset<double>(g, "t_end", {n}, t_end);
  dataset<double>(g, "final_loss", {n}, final_loss);
  dataset<std::int32_t>(g, "final_rank", {n}, final_rank);
  dataset<std::int64_t>(g, "steps", {n}, steps);
  dataset<std::int64_t>(g, "rejected", {n}, rejected);
  dataset<std::int64_t>(g, "rhs_evaluations", {n}, evals);
  dataset<double>(g, "loss", {n, T}, loss);
  dataset<double>(g, "grad_norm", {n, T}, grad);
  dataset<double>(g, "balance_defect", {n, T}, defect);
  dataset<std::int32_t>(g, "rank", {n, T}, rank);
  dataset<double>(g, "spectrum", {n, T, r}, spectrum);
  {
    Handle ev = group(g, "events");
    attr_strings(ev, "names", pc.event_names);
    dataset<double>(ev, "times", {n, E}, events);
  }
  if (pc.catalog) {
    Handle cg = group(g, "critical_points");
    std::vector<std::string> labels;
    std::vector<double> values;
    for (const auto& p : pc.catalog->points()) labels.push_back(p.label), values.push_back(p.loss);
    attr_strings(cg, "labels", labels);
    dataset<double>(cg, "loss", {values.size()}, values);
    dataset<double>(cg, "distance", {n, T}, dist);
    dataset<std::int32_t>(cg, "nearest", {n, T}, crit);
    dataset<std::int32_t>(cg, "final_nearest", {n}, final_critical);
    dataset<double>(cg, "final_distance", {n}, final_dist);
  }
  if (pc.save_states == SaveStates::None) return;
  if (pc.save_states == SaveStates::Recorded) {
    write_states(g, "states", problem, recs, T, [](const TrajectoryRecord& rec, std::vector<const Vec*>& out) {
      for (const auto& s : rec.result.samples) out.push_back(s.valid ? &s.state : nullptr);
    });
    return;
  }
  if (pc.save_states == SaveStates::Endpoints) {
    // Regenerated from (sweep seed, seed index) exactly as the run drew it: the checkpoints need
    // not carry a second copy of every state.
    std::vector<Vec> initial;
    initial.reserve(recs.size());
    for (const auto* rec : recs)
      initial.push_back(initial_state(problem, pc.init, ex.seed, static_cast<std::uint64_t>(rec->seed_index)));
    std::size_t i = 0;
    write_states(g, "initial_state", problem, recs, 0, [&](const TrajectoryRecord&, std::vector<const Vec*>& out) {
      out.push_back(&initial[i++]);
    });
  }
  write_states(g, "final_state", problem, recs, 0, [](const TrajectoryRecord& rec, std::vector<const Vec*>& out) {
    out.push_back(&rec.result.final_state);
  });
}

}  // namespace

std::vector<std::string> state_matrix_names(const Problem& problem) {
  if (std::holds_alternative<DeepFactorization>(problem.parametrization())) {
    std::vector<std::string> names;
    for (int j = 1; j <= problem.depth(); ++j) names.push_back('W' + std::to_string(j));
    return names;
  }
  return {problem.is_symmetric() ? "U" : "W"};
}

void write_trajectories_h5(const std::string& path, const Experiment& ex, const std::vector<TrajectoryRecord>& records,
                           const std::string& status) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors become exceptions, not stderr noise
  const std::string tmp = temporary_name(path);
  {
    Handle fcpl(check(H5Pcreate(H5P_FILE_CREATE), "H5Pcreate"), H5Pclose);
    check_status(H5Pset_obj_track_times(fcpl, 0), "H5Pset_obj_track_times");
    Handle file(check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, fcpl, H5P_DEFAULT), "creating " + tmp), H5Fclose);
    attr_string(file, "format", "dlnflow-results/1");
    attr_string(file, "status", status);
    attr_string(file, "experiment", ex.resolved_json);
    std::vector<std::string> names;
    for (int s = 0; s <= static_cast<int>(Status::Failed); ++s) names.push_back(status_name(s));
    attr_strings(file, "status_names", names);
    attr_strings(file, "axes", ex.axes);
    Handle points = group(file, "points");
    std::vector<std::vector<const TrajectoryRecord*>> by_point(ex.points.size());
    for (const auto& rec : records) by_point[rec.point].push_back(&rec);
    for (const auto& p : ex.points) write_point(file, ex, p, by_point[p.index]);
    check_status(H5Fflush(file, H5F_SCOPE_GLOBAL), "H5Fflush");
  }
  commit_file(tmp, path);
}

}  // namespace dlnflow::io
