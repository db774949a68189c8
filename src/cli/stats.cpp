// `dlnflow stats`: per sweep point, counts and the distribution (mean, median, 10% and 90%
// quantiles, linearly interpolated as numpy.quantile does) of the final loss and of every event
// time, over the trajectories where the value is finite (an event that never fired is NaN).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "../io/result_files.hpp"
#include "commands.hpp"

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
};

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
  return s;
}

}  // namespace

int stats(const std::string& dir, bool csv) {
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

  struct Point {
    std::vector<std::string> coords;
    std::size_t count = 0, converged = 0, diverged = 0;
    std::vector<std::vector<double>> values;
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
    if (p.count == 0) p.coords.assign(f.begin() + 1, f.begin() + c_seed), p.values.resize(quantities.size());
    ++p.count;
    p.converged += f[c_status] == "loss_converged" || f[c_status] == "grad_converged";
    p.diverged += f[c_status] == "diverged";
    for (std::size_t q = 0; q < quantities.size(); ++q) p.values[q].push_back(std::strtod(f[quantities[q].second].c_str(), nullptr));
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
  for (const auto& [index, p] : points) {
    std::printf("point %ld", index);
    for (std::size_t a = 0; a < axes.size(); ++a) std::printf("%s %s = %s", a ? "," : ":", axes[a].c_str(), p.coords[a].c_str());
    const double n = static_cast<double>(p.count);
    std::printf("\n  %zu trajectories, %.1f%% converged, %.1f%% diverged\n", p.count, 100 * p.converged / n, 100 * p.diverged / n);
    std::printf("  %-24s %6s %12s %12s %12s %12s\n", "quantity", "n", "mean", "median", "q10", "q90");
    for (std::size_t q = 0; q < quantities.size(); ++q) {
      const Summary s = summarize(p.values[q]);
      std::printf("  %-24s %6zu %12.5g %12.5g %12.5g %12.5g\n", quantities[q].first.c_str(), s.n, s.mean, s.median, s.q10, s.q90);
    }
  }
  return kOk;
}

}  // namespace dlnflow::cli
