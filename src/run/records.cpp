#include "records.hpp"

#include <xxhash.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "../io/atomic_file.hpp"

namespace dlnflow::run {

namespace {

// Format 3: the header, the records, then XXH3-64 of everything before it. (Format 2 lacked the
// implicit method's counts; its checkpoints are recomputed like damaged ones.)
constexpr char kMagic[8] = {'D', 'L', 'N', 'F', 'C', 'H', 'K', '3'};
constexpr std::size_t kHeaderBytes = 8 + 8 + 8 + 4 + 4 + 4 + 1 + 8;
constexpr std::size_t kMaxMessage = 4096;

class Writer {
 public:
  template <class T>
  void put(const T& v) {
    const auto* p = reinterpret_cast<const char*>(&v);
    bytes.append(p, sizeof(T));
  }
  void put(const std::string& s) {
    put<std::uint64_t>(s.size());
    bytes.append(s);
  }
  void put(const Vec& v) {
    put<std::uint64_t>(static_cast<std::uint64_t>(v.size()));
    if (v.size()) bytes.append(reinterpret_cast<const char*>(v.data()), sizeof(double) * static_cast<std::size_t>(v.size()));
  }
  std::string bytes;
};

struct Damaged {
  std::string why;
};

// Every length is checked against what the chunk can hold before anything is allocated.
class Reader {
 public:
  Reader(const std::string& b, std::size_t end) : bytes(b), end_(end) {}
  template <class T>
  T get() {
    T v{};
    if (end_ - pos < sizeof(T)) throw Damaged{"truncated"};
    std::memcpy(&v, bytes.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  std::uint64_t length(std::uint64_t max, const char* what) {
    const auto n = get<std::uint64_t>();
    if (n > max) throw Damaged{std::string(what) + " length " + std::to_string(n) + " exceeds " + std::to_string(max)};
    return n;
  }
  std::string text(std::uint64_t max) {
    const auto n = length(max, "message");
    if (end_ - pos < n) throw Damaged{"truncated"};
    std::string s = bytes.substr(pos, n);
    pos += n;
    return s;
  }
  Vec vec(std::uint64_t max, const char* what) {
    const auto n = length(max, what);
    if ((end_ - pos) / sizeof(double) < n) throw Damaged{"truncated"};
    Vec v(static_cast<Index>(n));
    if (n) std::memcpy(v.data(), bytes.data() + pos, n * sizeof(double));  // an empty Vec's data() is null
    pos += n * sizeof(double);
    return v;
  }
  const std::string& bytes;
  std::size_t pos = 0;

 private:
  std::size_t end_;
};

void put_sample(Writer& w, const Sample& s) {
  w.put(s.t), w.put(s.loss), w.put(s.grad_norm), w.put(s.spectrum), w.put<std::int32_t>(s.rank);
  w.put(s.balance_defect), w.put(s.critical_distance), w.put<std::int32_t>(s.critical_index), w.put(s.state);
  w.put<std::uint8_t>(s.valid);
}

Sample get_sample(Reader& r, const RecordShape& shape) {
  Sample s;
  s.t = r.get<double>(), s.loss = r.get<double>(), s.grad_norm = r.get<double>();
  s.spectrum = r.vec(shape.spectrum, "spectrum");
  s.rank = r.get<std::int32_t>(), s.balance_defect = r.get<double>(), s.critical_distance = r.get<double>();
  s.critical_index = r.get<std::int32_t>();
  s.state = r.vec(shape.keep_states ? shape.state : 0, "recorded state");
  const auto valid = r.get<std::uint8_t>();
  if (valid > 1) throw Damaged{"sample flag " + std::to_string(valid)};
  s.valid = valid != 0;
  return s;
}

std::uint64_t checksum(const char* data, std::size_t n) { return XXH3_64bits(data, n); }

// The whole file, if it is a regular file no larger than `max_bytes`.
std::optional<std::string> slurp(const std::string& path, std::uintmax_t max_bytes, std::string* why) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    if (why) *why = std::filesystem::exists(path, ec) ? "not a regular file" : "missing";
    return std::nullopt;
  }
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size > max_bytes) {
    if (why) *why = ec ? "unreadable" : "larger (" + std::to_string(size) + " bytes) than the chunk can be";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (why) *why = "unreadable";
    return std::nullopt;
  }
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace

ChunkPlan::ChunkPlan(const Experiment& ex)
    : points_(ex.point_count()), seeds_(ex.seeds), chunk_size_(ex.chunk_size),
      per_point_((ex.seeds + ex.chunk_size - 1) / ex.chunk_size) {}

Chunk ChunkPlan::operator[](std::int64_t id) const {
  const int k = static_cast<int>(id % per_point_);
  const int first = k * chunk_size_;
  return {id, static_cast<int>(id / per_point_), first, std::min(chunk_size_, seeds_ - first)};
}

RecordShape record_shape(const PointConfig& c) {
  RecordShape s;
  s.times = c.options.record.times.size();
  s.events = c.options.events.size();
  s.spectrum = static_cast<std::size_t>(std::min(c.problem->rows(), c.problem->cols()));
  s.state = static_cast<std::size_t>(c.problem->state_size());
  s.keep_states = c.options.record.keep_states;
  s.critical_points = c.catalog ? c.catalog->points().size() : 0;
  return s;
}

std::string chunk_file_name(std::int64_t id) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "chunk-%06lld.bin", static_cast<long long>(id));
  return buf;
}

