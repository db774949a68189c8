#include "records.hpp"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "../io/atomic_file.hpp"
#include "dlnflow/matfun.hpp"

namespace dlnflow::run {

namespace {

constexpr char kMagic[8] = {'D', 'L', 'N', 'F', 'C', 'H', 'K', '1'};

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
    bytes.append(reinterpret_cast<const char*>(v.data()), sizeof(double) * static_cast<std::size_t>(v.size()));
  }
  std::string bytes;
};

class Reader {
 public:
  explicit Reader(const std::string& b) : bytes(b) {}
  template <class T>
  T get() {
    T v{};
    if (pos + sizeof(T) > bytes.size()) throw std::out_of_range("chunk truncated");
    std::memcpy(&v, bytes.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  std::string text() {
    const auto n = get<std::uint64_t>();
    if (pos + n > bytes.size()) throw std::out_of_range("chunk truncated");
    std::string s = bytes.substr(pos, n);
    pos += n;
    return s;
  }
  Vec vec() {
    const auto n = get<std::uint64_t>();
    if (pos + n * sizeof(double) > bytes.size()) throw std::out_of_range("chunk truncated");
    Vec v(static_cast<Index>(n));
    std::memcpy(v.data(), bytes.data() + pos, n * sizeof(double));
    pos += n * sizeof(double);
    return v;
  }
  const std::string& bytes;
  std::size_t pos = 0;
};

void put_sample(Writer& w, const Sample& s) {
  w.put(s.t), w.put(s.loss), w.put(s.grad_norm), w.put(s.spectrum), w.put<std::int32_t>(s.rank);
  w.put(s.balance_defect), w.put(s.critical_distance), w.put<std::int32_t>(s.critical_index), w.put(s.state);
  w.put<std::uint8_t>(s.valid);
}

Sample get_sample(Reader& r) {
  Sample s;
  s.t = r.get<double>(), s.loss = r.get<double>(), s.grad_norm = r.get<double>(), s.spectrum = r.vec();
  s.rank = r.get<std::int32_t>(), s.balance_defect = r.get<double>(), s.critical_distance = r.get<double>();
  s.critical_index = r.get<std::int32_t>(), s.state = r.vec(), s.valid = r.get<std::uint8_t>() != 0;
  return s;
}

}  // namespace

std::vector<Chunk> plan_chunks(const Experiment& ex) {
  std::vector<Chunk> chunks;
  for (const auto& p : ex.points)
    for (int first = 0; first < ex.seeds; first += ex.chunk_size)
      chunks.push_back({static_cast<int>(chunks.size()), p.index, first, std::min(ex.chunk_size, ex.seeds - first)});
  return chunks;
}

void finish_record(const PointConfig& config, Model& model, TrajectoryRecord& rec) {
  rec.final_critical_distance = std::nan("");
  const Vec& y = rec.result.final_state;
  if (y.size() == 0 || !y.allFinite()) return;
  rec.final_rank = numerical_rank(model.spectrum(y), config.options.record.rank_rtol);
  if (config.catalog) {
    const auto [d, i] = config.catalog->nearest(model.end_to_end(y));
    rec.final_critical_distance = d;
    rec.final_critical = i;
  }
}

void write_chunk(const std::string& path, std::uint64_t fingerprint, const Chunk& chunk,
                 const std::vector<TrajectoryRecord>& records) {
  Writer w;
  w.bytes.append(kMagic, sizeof kMagic);
  w.put(fingerprint), w.put<std::int32_t>(chunk.id), w.put<std::uint64_t>(records.size());
  for (const auto& rec : records) {
    const auto& r = rec.result;
    w.put<std::int32_t>(rec.point), w.put<std::int32_t>(rec.seed_index), w.put<std::int32_t>(static_cast<int>(r.status));
    w.put(r.t_end), w.put(r.steps), w.put(r.rejected), w.put(r.rhs_evaluations), w.put(r.final_loss);
    w.put(r.message), w.put(r.final_state);
    w.put<std::uint64_t>(r.event_times.size());
    for (double t : r.event_times) w.put(t);
    w.put<std::uint64_t>(r.samples.size());
    for (const auto& s : r.samples) put_sample(w, s);
    w.put<std::int32_t>(rec.final_rank), w.put<std::int32_t>(rec.final_critical), w.put(rec.final_critical_distance);
  }
  io::write_file_atomic(path, w.bytes);
}

std::optional<std::vector<TrajectoryRecord>> read_chunk(const std::string& path, std::uint64_t fingerprint,
                                                        const Chunk& chunk) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) return std::nullopt;
  try {
    Reader r(bytes);
    r.pos = sizeof kMagic;
    if (r.get<std::uint64_t>() != fingerprint || r.get<std::int32_t>() != chunk.id) return std::nullopt;
    const auto n = r.get<std::uint64_t>();
    if (n != static_cast<std::uint64_t>(chunk.count)) return std::nullopt;
    std::vector<TrajectoryRecord> out(n);
    for (auto& rec : out) {
      auto& res = rec.result;
      rec.point = r.get<std::int32_t>(), rec.seed_index = r.get<std::int32_t>();
      res.status = static_cast<Status>(r.get<std::int32_t>());
      res.t_end = r.get<double>(), res.steps = r.get<std::int64_t>(), res.rejected = r.get<std::int64_t>();
      res.rhs_evaluations = r.get<std::int64_t>(), res.final_loss = r.get<double>();
      res.message = r.text(), res.final_state = r.vec();
      res.event_times.resize(r.get<std::uint64_t>());
      for (double& t : res.event_times) t = r.get<double>();
      res.samples.resize(r.get<std::uint64_t>());
      for (auto& s : res.samples) s = get_sample(r);
      rec.final_rank = r.get<std::int32_t>(), rec.final_critical = r.get<std::int32_t>();
      rec.final_critical_distance = r.get<double>();
    }
    if (r.pos != bytes.size()) return std::nullopt;
    return out;
  } catch (const std::out_of_range&) {
    return std::nullopt;
  }
}

}  // namespace dlnflow::run
