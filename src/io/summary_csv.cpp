#include <charconv>
#include <cmath>
#include <sstream>

#include "atomic_file.hpp"
#include "result_files.hpp"

namespace dlnflow::io {

std::string format_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

namespace {

// Quote a field only when it needs it (RFC 4180).
std::string field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

void write_summary_csv(const std::string& path, const Experiment& ex, const std::vector<TrajectoryRecord>& records) {
  std::ostringstream out;
  const auto& events = ex.points.front().config.event_names;
  out << "point";
  for (const auto& a : ex.axes) out << "," << field(a);
  out << ",seed,trajectory,status,t_end,final_loss,final_rank,steps,rejected";
  for (const auto& e : events) out << "," << field("t_" + e);
  out << ",critical_point,critical_distance\n";
  for (const auto& rec : records) {
    const auto& point = ex.points[rec.point];
    const auto& r = rec.result;
    out << rec.point;
    for (const auto& c : point.coordinates) out << "," << field(c.text);
    out << "," << rec.seed_index << "," << static_cast<long long>(rec.point) * ex.seeds + rec.seed_index << ","
        << to_string(r.status) << "," << format_double(r.t_end) << "," << format_double(r.final_loss) << ","
        << rec.final_rank << "," << r.steps << "," << r.rejected;
    for (double t : r.event_times) out << "," << format_double(t);
    const auto* catalog = point.config.catalog.get();
    out << "," << (catalog && rec.final_critical >= 0 ? field(catalog->points()[rec.final_critical].label) : "")
        << "," << format_double(rec.final_critical_distance) << "\n";
  }
  write_file_atomic(path, out.str());
}

}  // namespace dlnflow::io