void write_chunk(const std::string& path, std::uint64_t fingerprint, const Chunk& chunk, const ChunkFile& file) {
  Writer w;
  w.bytes.append(kMagic, sizeof kMagic);
  w.put(fingerprint), w.put<std::int64_t>(chunk.id), w.put<std::int32_t>(chunk.point);
  w.put<std::int32_t>(chunk.first_seed), w.put<std::int32_t>(chunk.count);
  w.put<std::uint8_t>(file.backend == "gpu"), w.put(file.seconds);
  for (const auto& rec : file.records) {
    const auto& r = rec.result;
    w.put<std::int32_t>(rec.point), w.put<std::int32_t>(rec.seed_index), w.put<std::int32_t>(static_cast<int>(r.status));
    w.put(r.t_end), w.put(r.steps), w.put(r.rejected), w.put(r.rhs_evaluations), w.put(r.final_loss);
    w.put(r.switches), w.put(r.implicit_steps), w.put(r.implicit_time), w.put(r.jvp_evaluations);
    w.put(r.linear_iterations);
    w.put(r.message.substr(0, kMaxMessage)), w.put(r.final_state);
    w.put<std::uint64_t>(r.event_times.size());
    for (double t : r.event_times) w.put(t);
    w.put<std::uint64_t>(r.samples.size());
    for (const auto& s : r.samples) put_sample(w, s);
    w.put<std::int32_t>(r.final_rank), w.put<std::int32_t>(r.final_critical), w.put(r.final_critical_distance);
  }
  w.put(checksum(w.bytes.data(), w.bytes.size()));
  io::write_file_atomic(path, w.bytes);
}

std::optional<ChunkHeader> read_chunk_header(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  std::string head(kHeaderBytes, '\0');
  if (!in.read(head.data(), static_cast<std::streamsize>(kHeaderBytes)) || std::memcmp(head.data(), kMagic, sizeof kMagic) != 0)
    return std::nullopt;
  Reader r(head, head.size());
  r.pos = sizeof kMagic;
  ChunkHeader h;
  h.fingerprint = r.get<std::uint64_t>();
  h.chunk.id = r.get<std::int64_t>(), h.chunk.point = r.get<std::int32_t>();
  h.chunk.first_seed = r.get<std::int32_t>(), h.chunk.count = r.get<std::int32_t>();
  h.backend = r.get<std::uint8_t>() ? "gpu" : "cpu";
  h.seconds = r.get<double>();
  return h;
}

