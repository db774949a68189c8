// `dlnflow stats`: per sweep point, counts by how trajectories ended and the distribution (mean,
// median, 10% and 90% quantiles, linearly interpolated as numpy.quantile does) of the final loss
// and of every event time, over the trajectories where the value is finite (an event that never
// fired is NaN), with why the others have none; and for every event time against a swept scale
// (initialization.alpha, say), the fitted law with a bootstrap interval beside the theory's
// (docs/cli.md).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <random>

#include "../io/result_files.hpp"
#include "commands.hpp"
#include "dlnflow/app/experiment.hpp"
#include "dlnflow/error.hpp"
#include "dlnflow/stability.hpp"

namespace dlnflow::cli {

namespace {

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') out.back() += '"', ++i;
      else if (c == '"') quoted = false;
      else out.back() += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

double quantile(std::vector<double> v, double q) {  // v sorted
  if (v.empty()) return std::nan("");
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

struct Summary {
  std::size_t n = 0;
  double mean = NAN, median = NAN, q10 = NAN, q90 = NAN;
  // 90% bootstrap intervals of the median and of the 10% and 90% quantiles
  double median_lo = NAN, median_hi = NAN, q10_lo = NAN, q10_hi = NAN, q90_lo = NAN, q90_hi = NAN;
};

// quantile() of v as if sorted, in linear time (v is reordered).
double select_quantile(std::vector<double>& v, double q) {
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(lo), v.end());
  const double a = v[lo];
  if (lo + 1 >= v.size() || pos == static_cast<double>(lo)) return a;
  const double b = *std::min_element(v.begin() + static_cast<std::ptrdiff_t>(lo) + 1, v.end());
  return a + (pos - static_cast<double>(lo)) * (b - a);
}

Summary summarize(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  std::sort(v.begin(), v.end());
  Summary s;
  s.n = v.size();
  if (v.empty()) return s;
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  s.median = quantile(v, 0.5), s.q10 = quantile(v, 0.1), s.q90 = quantile(v, 0.9);
  // 5% and 95% of the medians (and 10%, 90% quantiles) of 400 resamples (with replacement; fixed
  // seed: the same output for the same folder), as the fits' intervals are made. Beyond 10^5
  // values a point's quantiles are known far better than its spread: not resampled.
  if (v.size() > 100000) return s;
  std::mt19937_64 rng(2026);
  std::uniform_int_distribution<std::size_t> pick(0, v.size() - 1);
  std::vector<double> med(400), lo(400), hi(400), r(v.size());
  for (std::size_t k = 0; k < med.size(); ++k) {
    for (double& x : r) x = v[pick(rng)];
    med[k] = select_quantile(r, 0.5), lo[k] = select_quantile(r, 0.1), hi[k] = select_quantile(r, 0.9);
  }
  for (auto* b : {&med, &lo, &hi}) std::sort(b->begin(), b->end());
  s.median_lo = quantile(med, 0.05), s.median_hi = quantile(med, 0.95);
  s.q10_lo = quantile(lo, 0.05), s.q10_hi = quantile(lo, 0.95);
  s.q90_lo = quantile(hi, 0.05), s.q90_hi = quantile(hi, 0.95);
  return s;
}


// Least-squares slope of y against x.
double slope_of(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) mx += x[i], my += y[i];
  mx /= n, my /= n;
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < x.size(); ++i) sxy += (x[i] - mx) * (y[i] - my), sxx += (x[i] - mx) * (x[i] - mx);
  return sxy / sxx;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return quantile(v, 0.5);
}

// Escape times against an initialization scale a (Bah et al. Thm 5.3 and its depth-2 case;
// docs/theory.md): at depth N >= 3 a power law, t ~ C a^-(1 - 2/N) (the scale of W = W_N..W_1;
// 1 - 2/N per decade of 1/a on log-log axes); at depth 2 logarithmic, t ~ ln(1/a) / (2 mu). The
// fit is of the median over a point's trajectories, with a 90% interval from resampling each
// point's trajectories (percentile bootstrap, 400 resamples, a fixed seed).
struct Fit {
  std::string event, axis, group;  // group: the other swept values it was fitted within
  // "power" (slope of ln t against ln 1/a), "log" (of t against ln 1/a), or "escape" (of t
  // against ln 1/eps, for starts eps away from a catalogued critical point)
  std::string law;
  int depth = 0;                   // 0: unknown
  std::size_t points = 0;
  double slope = NAN, lo = NAN, hi = NAN, theory = NAN;
  std::string theory_text;
};

}  // namespace

