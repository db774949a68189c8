#include "manifest.hpp"

#include <cmath>
#include <ctime>
#include <fstream>
#include <sstream>

#include "../io/atomic_file.hpp"
#include "../io/data_files.hpp"
#include "../io/result_files.hpp"
#include "build_info.hpp"

namespace dlnflow::run {

using nlohmann::json;

std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

Manifest Manifest::fresh(const Experiment& ex, const json& shard) {
  Manifest m;
  m.meta = {{"format", "dlnflow-results/1"},
            {"status", "incomplete"},
            {"dlnflow", {{"version", build::kVersion}, {"git_revision", build::kGitRevision},
                         {"build_type", build::kBuildType}, {"compiler", build::kCompiler}}},
            {"experiment_file", ex.source_path},
            {"fingerprint", io::hex64(ex.fingerprint)},
            {"experiment", json::parse(ex.resolved_json)},
            {"started", now_iso()},
            {"finished", nullptr},
            {"sessions", json::array()}};
  if (!shard.is_null()) m.meta["shard"] = shard;
  return m;
}

std::optional<Manifest> Manifest::load(const std::string& path, const ChunkPlan& plan, std::string* why) {
  std::ifstream in(path);
  auto fail = [&](const std::string& w) -> std::optional<Manifest> {
    if (why) *why = w;
    return std::nullopt;
  };
  if (!in) return fail("it is missing");
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("it is not valid JSON");
  if (!j.contains("format") || !j["format"].is_string() || j["format"].get<std::string>().rfind("dlnflow-results/", 0) != 0)
    return fail("it is not a dlnflow manifest");
  if (!j.contains("sessions") || !j["sessions"].is_array()) j["sessions"] = json::array();
  Manifest m;
  if (j.contains("chunks") && j["chunks"].is_array())
    for (const auto& c : j["chunks"]) {
      if (!c.is_object() || !c.contains("id") || !c["id"].is_number_integer()) continue;
      const auto id = c["id"].get<std::int64_t>();
      if (id < 0 || id >= plan.size()) continue;
      ChunkEntry e;
      e.chunk = plan[id];
      e.seconds = c.contains("seconds") && c["seconds"].is_number() ? c["seconds"].get<double>() : std::nan("");
      e.diverged = c.contains("diverged") && c["diverged"].is_number_unsigned() ? c["diverged"].get<std::size_t>() : 0;
      e.backend = c.contains("backend") && c["backend"].is_string() ? c["backend"].get<std::string>() : "";
      e.batch_of_chunks = c.contains("batch_of_chunks") && c["batch_of_chunks"].is_number_integer()
                              ? std::max(1, c["batch_of_chunks"].get<int>())
                              : 1;
      e.recovered = c.contains("note");
      m.chunks[id] = e;
    }
  j.erase("chunks");
  m.meta = std::move(j);
  return m;
}

std::string Manifest::text() const {
  std::ostringstream list;
  list << "[";
  bool first = true;
  for (const auto& [id, e] : chunks) {
    list << (first ? "\n    " : ",\n    ") << "{\"id\": " << id << ", \"point\": " << e.chunk.point
         << ", \"first_seed\": " << e.chunk.first_seed << ", \"count\": " << e.chunk.count << ", \"seconds\": "
         << (std::isfinite(e.seconds) ? io::format_double(e.seconds) : "null") << ", \"diverged\": " << e.diverged
         << ", \"backend\": " << json(e.backend).dump();
    if (e.batch_of_chunks > 1) list << ", \"batch_of_chunks\": " << e.batch_of_chunks;
    if (e.recovered) list << ", \"note\": \"recovered from its checkpoint: the session that computed it ended without recording it\"";
    list << "}";
    first = false;
  }
  list << (first ? "]" : "\n  ]");
  json j = meta;
  j["chunks"] = "@CHUNKS@";
  std::string out = j.dump(2);
  // The top-level key at its indentation: a string inside the experiment would be escaped.
  const std::string placeholder = "\n  \"chunks\": \"@CHUNKS@\"";
  out.replace(out.find(placeholder), placeholder.size(), "\n  \"chunks\": " + list.str());
  return out + "\n";
}

void Manifest::write(const std::string& path) const { io::write_file_atomic(path, text()); }

}  // namespace dlnflow::run