std::optional<ChunkFile> read_chunk(const std::string& path, std::uint64_t fingerprint, const Chunk& chunk,
                                    const RecordShape& shape, std::string* why) {
  // The largest file this chunk can be: a file beyond it is damaged and is not read into memory.
  const double per_sample = 8.0 * (3 + 1 + shape.spectrum + 2 + 1 + (shape.keep_states ? shape.state : 0)) + 9;
  const double per_record = 12 + 10 * 8 + 8 + kMaxMessage + 8 + 8.0 * shape.state + 8 + 8.0 * shape.events + 8 +
                            static_cast<double>(shape.times) * per_sample + 16;
  const double max_bytes = kHeaderBytes + 8 + per_record * chunk.count;
  const auto bytes = slurp(path, static_cast<std::uintmax_t>(std::min(max_bytes, 1.8e19)), why);
  if (!bytes) return std::nullopt;
  auto reject = [&](const std::string& reason) -> std::optional<ChunkFile> {
    if (why) *why = reason;
    return std::nullopt;
  };
  if (bytes->size() < kHeaderBytes + 8 || std::memcmp(bytes->data(), kMagic, sizeof kMagic) != 0)
    return reject("not a dlnflow checkpoint of this format");
  std::uint64_t stored;
  std::memcpy(&stored, bytes->data() + bytes->size() - 8, 8);
  if (stored != checksum(bytes->data(), bytes->size() - 8)) return reject("checksum mismatch (the file is damaged)");
  try {
    Reader r(*bytes, bytes->size() - 8);
    r.pos = sizeof kMagic;
    if (r.get<std::uint64_t>() != fingerprint) return reject("written by another experiment");
    const auto id = r.get<std::int64_t>();
    const int point = r.get<std::int32_t>(), first = r.get<std::int32_t>(), count = r.get<std::int32_t>();
    if (id != chunk.id || point != chunk.point || first != chunk.first_seed || count != chunk.count)
      return reject("holds chunk " + std::to_string(id) + ", not " + std::to_string(chunk.id));
    ChunkFile out;
    const auto backend = r.get<std::uint8_t>();
    if (backend > 1) return reject("unknown backend");
    out.backend = backend ? "gpu" : "cpu";
    out.seconds = r.get<double>();
    out.records.resize(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
      auto& rec = out.records[static_cast<std::size_t>(i)];
      auto& res = rec.result;
      rec.point = r.get<std::int32_t>(), rec.seed_index = r.get<std::int32_t>();
      const int status = r.get<std::int32_t>();
      if (rec.point != chunk.point || rec.seed_index != chunk.first_seed + i)
        return reject("record " + std::to_string(i) + " is of point " + std::to_string(rec.point) + ", seed " +
                      std::to_string(rec.seed_index));
      if (status < 0 || status > static_cast<int>(Status::Failed)) return reject("status " + std::to_string(status));
      res.status = static_cast<Status>(status);
      res.t_end = r.get<double>(), res.steps = r.get<std::int64_t>(), res.rejected = r.get<std::int64_t>();
      res.rhs_evaluations = r.get<std::int64_t>(), res.final_loss = r.get<double>();
      res.switches = r.get<std::int64_t>(), res.implicit_steps = r.get<std::int64_t>();
      res.implicit_time = r.get<double>(), res.jvp_evaluations = r.get<std::int64_t>();
      res.linear_iterations = r.get<std::int64_t>();
      res.message = r.text(kMaxMessage), res.final_state = r.vec(shape.state, "final state");
      res.event_times.resize(r.length(shape.events, "event list"));
      if (res.event_times.size() != shape.events) return reject("event list of the wrong length");
      for (double& t : res.event_times) t = r.get<double>();
      const auto samples = r.length(shape.times, "sample list");
      if (samples != shape.times) return reject("sample list of the wrong length");
      res.samples.resize(samples);
      for (auto& s : res.samples) s = get_sample(r, shape);
      res.final_rank = r.get<std::int32_t>(), res.final_critical = r.get<std::int32_t>();
      res.final_critical_distance = r.get<double>();
      if (res.final_critical < -1 || res.final_critical >= static_cast<int>(shape.critical_points))
        return reject("nearest critical point " + std::to_string(res.final_critical));
      out.diverged += res.status == Status::Diverged;
    }
    if (r.pos != bytes->size() - 8) return reject("trailing bytes");
    return out;
  } catch (const Damaged& d) {
    return reject(d.why);
  }
}

}  // namespace dlnflow::run