int stats(const std::string& dir, bool csv, bool as_json) {
  const std::string path = (std::filesystem::path(dir) / "summary.csv").string();
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "dlnflow: %s not found; is %s a dlnflow results folder?\n", path.c_str(), dir.c_str());
    return kUsage;
  }
  std::string line;
  std::getline(in, line);
  const auto header = split_csv(line);
  auto column = [&](const std::string& name) -> int {
    const auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  };
  const int c_seed = column("seed"), c_status = column("status"), c_loss = column("final_loss"),
            c_rejected = column("rejected"), c_critical = column("critical_point");
  if (header.empty() || header[0] != "point" || c_seed < 0 || c_status < 0 || c_loss < 0 || c_rejected < 0 || c_critical < 0) {
    std::fprintf(stderr, "dlnflow: %s does not have the columns of a dlnflow summary\n", path.c_str());
    return kUsage;
  }
  std::vector<std::string> axes(header.begin() + 1, header.begin() + c_seed);
  std::vector<std::pair<std::string, int>> quantities{{"final_loss", c_loss}};
  for (int c = c_rejected + 1; c < c_critical; ++c) quantities.push_back({header[c], c});
  // The event times (t_<name>); the other columns here are the implicit method's counts.
  auto is_event = [&](std::size_t q) {
    static const std::vector<std::string> counts{"switches", "implicit_steps", "implicit_time"};
    return q > 0 && std::find(counts.begin(), counts.end(), quantities[q].first) == counts.end();
  };

  // Why an event time is missing, by how its trajectory ended.
  enum Missing { NotReached, StoppedEarlier, DivergedOrFailed, kMissingKinds };
  auto missing_kind = [](const std::string& status) {
    if (status == "diverged" || status == "failed") return DivergedOrFailed;
    if (status == "event_stop" || status == "loss_converged" || status == "grad_converged") return StoppedEarlier;
    return NotReached;  // completed (t_final), max_steps, step_underflow
  };
  struct Point {
    std::vector<std::string> coords;
    std::size_t count = 0, converged = 0, diverged = 0;
    std::map<std::string, std::size_t> statuses;
    std::map<std::string, std::size_t> ends;  // nearest catalogued critical point at t_end (its label)
    std::vector<std::vector<double>> values;
    std::vector<std::array<std::size_t, kMissingKinds>> missing;
  };
  std::map<long, Point> points;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto f = split_csv(line);
    if (f.size() != header.size()) {
      std::fprintf(stderr, "dlnflow: %s: a row has %zu fields, the header %zu\n", path.c_str(), f.size(), header.size());
      return kUsage;
    }
    Point& p = points[std::stol(f[0])];
    if (p.count == 0) {
      p.coords.assign(f.begin() + 1, f.begin() + c_seed);
      p.values.resize(quantities.size());
      p.missing.assign(quantities.size(), {});
    }
    ++p.count;
    const std::string& st = f[c_status];
    ++p.statuses[st];
    if (!f[c_critical].empty() && f[c_critical] != "nan") ++p.ends[f[c_critical]];
    p.converged += st == "loss_converged" || st == "grad_converged";
    p.diverged += st == "diverged";
    for (std::size_t q = 0; q < quantities.size(); ++q) {
      const double v = std::strtod(f[quantities[q].second].c_str(), nullptr);
      p.values[q].push_back(v);
      if (!std::isfinite(v)) ++p.missing[q][missing_kind(st)];
    }
  }

  // The depth of each point, for the theory's exponent: a swept network.depth or network.widths,
  // else the experiment's (manifest.json); only for the deep and end-to-end parametrizations.
  int fixed_depth = 0;
  std::string parametrization;
  {
    std::ifstream mf(std::filesystem::path(dir) / "manifest.json");
    const auto m = nlohmann::json::parse(mf, nullptr, false);
    if (!m.is_discarded()) {
      const auto net = m.value("/experiment/experiment/network"_json_pointer, nlohmann::json::object());
      parametrization = net.value("parametrization", "");
      if (net.contains("depth") && net["depth"].is_number_integer()) fixed_depth = net["depth"].get<int>();
      else if (net.contains("widths") && net["widths"].is_array()) fixed_depth = static_cast<int>(net["widths"].size()) - 1;
    }
  }
  const bool has_depth = parametrization == "deep" || parametrization == "end_to_end";
  auto depth_of = [&](const Point& p) {
    if (!has_depth) return 0;
    for (std::size_t a = 0; a < axes.size(); ++a) {
      if (axes[a] == "network.depth") return std::atoi(p.coords[a].c_str());
      if (axes[a] == "network.widths") return static_cast<int>(std::count(p.coords[a].begin(), p.coords[a].end(), ','));
    }
    return fixed_depth;
  };

  // The escape law from a catalogued saddle (initialization.kind = "critical_point", swept
  // epsilon): t = ln(1/eps) / lambda_+ + O(1), lambda_+ from the catalogue's Hessian at the start
  // point. Read from the experiment file the run recorded, while it is the one that ran.
  std::string experiment_file, fingerprint;
  {
    std::ifstream mf(std::filesystem::path(dir) / "manifest.json");
    const auto m = nlohmann::json::parse(mf, nullptr, false);
    if (!m.is_discarded()) experiment_file = m.value("experiment_file", ""), fingerprint = m.value("fingerprint", "");
  }
  std::optional<Experiment> ran;
  struct Known {
    std::shared_ptr<const Problem> problem;  // keeps the key alive (and unique)
    std::shared_ptr<const CriticalPointCatalog> catalog;
    std::vector<CriticalStability> stability;
  };
  std::map<const Problem*, Known> known;
  PointConfig c;  // of the point catalogue_of() read last
  // The catalogue and its Hessians at a point, and the point's configuration (null where the
  // experiment file is gone or was edited since the run).
  auto catalogue_of = [&](long point, const PointConfig*& config) -> const Known* {
    config = nullptr;
    if (!ran) {
      try {
        ran = load_experiment(experiment_file);
      } catch (const ExperimentError&) {
        ran.emplace();
      }
      char hex[17];
      std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(ran->fingerprint));
      if (fingerprint != hex) ran->name.clear();  // edited since the run: nothing from it
    }
    if (ran->name.empty() || point < 0 || static_cast<std::size_t>(point) >= ran->point_count()) return nullptr;
    c = ran->point(static_cast<std::size_t>(point), false).config;
    config = &c;
    auto it = known.find(c.problem.get());
    if (it == known.end()) {
      try {
        auto cat = std::make_shared<const CriticalPointCatalog>(*c.problem);
        it = known.emplace(c.problem.get(), Known{c.problem, cat, catalog_stability(*c.problem, *cat)}).first;
      } catch (const InputError&) {
        return nullptr;
      }
    }
    return &it->second;
  };
  auto kind_of = [&](long point, const std::string& label) -> std::string {
    const PointConfig* at = nullptr;
    const Known* k = catalogue_of(point, at);
    if (!k) return "";
    const auto& pts = k->catalog->points();
    double least = INFINITY;
    for (const auto& p : pts) least = std::min(least, p.loss);
    for (std::size_t i = 0; i < pts.size(); ++i) {
      if (pts[i].label != label) continue;
      if (k->stability[i].kind != CriticalKind::NotComputed) return to_string(k->stability[i].kind);
      // Without a Hessian (the BW loss at tau = 0, say) the loss still tells a point above the
      // least catalogued value from the minimum.
      return pts[i].loss > least ? "saddle, Hessian not computed" : "least loss, Hessian not computed";
    }
    return "";
  };
  auto escape_theory = [&](long point, double& slope, bool& non_strict) -> std::string {
    slope = NAN, non_strict = false;
    const PointConfig* at = nullptr;
    const Known* k = catalogue_of(point, at);
    const auto* start = at ? std::get_if<CriticalPointInit>(&at->init) : nullptr;
    if (!k || !start) return "";
    if (start->index < 0 || static_cast<std::size_t>(start->index) >= k->stability.size()) return "";
    const CriticalStability& st = k->stability[static_cast<std::size_t>(start->index)];
    const std::string where = "critical point " + std::to_string(start->index);
    if (st.kind == CriticalKind::StrictSaddle) {
      slope = st.escape_slope;
      char text[96];
      std::snprintf(text, sizeof text, "1/lambda_+ = %.4g (strict saddle %d, lambda_+ = %.6g)", slope, start->index, st.rate);
      return text;
    }
    if (st.kind == CriticalKind::NotComputed) return "none: the Hessian at " + where + " was not computed (" + st.reason + ")";
    non_strict = st.kind == CriticalKind::NonStrictSaddle;
    return "none: " + where + " is a " + to_string(st.kind) +
           (non_strict ? " (escape polynomial in 1/eps: the power law is fitted)" : "");
  };

  // Fits: every event time against every swept scale (a numeric axis with positive values over
  // at least two decades), within each combination of the other swept values, on the points
  // whose median is finite (at least 3 of them).
  std::vector<Fit> fits;
  for (std::size_t a = 0; a < axes.size(); ++a) {
    std::map<std::string, std::vector<long>> groups;  // other coordinates -> points
    bool scale = true;
    double lo = INFINITY, hi = 0;
    for (const auto& [index, p] : points) {
      char* end = nullptr;
      const double v = std::strtod(p.coords[a].c_str(), &end);
      if (end == p.coords[a].c_str() || *end != '\0' || !(v > 0)) scale = false;
      lo = std::min(lo, v), hi = std::max(hi, v);
      std::string key;
      for (std::size_t b = 0; b < axes.size(); ++b)
        if (b != a) key += (key.empty() ? "" : ", ") + axes[b] + " = " + p.coords[b];
      groups[key].push_back(index);
    }
    if (!scale || !(hi >= 100 * lo)) continue;
    for (std::size_t q = 1; q < quantities.size(); ++q)
      for (const auto& [key, members] : groups) {
        if (!is_event(q)) continue;
        std::vector<long> used;
        for (long i : members)
          if (std::isfinite(median_of(points[i].values[q]))) used.push_back(i);
        if (used.size() < 3) continue;
        const int depth = depth_of(points[used[0]]);
        bool same_depth = true;
        for (long i : used) same_depth = same_depth && depth_of(points[i]) == depth;
        Fit f;
        f.event = quantities[q].first.substr(2), f.axis = axes[a], f.group = key, f.points = used.size();
        f.depth = same_depth ? depth : 0;
        const bool escape = axes[a] == "initialization.epsilon";
        bool non_strict = false;
        std::string escape_text = escape ? escape_theory(used[0], f.theory, non_strict) : "";
        f.law = escape && !non_strict ? "escape" : f.depth == 2 ? "log" : "power";
        auto fit_medians = [&](const std::vector<std::vector<double>>& samples) {
          std::vector<double> x, y;
          for (std::size_t k = 0; k < used.size(); ++k) {
            const double m = median_of(samples[k]);
            if (!(m > 0) || !std::isfinite(m)) continue;
            x.push_back(std::log(1 / std::strtod(points[used[k]].coords[a].c_str(), nullptr)));
            y.push_back(f.law == "power" ? std::log(m) : m);
          }
          return x.size() >= 3 ? slope_of(x, y) : NAN;
        };
        std::vector<std::vector<double>> finite(used.size());
        for (std::size_t k = 0; k < used.size(); ++k)
          for (double v : points[used[k]].values[q])
            if (std::isfinite(v)) finite[k].push_back(v);
        f.slope = fit_medians(finite);
        std::mt19937_64 rng(2026);
        std::vector<double> boot;
        std::vector<std::vector<double>> resampled(used.size());
        for (int r = 0; r < 400; ++r) {
          for (std::size_t k = 0; k < used.size(); ++k) {
            std::uniform_int_distribution<std::size_t> pick(0, finite[k].size() - 1);
            resampled[k].resize(finite[k].size());
            for (double& v : resampled[k]) v = finite[k][pick(rng)];
          }
          const double b = fit_medians(resampled);
          if (std::isfinite(b)) boot.push_back(b);
        }
        std::sort(boot.begin(), boot.end());
        f.lo = quantile(boot, 0.05), f.hi = quantile(boot, 0.95);
        if (escape) {
          f.theory_text = escape_text;
        } else if (f.depth >= 3) {
          f.theory = 1.0 - 2.0 / f.depth;
          char text[64];
          std::snprintf(text, sizeof text, "1 - 2/N = %.4g (N = %d)", f.theory, f.depth);
          f.theory_text = text;
        } else if (f.depth == 2) {
          f.theory_text = "1/(2 mu) per unit of ln(1/" + f.axis + "), mu the escaping singular value of the target";
        }
        fits.push_back(f);
      }
  }
  const char* converged_means = "converged: the loss or the gradient norm fell below its [stop] level";

  if (as_json) {
    nlohmann::json out;
    out["definitions"] = {{"converged", converged_means},
                          {"missing", {{"not_reached", "the trajectory ended (t_final, max_steps, a collapsed step) before the event"},
                                       {"stopped_earlier", "a terminal event or a loss/gradient stop ended it first"},
                                       {"diverged_or_failed", "the trajectory diverged or a matrix function failed"}}},
                          {"fit", "slope of ln(median t) against ln(1/axis) (law power), or of median t against ln(1/axis) "
                                  "(law log, depth 2; law escape, against initialization.epsilon from a catalogued critical point, theory "
                                  "1/lambda_+ of its Hessian); interval: 5%-95% of 400 bootstrap resamples of each point's "
                                  "trajectories"}};
    out["axes"] = axes;
    nlohmann::json pts = nlohmann::json::array();
    for (const auto& [index, p] : points) {
      nlohmann::json j;
      j["point"] = index;
      for (std::size_t a = 0; a < axes.size(); ++a) j["coordinates"][axes[a]] = p.coords[a];
      j["count"] = p.count;
      j["statuses"] = p.statuses;
      j["ends_nearest"] = p.ends;  // critical-point label -> trajectories (record.critical_points)
      for (const auto& [label, k] : p.ends) j["ends_kind"][label] = kind_of(index, label);
      for (std::size_t q = 0; q < quantities.size(); ++q) {
        const Summary sm = summarize(p.values[q]);
        auto num = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
        nlohmann::json e = {{"n", sm.n}, {"mean", num(sm.mean)}, {"median", num(sm.median)}, {"q10", num(sm.q10)}, {"q90", num(sm.q90)},
                            {"median_interval", {num(sm.median_lo), num(sm.median_hi)}},
                            {"q10_interval", {num(sm.q10_lo), num(sm.q10_hi)}},
                            {"q90_interval", {num(sm.q90_lo), num(sm.q90_hi)}}};
        if (is_event(q))
          e["missing"] = {{"not_reached", p.missing[q][NotReached]},
                          {"stopped_earlier", p.missing[q][StoppedEarlier]},
                          {"diverged_or_failed", p.missing[q][DivergedOrFailed]}};
        j["quantities"][quantities[q].first] = e;
      }
      pts.push_back(j);
    }
    out["points"] = pts;
    nlohmann::json fj = nlohmann::json::array();
    for (const Fit& f : fits) {
      auto num = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
      fj.push_back({{"event", f.event}, {"axis", f.axis}, {"within", f.group}, {"law", f.law}, {"points", f.points},
                    {"depth", f.depth ? nlohmann::json(f.depth) : nlohmann::json(nullptr)}, {"slope", num(f.slope)},
                    {"interval", {num(f.lo), num(f.hi)}}, {"theory", num(f.theory)}, {"theory_text", f.theory_text}});
    }
    out["fits"] = fj;
    std::printf("%s\n", out.dump(1).c_str());
    return kOk;
  }
  if (csv) {
    std::printf("point");
    for (const auto& a : axes) std::printf(",%s", a.c_str());
    std::printf(",count,converged,diverged");
    for (const auto& [name, c] : quantities)
      std::printf(",%s_n,%s_mean,%s_median,%s_q10,%s_q90", name.c_str(), name.c_str(), name.c_str(), name.c_str(), name.c_str());
    std::printf("\n");
    for (const auto& [index, p] : points) {
      std::printf("%ld", index);
      for (const auto& c : p.coords) std::printf(",%s", c.c_str());
      const double n = static_cast<double>(p.count);
      std::printf(",%zu,%s,%s", p.count, io::format_double(p.converged / n).c_str(), io::format_double(p.diverged / n).c_str());
      for (const auto& v : p.values) {
        const Summary s = summarize(v);
        std::printf(",%zu,%s,%s,%s,%s", s.n, io::format_double(s.mean).c_str(), io::format_double(s.median).c_str(),
                    io::format_double(s.q10).c_str(), io::format_double(s.q90).c_str());
      }
      std::printf("\n");
    }
    return kOk;
  }
  std::printf("(%s; missing event times: not reached = the trajectory ended first, earlier = a terminal event or a\n"
              " loss/gradient stop ended it first, diverged = diverged or failed)\n", converged_means);
  for (const auto& [index, p] : points) {
    std::printf("point %ld", index);
    for (std::size_t a = 0; a < axes.size(); ++a) std::printf("%s %s = %s", a ? "," : ":", axes[a].c_str(), p.coords[a].c_str());
    const double n = static_cast<double>(p.count);
    std::printf("\n  %zu trajectories, %.1f%% converged, %.1f%% diverged; ended:", p.count, 100 * p.converged / n,
                100 * p.diverged / n);
    for (const auto& [status, k] : p.statuses) std::printf(" %zu %s", k, status.c_str());
    if (!p.ends.empty()) {
      std::printf("\n  nearest critical point at the end:");
      for (const auto& [label, k] : p.ends) {
        const std::string kind = kind_of(index, label);
        std::printf(" %zu at %s%s%s%s", k, label.c_str(), kind.empty() ? "" : " (", kind.c_str(), kind.empty() ? "" : ")");
      }
    }
    std::printf("\n  %-24s %6s %12s %12s %25s %12s %12s  %s\n", "quantity", "n", "mean", "median", "(90% interval)", "q10",
                "q90", "missing: not reached / earlier / diverged");
    for (std::size_t q = 0; q < quantities.size(); ++q) {
      const Summary s = summarize(p.values[q]);
      char interval[64] = "";
      if (s.n) std::snprintf(interval, sizeof interval, "[%.5g, %.5g]", s.median_lo, s.median_hi);
      std::printf("  %-24s %6zu %12.5g %12.5g %25s %12.5g %12.5g", quantities[q].first.c_str(), s.n, s.mean, s.median,
                  interval, s.q10, s.q90);
      if (is_event(q))
        std::printf("  %zu / %zu / %zu", p.missing[q][NotReached], p.missing[q][StoppedEarlier], p.missing[q][DivergedOrFailed]);
      std::printf("\n");
    }
  }
  if (!fits.empty()) std::printf("fits (median event time against 1/axis; 90%% bootstrap interval):\n");
  for (const Fit& f : fits) {
    std::printf("  t_%s vs 1/%s%s%s%s: ", f.event.c_str(), f.axis.c_str(), f.group.empty() ? "" : " [", f.group.c_str(),
                f.group.empty() ? "" : "]");
    if (f.law != "power")
      std::printf("t = a + b ln(1/%s), b = %.4g [%.4g, %.4g]", f.axis.c_str(), f.slope, f.lo, f.hi);
    else
      std::printf("t ~ (1/%s)^s, s = %.4g [%.4g, %.4g]", f.axis.c_str(), f.slope, f.lo, f.hi);
    std::printf(" over %zu points%s%s\n", f.points, f.theory_text.empty() ? "" : "; theory ", f.theory_text.c_str());
  }
  return kOk;
}

}  // namespace dlnflow::cli
