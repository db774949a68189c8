#include "toml_reader.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "result_files.hpp"

namespace dlnflow::io {

namespace {

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date/time";
  }
}

// Where a value is written: its own position, else (a swept value, copied without one) the
// position of the sweep value that set it or one of its parent tables.
toml::source_position position_of(const Origin& origin, const toml::node* node, const std::string& key) {
  if (node && node->source().begin.line > 0) return node->source().begin;
  if (origin.swept)
    for (std::string k = key;;) {
      const auto it = origin.swept->find(k);
      if (it != origin.swept->end()) return it->second;
      const auto dot = k.find_last_of('.');
      if (dot == std::string::npos) break;
      k.resize(dot);
    }
  return {};
}

// The literal at a position: up to the next delimiter of a TOML value.
std::string literal_at(const std::string& text, toml::source_position at) {
  std::size_t pos = 0;
  for (toml::source_index line = 1; line < at.line && pos != std::string::npos; ++line) {
    pos = text.find('\n', pos);
    if (pos != std::string::npos) ++pos;
  }
  if (pos == std::string::npos) return "";
  pos += at.column - 1;
  if (pos >= text.size()) return "";
  const std::size_t end = text.find_first_of(",]} \t\r\n#", pos);
  return text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

}  // namespace

void fail_at(const Origin& origin, const toml::node* node, const std::string& key, const std::string& message) {
  std::ostringstream s;
  s << origin.file;
  const toml::source_position at = position_of(origin, node, key);
  if (at.line > 0) s << ":" << at.line << ":" << at.column;
  s << ": " << key << ": " << message;
  if (!origin.context.empty()) s << " " << origin.context;
  throw ExperimentError(s.str());
}

double number_of(const toml::node& node, const Origin& origin, const std::string& key) {
  if (node.is_integer()) return static_cast<double>(node.as_integer()->get());
  const double v = node.as_floating_point()->get();
  if ((v != 0 && std::isfinite(v)) || !origin.text || node.source().begin.line == 0) return v;
  const std::string lit = literal_at(*origin.text, node.source().begin);
  const bool nonzero = lit.substr(0, lit.find_first_of("eE")).find_first_of("123456789") != std::string::npos;
  const bool named = lit.find("inf") != std::string::npos || lit.find("nan") != std::string::npos;
  if (v == 0 && nonzero)
    fail_at(origin, &node, key,
            lit + " is below the smallest positive float64 (about 4.9e-324) and would be read as 0; write 0 if that is meant");
  if (std::isinf(v) && !named)
    fail_at(origin, &node, key, lit + " is beyond the largest float64 (about 1.8e308)");
  return v;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (same ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

std::string Bounds::describe() const {
  const bool lo = std::isfinite(min), hi = std::isfinite(max);
  if (lo && hi) return "in " + std::string(min_open ? "(" : "[") + format_double(min) + ", " + format_double(max) + (max_open ? ")" : "]");
  if (lo) return std::string(min_open ? "> " : ">= ") + format_double(min);
  if (hi) return std::string(max_open ? "< " : "<= ") + format_double(max);
  return "finite";
}

bool Bounds::contains(double v) const {
  if (!std::isfinite(v)) return false;  // TOML's inf and nan are never meaningful settings
  if (min_open ? !(v > min) : !(v >= min)) return false;
  if (max_open ? !(v < max) : !(v <= max)) return false;
  return true;
}

TableReader::TableReader(const toml::table* table, std::string path, const Origin& origin, nlohmann::json& resolved)
    : table_(table), path_(std::move(path)), origin_(origin), resolved_(resolved) {
  if (!resolved_.is_object()) resolved_ = nlohmann::json::object();
}

bool TableReader::has(const std::string& key) const { return table_ && table_->contains(key); }

const toml::node* TableReader::node(const std::string& key) {
  known_.insert(key);
  return table_ ? table_->get(key) : nullptr;
}

void TableReader::fail(const std::string& key, const std::string& message) const {
  const toml::node* n = table_ ? table_->get(key) : nullptr;
  fail_at(origin_, n ? n : table_, key_path(key), message);
}

const toml::node* TableReader::require(const std::string& key, bool required) const {
  const toml::node* n = table_ ? table_->get(key) : nullptr;
  if (!n && required) {
    std::string hint;  // a misspelt required key is far more likely than a forgotten one
    const toml::node* where = table_;
    if (table_)
      for (const auto& [k, v] : *table_) {
        const std::string other(k.str());
        if (!known_.count(other) && !did_you_mean(other, {key}).empty())
          hint = " (found '" + other + "'; did you mean '" + key + "'?)", where = &v;
      }
    fail_at(origin_, where, key_path(key), "is required but missing" + hint);
  }
  return n;
}

double TableReader::real(const std::string& key, std::optional<double> fallback, Bounds bounds) {
  known_.insert(key);
  const toml::node* n = require(key, !fallback);
  double v = fallback.value_or(0.0);
  if (n) {
    if (n->is_floating_point() || n->is_integer()) v = number_of(*n, origin_, key_path(key));
    else fail(key, "must be a number, not " + type_name(*n));
  }
  if (!bounds.contains(v)) fail(key, "must be " + bounds.describe() + " (got " + format_double(v) + ")");
  resolved_[key] = v;
  return v;
}

std::int64_t TableReader::integer(const std::string& key, std::optional<std::int64_t> fallback, std::int64_t min,
                                  std::int64_t max) {
  known_.insert(key);
  const toml::node* n = require(key, !fallback);
  std::int64_t v = fallback.value_or(0);
  if (n) {
    if (!n->is_integer()) fail(key, "must be an integer, not " + type_name(*n));
    v = n->as_integer()->get();
  }
  if (v < min || v > max) {
    std::string range = ">= " + std::to_string(min);
    if (max != std::numeric_limits<std::int64_t>::max()) range = "in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
    fail(key, "must be " + range + " (got " + std::to_string(v) + ")");
  }
  resolved_[key] = v;
  return v;
}

bool TableReader::boolean(const std::string& key, bool fallback) {
  known_.insert(key);
  const toml::node* n = require(key, false);
  bool v = fallback;
  if (n) {
    if (!n->is_boolean()) fail(key, "must be true or false, not " + type_name(*n));
    v = n->as_boolean()->get();
  }
  resolved_[key] = v;
  return v;
}

std::string TableReader::text(const std::string& key, std::optional<std::string> fallback) {
  known_.insert(key);
  const toml::node* n = require(key, !fallback);
  std::string v = fallback.value_or("");
  if (n) {
    if (!n->is_string()) fail(key, "must be a string, not " + type_name(*n));
    v = n->as_string()->get();
  }
  resolved_[key] = v;
  return v;
}

std::string TableReader::choice(const std::string& key, std::optional<std::string> fallback,
                                const std::vector<std::string>& allowed) {
  const std::string v = text(key, fallback);
  if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    fail(key, "must be one of " + list + " (got '" + v + "')" + did_you_mean(v, allowed));
  }
  return v;
}

std::vector<double> TableReader::reals(const std::string& key, std::optional<std::vector<double>> fallback,
                                       Bounds bounds) {
  known_.insert(key);
  const toml::node* n = require(key, !fallback);
  std::vector<double> v = fallback.value_or(std::vector<double>{});
  if (n) {
    if (!n->is_array()) fail(key, "must be an array of numbers, not " + type_name(*n));
    v.clear();
    for (const auto& e : *n->as_array()) {
      if (e.is_floating_point() || e.is_integer()) v.push_back(number_of(e, origin_, key_path(key)));
      else fail(key, "must be an array of numbers; entry " + std::to_string(v.size() + 1) + " is " + type_name(e));
    }
  }
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!bounds.contains(v[i]))
      fail(key, "entry " + std::to_string(i + 1) + " must be " + bounds.describe() + " (got " + format_double(v[i]) + ")");
  resolved_[key] = v;
  return v;
}

