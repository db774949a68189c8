#include "assemble.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>

#include "../io/result_files.hpp"
#include "folder.hpp"

namespace dlnflow::run {

Assembled write_data_files(const Experiment& ex, const ChunkPlan& plan, const std::vector<bool>& done,
                           const std::function<std::string(std::int64_t)>& checkpoint, const std::string& dir,
                           const std::string& status, const std::function<void(std::int64_t, const ChunkFile&)>& on_chunk) {
  const fs::path folder = dir;
  std::vector<std::size_t> per_point(ex.point_count(), 0);
  for (std::int64_t id = 0; id < plan.size(); ++id)
    if (done[static_cast<std::size_t>(id)]) per_point[static_cast<std::size_t>(plan[id].point)] += plan[id].count;
  io::SummaryCsvWriter summary((folder / "summary.csv").string(), ex);
  io::TrajectoriesH5Writer trajectories((folder / "trajectories.h5").string(), ex, status, per_point);
  Assembled out;
  std::map<std::string, std::size_t> unfinished;
  std::optional<SweepPoint> point;
  RecordShape shape;
  for (std::int64_t id = 0; id < plan.size(); ++id) {
    if (!done[static_cast<std::size_t>(id)]) continue;
    const Chunk c = plan[id];
    if (!point || point->index != c.point) {
      point = ex.point(static_cast<std::size_t>(c.point));
      shape = record_shape(point->config);
    }
    std::string why;
    const auto file = read_chunk(checkpoint(id), ex.fingerprint, c, shape, &why);
    if (!file) throw std::runtime_error("checkpoint " + checkpoint(id) + " cannot be read back: " + why);
    if (on_chunk) on_chunk(id, *file);
    summary.add(*point, file->records);
    trajectories.add(*point, file->records);
    out.trajectories += file->records.size();
    out.diverged += file->diverged;
    for (const auto& r : file->records) {
      const Status s = r.result.status;
      if (s != Status::Completed && s != Status::LossConverged && s != Status::GradConverged && s != Status::EventStop &&
          s != Status::Diverged)  // counted on their own
        ++unfinished[to_string(s)];
    }
  }
  summary.commit();
  trajectories.commit();
  out.unfinished.assign(unfinished.begin(), unfinished.end());
  return out;
}

std::vector<std::string> remove_checkpoints(const std::string& dir, const ChunkPlan& plan) {
  const fs::path chunks = fs::path(dir) / "chunks";
  std::error_code ec;
  if (!fs::is_directory(chunks, ec)) return {};
  std::vector<std::string> kept;
  for (const auto& e : fs::directory_iterator(chunks, ec)) {
    const std::string name = e.path().filename().string();
    bool ours = is_own_temporary(name);
    if (!ours && name.rfind("chunk-", 0) == 0 && name.size() > 10 && name.substr(name.size() - 4) == ".bin") {
      const std::string digits = name.substr(6, name.size() - 10);
      ours = digits.find_first_not_of("0123456789") == std::string::npos && digits.size() <= 18 &&
             std::stoll(digits) < plan.size();
    }
    if (ours && e.is_regular_file(ec)) fs::remove(e.path(), ec);
    else kept.push_back("chunks/" + name);
  }
  fs::remove(chunks, ec);  // only if empty
  return kept;
}

}  // namespace dlnflow::run
