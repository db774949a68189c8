#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>

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
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

SummaryCsvWriter::SummaryCsvWriter(const std::string& path, const Experiment& ex)
    : path_(path), tmp_(temporary_name(path)), seeds_(ex.seeds) {
  implicit_ = is_implicit(ex.point(0).config.options.integrator.method) ||
              std::find(ex.axes.begin(), ex.axes.end(), "integrator.method") != ex.axes.end();
  file_ = std::fopen(tmp_.c_str(), "wb");
  if (!file_) throw std::runtime_error("cannot write '" + tmp_ + "': " + std::strerror(errno));
  std::ostringstream out;
  out << "point";
  for (const auto& a : ex.axes) out << "," << field(a);
  out << ",seed,trajectory,status,t_end,final_loss,final_rank,steps,rejected";
  if (implicit_) out << ",switches,implicit_steps,implicit_time";
  for (const auto& e : ex.point(0).config.event_names) out << "," << field("t_" + e);
  out << ",critical_point,critical_distance\n";
  const std::string header = out.str();
  std::fwrite(header.data(), 1, header.size(), file_);
}

SummaryCsvWriter::~SummaryCsvWriter() {
  if (!file_) return;
  std::fclose(file_);
  std::remove(tmp_.c_str());
}

void SummaryCsvWriter::add(const SweepPoint& point, const std::vector<TrajectoryRecord>& records) {
  std::ostringstream out;
  for (const auto& rec : records) {
    const auto& r = rec.result;
    out << rec.point;
    for (const auto& c : point.coordinates) out << "," << field(c.text);
    out << "," << rec.seed_index << "," << static_cast<long long>(rec.point) * seeds_ + rec.seed_index << ","
        << to_string(r.status) << "," << format_double(r.t_end) << "," << format_double(r.final_loss) << ","
        << r.final_rank << "," << r.steps << "," << r.rejected;
    if (implicit_) out << "," << r.switches << "," << r.implicit_steps << "," << format_double(r.implicit_time);
    for (double t : r.event_times) out << "," << format_double(t);
    const auto* catalog = point.config.catalog.get();
    const bool listed = catalog && r.final_critical >= 0 && r.final_critical < static_cast<int>(catalog->points().size());
    out << "," << (listed ? field(catalog->points()[r.final_critical].label) : "") << ","
        << format_double(r.final_critical_distance) << "\n";
  }
  const std::string rows = out.str();
  if (std::fwrite(rows.data(), 1, rows.size(), file_) != rows.size())
    throw std::runtime_error("cannot write '" + tmp_ + "': " + std::strerror(errno));
}

void SummaryCsvWriter::commit() {
  const bool ok = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  const std::string why = std::strerror(errno);
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!ok || !closed) {
    std::remove(tmp_.c_str());
    throw std::runtime_error("cannot write '" + tmp_ + "': " + why);
  }
  commit_file(tmp_, path_);
}

}  // namespace dlnflow::io