std::vector<std::int64_t> TableReader::integers(const std::string& key,
                                                std::optional<std::vector<std::int64_t>> fallback, std::int64_t min) {
  known_.insert(key);
  const toml::node* n = require(key, !fallback);
  std::vector<std::int64_t> v = fallback.value_or(std::vector<std::int64_t>{});
  if (n) {
    if (!n->is_array()) fail(key, "must be an array of integers, not " + type_name(*n));
    v.clear();
    for (const auto& e : *n->as_array()) {
      if (!e.is_integer()) fail(key, "must be an array of integers; entry " + std::to_string(v.size() + 1) + " is " + type_name(e));
      v.push_back(e.as_integer()->get());
    }
  }
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i] < min)
      fail(key, "entry " + std::to_string(i + 1) + " must be >= " + std::to_string(min) + " (got " + std::to_string(v[i]) + ")");
  resolved_[key] = v;
  return v;
}

TableReader TableReader::table(const std::string& key) {
  known_.insert(key);
  const toml::node* n = require(key, false);
  if (n && !n->is_table()) fail(key, "must be a table, not " + type_name(*n));
  return TableReader(n ? n->as_table() : nullptr, key_path(key), origin_, resolved_[key]);
}

const toml::array* TableReader::array(const std::string& key) {
  known_.insert(key);
  const toml::node* n = require(key, false);
  if (n && !n->is_array()) fail(key, "must be an array, not " + type_name(*n));
  return n ? n->as_array() : nullptr;
}

void TableReader::finish() {
  if (!table_) return;
  const std::vector<std::string> valid(known_.begin(), known_.end());
  for (const auto& [k, v] : *table_) {
    const std::string key(k.str());
    if (known_.count(key)) continue;
    std::string list;
    for (const auto& a : valid) list += (list.empty() ? "" : ", ") + a;
    fail_at(origin_, &v, key_path(key),
            "unknown key" + did_you_mean(key, valid) + (list.empty() ? "" : "; valid keys here: " + list));
  }
}

}  // namespace dlnflow::io
