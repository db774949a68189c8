#include "data_files.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <utility>

namespace dlnflow::io {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open '" + path + "'");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// ---- .npy header ------------------------------------------------------------------------
// The header is a Python dict literal, e.g. {'descr': '<f8', 'fortran_order': False,
// 'shape': (3, 4), }. It is parsed as exactly that grammar — three known keys, a quoted dtype, a
// boolean, a tuple of non-negative integers — because a file is untrusted input: a lenient scan
// turned "(-2, 3)" into a 2 x 3 shape and let an empty descr or a 23-digit dimension escape
// as std::out_of_range.

struct NpyHeader {
  std::string descr;
  bool fortran = false;
  std::vector<std::int64_t> shape;
};

class HeaderParser {
 public:
  HeaderParser(std::string text, const std::string& name) : s_(std::move(text)), name_(name) {}

  NpyHeader parse() {
    NpyHeader h;
    bool seen[3] = {false, false, false};
    skip_space();
    expect('{', "the header must be a dictionary, starting with '{'");
    for (;;) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = quoted("a quoted key");
      skip_space();
      expect(':', "expected ':' after '" + key + "'");
      skip_space();
      int k = key == "descr" ? 0 : key == "fortran_order" ? 1 : key == "shape" ? 2 : -1;
      if (k < 0) fail("unexpected key '" + key + "' (a .npy header has 'descr', 'fortran_order' and 'shape')");
      if (seen[k]) fail("'" + key + "' appears twice");
      seen[k] = true;
      if (k == 0) {
        if (peek() != '\'' && peek() != '"')
          fail("'descr' must be a quoted dtype such as '<f8' (structured dtypes are not supported)");
        h.descr = quoted("a quoted dtype");
      } else if (k == 1) {
        h.fortran = boolean();
      } else {
        h.shape = tuple();
      }
      skip_space();
      if (peek() == ',') {
        ++p_;
        continue;
      }
      if (peek() != '}') fail("expected ',' or '}' after the value of '" + key + "'");
    }
    ++p_;  // '}'
    skip_space();
    if (p_ != s_.size()) fail("unexpected text after the header dictionary");
    const char* keys[3] = {"descr", "fortran_order", "shape"};
    for (int k = 0; k < 3; ++k)
      if (!seen[k]) fail("the header has no '" + std::string(keys[k]) + "'");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("'" + name_ + "': bad .npy header: " + what);
  }
  char peek() const { return p_ < s_.size() ? s_[p_] : '\0'; }
  bool at_end() const { return p_ >= s_.size(); }
  void skip_space() {
    while (!at_end() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r')) ++p_;
  }
  void expect(char c, const std::string& what) {
    if (at_end() || s_[p_] != c) fail(what);
    ++p_;
  }
  std::string quoted(const std::string& what) {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected " + what);
    const auto end = s_.find(q, p_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string out = s_.substr(p_ + 1, end - p_ - 1);
    p_ = end + 1;
    return out;
  }
  bool boolean() {
    if (s_.compare(p_, 4, "True") == 0) return p_ += 4, true;
    if (s_.compare(p_, 5, "False") == 0) return p_ += 5, false;
    fail("'fortran_order' must be True or False");
  }
  std::vector<std::int64_t> tuple() {
    expect('(', "'shape' must be a tuple of non-negative integers, e.g. (3, 4)");
    std::vector<std::int64_t> dims;
    for (;;) {
      skip_space();
      if (peek() == ')') break;
      if (!std::isdigit(static_cast<unsigned char>(peek())))
        fail("'shape' must be a tuple of non-negative integers, e.g. (3, 4)");
      const std::size_t start = p_;
      std::int64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        const int digit = s_[p_] - '0';
        if (v > (std::numeric_limits<std::int64_t>::max() - digit) / 10) {
          while (std::isdigit(static_cast<unsigned char>(peek()))) ++p_;
          fail("dimension " + s_.substr(start, p_ - start) + " of 'shape' is too large");
        }
        v = v * 10 + digit;
        ++p_;
      }
      if (peek() == 'L') ++p_;  // Python 2 long integers
      dims.push_back(v);
      if (dims.size() > 64) fail("'shape' has more than 64 dimensions");
      skip_space();
      if (peek() == ',') {
        ++p_;
        continue;
      }
      if (peek() != ')') fail("'shape' must be a tuple of non-negative integers, e.g. (3, 4)");
    }
    ++p_;  // ')'
    return dims;
  }

  const std::string s_;
  const std::string& name_;
  std::size_t p_ = 0;
};

template <class T>
void convert(const char* src, std::size_t n, std::vector<double>& out) {
  out.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    out[i] = static_cast<double>(v);
  }
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// ---- .csv cells -------------------------------------------------------------------------

std::string trimmed(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// A cell as a message shows it: control bytes escaped (a NUL would end what()), at most 40 characters.
std::string shown(const std::string& cell) {
  std::string out;
  for (std::size_t i = 0; i < cell.size() && i < 40; ++i) {
    const auto c = static_cast<unsigned char>(cell[i]);
    if (c >= 0x20 && c != 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return cell.size() > 40 ? out + "..." : out;
}

// strtod rather than std::stod: stod throws out_of_range for subnormal results too, which
// rejected files holding the smallest doubles (numpy.savetxt writes 4.94e-324 as it is).
double csv_number(const std::string& cell, const std::string& name, std::int64_t lineno, std::int64_t column) {
  const auto where = [&] {
    return "'" + name + "' line " + std::to_string(lineno) + ", column " + std::to_string(column) + ": ";
  };
  if (cell.empty()) throw std::runtime_error(where() + "empty value");
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(cell.c_str(), &end);
  if (end != cell.c_str() + cell.size() || std::isspace(static_cast<unsigned char>(cell[0])))
    throw std::runtime_error(where() + "'" + shown(cell) + "' is not a number");
  if (errno == ERANGE && std::isinf(v))
    throw std::runtime_error(where() + "'" + shown(cell) + "' is out of the range of a double");
  return v;
}

}  // namespace

Array read_npy(const std::string& path) { return read_npy_bytes(slurp(path), path); }

Array read_npy_bytes(const std::string& bytes, const std::string& path) {
  if (bytes.size() < 6 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    throw std::runtime_error("'" + path + "' is not a .npy file (bad magic)");
  if (bytes.size() < 8) throw std::runtime_error("'" + path + "' is truncated (no .npy version)");
  const int major = static_cast<unsigned char>(bytes[6]);
  if (major < 1 || major > 3)
    throw std::runtime_error("'" + path + "': unsupported .npy version " + std::to_string(major));
  // Version 1 stores the header length in 2 bytes, versions 2 and 3 in 4 (little-endian).
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  const std::size_t offset = 8 + len_bytes;
  if (bytes.size() < offset) throw std::runtime_error("'" + path + "' is truncated (no .npy header length)");
  std::size_t header_len = 0;
  for (std::size_t i = 0; i < len_bytes; ++i)
    header_len |= static_cast<std::size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
  if (header_len > bytes.size() - offset)
    throw std::runtime_error("'" + path + "': the .npy header length " + std::to_string(header_len) +
                             " runs past the end of the file (" + std::to_string(bytes.size()) + " bytes)");
  const NpyHeader h = HeaderParser(bytes.substr(offset, header_len), path).parse();

  const std::string& d = h.descr;
  std::size_t itemsize = 0;
  if (d == "<f8" || d == "<i8") itemsize = 8;
  else if (d == "<f4" || d == "<i4") itemsize = 4;
  else if (d == "|u1" || d == "|b1") itemsize = 1;
  else
    throw std::runtime_error("'" + path + "': dtype '" + d +
                             "' is not supported (use float64, float32, int64, int32, uint8 or bool, little-endian)");

  // The data must be in the file: the element count and its byte size are checked for overflow
  // and against the bytes present before anything is allocated from the shape.
  Array a;
  a.shape = h.shape;
  // Like an empty .csv: no key takes an empty matrix, and a shape such as (0, 2^62) holds no data
  // for the checks below to weigh, yet callers size matrices and loops from its dimensions.
  for (auto dim : a.shape)
    if (dim == 0) throw std::runtime_error("'" + path + "' holds no values (shape " + shape_text(a.shape) + ")");
  std::size_t n = 1;
  for (auto dim : a.shape)
    if (__builtin_mul_overflow(n, static_cast<std::size_t>(dim), &n))
      throw std::runtime_error("'" + path + "': shape " + shape_text(a.shape) + " has more elements than memory can hold");
  const std::size_t avail = bytes.size() - offset - header_len;
  std::size_t need = 0;
  if (__builtin_mul_overflow(n, itemsize, &need) || need > avail)
    throw std::runtime_error("'" + path + "' is truncated: shape " + shape_text(a.shape) + " of " + d + " needs " +
                             std::to_string(n) + " x " + std::to_string(itemsize) + " bytes of data, the file has " +
                             std::to_string(avail));

  const char* data = bytes.data() + offset + header_len;
  if (d == "<f8") convert<double>(data, n, a.data);
  else if (d == "<f4") convert<float>(data, n, a.data);
  else if (d == "<i8") convert<std::int64_t>(data, n, a.data);
  else if (d == "<i4") convert<std::int32_t>(data, n, a.data);
  else convert<std::uint8_t>(data, n, a.data);
  if (d == "|b1")
    for (double& v : a.data) v = v != 0;  // NumPy reads any nonzero byte as True

  if (h.fortran && a.shape.size() > 1) {  // reorder to C order
    std::vector<double> c(n);
    const std::size_t dims = a.shape.size();
    std::vector<std::int64_t> idx(dims, 0);
    for (std::size_t f = 0; f < n; ++f) {  // f walks Fortran order: first index fastest
      std::size_t cpos = 0;
      for (std::size_t k = 0; k < dims; ++k) cpos = cpos * a.shape[k] + idx[k];
      c[cpos] = a.data[f];
      for (std::size_t k = 0; k < dims && ++idx[k] == a.shape[k]; ++k) idx[k] = 0;
    }
    a.data.swap(c);
  }
  return a;
}

Array read_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open '" + path + "'");
  return read_csv_text(std::string(std::istreambuf_iterator<char>(in), {}), path);
}

Array read_csv_text(const std::string& text, const std::string& path) {
  std::istringstream in(text);
  Array a;
  std::string raw;
  std::int64_t rows = 0, cols = -1, lineno = 0;
  while (std::getline(in, raw)) {
    ++lineno;
    std::string line = trimmed(raw);
    if (line.empty() || line[0] == '#') continue;
    if (line.back() == ',') line.pop_back();  // one trailing comma: tolerated, not an empty cell
    std::int64_t c = 0;
    for (std::size_t start = 0;;) {
      const auto comma = line.find(',', start);
      const std::string cell = trimmed(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      a.data.push_back(csv_number(cell, path, lineno, ++c));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (cols >= 0 && c != cols)
      throw std::runtime_error("'" + path + "' line " + std::to_string(lineno) + " has " + std::to_string(c) +
                               " values, earlier rows have " + std::to_string(cols));
    cols = c;
    ++rows;
  }
  if (rows == 0) throw std::runtime_error("'" + path + "' holds no numbers");
  a.shape = {rows, cols};
  return a;
}

std::uint64_t fnv1a64(const std::string& bytes, std::uint64_t h) {
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string file_checksum(const std::string& path) { return hex64(fnv1a64(slurp(path))); }

}  // namespace dlnflow::io
