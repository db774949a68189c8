// The checks solve() makes before it runs anything, and the recording grids.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>

#include "dlnflow/error.hpp"
#include "dlnflow/solve.hpp"

namespace dlnflow {

std::vector<double> uniform_grid(double t0, double t1, int count) {
  std::vector<double> g(count);
  for (int i = 0; i < count; ++i) g[i] = count == 1 ? t1 : t0 + (t1 - t0) * i / (count - 1);
  if (count > 1) g.back() = t1;
  return g;
}

std::vector<double> log_grid(double t_first, double t_last, int count, bool with_zero) {
  if (!(t_first > 0) || !(t_last >= t_first) || count < 1)
    throw InputError("record.times", "log grid needs 0 < t_first <= t_last and count >= 1");
  std::vector<double> g;
  if (with_zero) g.push_back(0.0);
  const double a = std::log(t_first), b = std::log(t_last);
  for (int i = 0; i < count; ++i) g.push_back(count == 1 ? t_last : std::exp(a + (b - a) * i / (count - 1)));
  if (count > 1) g.back() = t_last;
  return g;
}

void validate(const Problem& problem, const SolveOptions& o) {
  const auto& ic = o.integrator;
  auto bad = [](const std::string& f, const std::string& what, double v) {
    std::ostringstream os;
    os << what << ", got " << v;
    throw InputError(f, os.str());
  };
  if (!std::isfinite(o.stop.t_final) || o.stop.t_final < 0) bad("stop.t_final", "must be finite and >= 0", o.stop.t_final);
  if (!is_adaptive(ic.method) && !(ic.dt > 0 && std::isfinite(ic.dt)))
    bad("integrator.dt", "must be finite and > 0", ic.dt);
  if (ic.method == Method::Rodas5P && std::holds_alternative<EndToEndFlow>(problem.parametrization()))
    throw InputError("integrator.method",
                     "rodas5p needs the flow's Jacobian, which the end-to-end flow does not have yet; use dopri5 or "
                     "auto (which stays explicit there)");
  if (is_adaptive(ic.method)) {
    if (!(ic.rtol > 0)) bad("integrator.rtol", "must be > 0", ic.rtol);
    if (!(ic.atol >= 0)) bad("integrator.atol", "must be >= 0", ic.atol);
    if (!(ic.dt_max > 0)) bad("integrator.dt_max", "must be > 0", ic.dt_max);
    if (!(ic.dt_min >= 0) || ic.dt_min > ic.dt_max) bad("integrator.dt_min", "must be in [0, dt_max]", ic.dt_min);
  }
  if (!(o.stop.blowup_norm > 0)) bad("stop.blowup_norm", "must be > 0", o.stop.blowup_norm);
  const auto& ts = o.record.times;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    if (!(ts[i] >= 0 && ts[i] <= o.stop.t_final))
      bad("record.times", "entry " + std::to_string(i) + " must lie in [0, t_final]", ts[i]);
    if (i && !(ts[i] > ts[i - 1])) bad("record.times", "must be strictly increasing at entry " + std::to_string(i), ts[i]);
  }
  const Index kmax = std::min(problem.rows(), problem.cols());
  for (std::size_t e = 0; e < o.events.size(); ++e) {
    const auto& ev = o.events[e];
    const std::string name = "events[" + std::to_string(e + 1) + "]";  // 1-based, as in the experiment file
    if (ev.kind == EventKind::SingularValue && (ev.index < 1 || ev.index > kmax))
      bad(name + ".index", "must be in [1, " + std::to_string(kmax) + "] (1 = the largest singular value)", ev.index);
    if (!std::isfinite(ev.level)) bad(name + ".level", "must be finite", ev.level);
    if (ev.kind == EventKind::Linear || ev.kind == EventKind::Distance) {
      if (ev.matrix.rows() != problem.rows() || ev.matrix.cols() != problem.cols())
        throw InputError(name + ".matrix", "has shape " + std::to_string(ev.matrix.rows()) + "x" +
                                               std::to_string(ev.matrix.cols()) + ", W is " + std::to_string(problem.rows()) +
                                               "x" + std::to_string(problem.cols()));
      if (!ev.matrix.allFinite()) throw InputError(name + ".matrix", "has a non-finite entry");
    }
    if (ev.kind == EventKind::CriticalDistance && !o.record.catalog)
      throw InputError(name + ".kind", "critical_distance needs the critical-point catalogue (record.critical_points = true)");
  }
}

}  // namespace dlnflow
