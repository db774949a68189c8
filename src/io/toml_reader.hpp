// Reads one TOML table against the keys the code asks for: typed getters with defaults and
// bounds, every value recorded into a resolved JSON mirror (defaults included), and, when the
// table is finished, any key nobody asked for rejected with the nearest valid key suggested.
// Errors carry file:line:column so a person can go straight to the offending value.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <toml++/toml.h>
#include <vector>

#include "dlnflow/app/experiment.hpp"

namespace dlnflow::io {

// Where errors point: the file, and for a sweep point the overrides that made it.
struct Origin {
  std::string file;
  std::string context;  // e.g. "(at sweep point 3: initialization.alpha = 1e-16)"
  // The file's text, to read number literals as written (1e-400 parses to 0 without a word).
  std::shared_ptr<const std::string> text;
  // Swept key path -> where its value is written in [sweep]: the values a point assigns carry
  // no position of their own (toml++ does not copy source regions).
  std::shared_ptr<const std::map<std::string, toml::source_position>> swept;
};

[[noreturn]] void fail_at(const Origin& origin, const toml::node* node, const std::string& key,
                          const std::string& message);

// The value of a number node. A float literal that float64 cannot hold (1e-400 reads as 0,
// 1e400 as inf) is an error naming the literal as written, never a silent 0 or inf.
double number_of(const toml::node& node, const Origin& origin, const std::string& key);

// Levenshtein distance; the suggestion helper of unknown keys and unknown choices.
std::size_t edit_distance(const std::string& a, const std::string& b);
// " (did you mean 'x'?)" for the nearest candidate within a small distance, else "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

struct Bounds {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_open = false, max_open = false;
  static Bounds positive() { return {0.0, std::numeric_limits<double>::infinity(), true, false}; }
  static Bounds nonnegative() { return {0.0, std::numeric_limits<double>::infinity(), false, false}; }
  static Bounds at_least(double v) { return {v, std::numeric_limits<double>::infinity(), false, false}; }
  std::string describe() const;
  bool contains(double v) const;
};

class TableReader {
 public:
  // `table` may be null (a section that is absent: every getter then takes its default).
  TableReader(const toml::table* table, std::string path, const Origin& origin, nlohmann::json& resolved);

  bool has(const std::string& key) const;
  const toml::node* node(const std::string& key);  // marks the key as known; null if absent

  double real(const std::string& key, std::optional<double> fallback, Bounds bounds = {});
  std::int64_t integer(const std::string& key, std::optional<std::int64_t> fallback,
                       std::int64_t min = std::numeric_limits<std::int64_t>::min(),
                       std::int64_t max = std::numeric_limits<std::int64_t>::max());
  bool boolean(const std::string& key, bool fallback);
  std::string choice(const std::string& key, std::optional<std::string> fallback,
                     const std::vector<std::string>& allowed);
  // One of an enum's values, spelled as its to_string spells it (the names the result files use).
  template <class E>
  E named(const std::string& key, std::optional<E> fallback, std::initializer_list<E> values) {
    std::vector<std::string> names;
    for (E v : values) names.push_back(to_string(v));
    const std::string got = choice(key, fallback ? std::optional<std::string>(to_string(*fallback)) : std::nullopt, names);
    for (E v : values)
      if (got == to_string(v)) return v;
    return *values.begin();  // not reached: choice() accepts only the names
  }
  std::string text(const std::string& key, std::optional<std::string> fallback);
  std::vector<double> reals(const std::string& key, std::optional<std::vector<double>> fallback,
                            Bounds bounds = {});
  std::vector<std::int64_t> integers(const std::string& key, std::optional<std::vector<std::int64_t>> fallback,
                                     std::int64_t min = std::numeric_limits<std::int64_t>::min());

  // A sub-table (absent: an empty reader) and its resolved mirror.
  TableReader table(const std::string& key);
  const toml::array* array(const std::string& key);

  // Rejects keys that no getter asked for.
  void finish();

  [[noreturn]] void fail(const std::string& key, const std::string& message) const;
  const Origin& origin() const { return origin_; }
  const std::string& path() const { return path_; }
  nlohmann::json& resolved() { return resolved_; }
  std::string key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

 private:
  const toml::node* require(const std::string& key, bool required) const;

  const toml::table* table_;
  std::string path_;
  Origin origin_;
  nlohmann::json& resolved_;
  std::set<std::string> known_;
};

}  // namespace dlnflow::io
