#include "data_files.hpp"

#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace dlnflow::io {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open '" + path + "'");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The value of 'key': in the .npy header dictionary, up to the next top-level comma.
std::string header_field(const std::string& header, const std::string& key) {
  const auto k = header.find("'" + key + "'");
  if (k == std::string::npos) throw std::runtime_error("npy header has no '" + key + "'");
  auto p = header.find(':', k) + 1;
  while (p < header.size() && header[p] == ' ') ++p;
  if (header[p] == '(') return header.substr(p, header.find(')', p) - p + 1);
  const auto e = header.find_first_of(",}", p);
  return header.substr(p, e - p);
}

template <class T>
void convert(const char* src, std::size_t n, std::vector<double>& out) {
  out.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    out[i] = static_cast<double>(v);
  }
}

}  // namespace

Array read_npy(const std::string& path) { return read_npy_bytes(slurp(path), path); }

Array read_npy_bytes(const std::string& bytes, const std::string& path) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    throw std::runtime_error("'" + path + "' is not a .npy file (bad magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
    offset = 10;
  } else if (major == 2 || major == 3) {
    for (int i = 0; i < 4; ++i) header_len |= static_cast<std::size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    offset = 12;
  } else {
    throw std::runtime_error("'" + path + "': unsupported .npy version " + std::to_string(major));
  }
  const std::string header = bytes.substr(offset, header_len);
  const std::string descr = header_field(header, "descr");
  const bool fortran = header_field(header, "fortran_order").find("True") != std::string::npos;
  const std::string shape_text = header_field(header, "shape");

  Array a;
  std::size_t n = 1;
  for (std::size_t p = 1; p < shape_text.size();) {
    while (p < shape_text.size() && !std::isdigit(static_cast<unsigned char>(shape_text[p]))) ++p;
    if (p >= shape_text.size()) break;
    std::size_t q = p;
    while (q < shape_text.size() && std::isdigit(static_cast<unsigned char>(shape_text[q]))) ++q;
    a.shape.push_back(std::stoll(shape_text.substr(p, q - p)));
    n *= static_cast<std::size_t>(a.shape.back());
    p = q;
  }
  const char* data = bytes.data() + offset + header_len;
  const std::size_t avail = bytes.size() - offset - header_len;
  auto need = [&](std::size_t width) {
    if (avail < n * width) throw std::runtime_error("'" + path + "' is truncated");
  };
  const std::string d = descr.substr(1, descr.size() - 2);  // strip the quotes
  if (d == "<f8") need(8), convert<double>(data, n, a.data);
  else if (d == "<f4") need(4), convert<float>(data, n, a.data);
  else if (d == "<i8") need(8), convert<std::int64_t>(data, n, a.data);
  else if (d == "<i4") need(4), convert<std::int32_t>(data, n, a.data);
  else if (d == "|u1" || d == "|b1") need(1), convert<std::uint8_t>(data, n, a.data);
  else
    throw std::runtime_error("'" + path + "': dtype " + d +
                             " is not supported (use float64, float32, int64, int32, uint8 or bool)");
  if (fortran && a.shape.size() > 1) {  // reorder to C order
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
  std::string line;
  std::int64_t rows = 0, cols = -1, lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    std::int64_t c = 0;
    std::stringstream cells(line);
    std::string cell;
    while (std::getline(cells, cell, ',')) {
      const auto b = cell.find_first_not_of(" \t\r");
      const auto e = cell.find_last_not_of(" \t\r");
      const std::string t = b == std::string::npos ? "" : cell.substr(b, e - b + 1);
      std::size_t used = 0;
      double v = 0;
      try {
        v = std::stod(t, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (t.empty() || used != t.size())
        throw std::runtime_error("'" + path + "' line " + std::to_string(lineno) + ": '" + t + "' is not a number");
      a.data.push_back(v);
      ++c;
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
