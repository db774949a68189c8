#include "matrix_source.hpp"

#include <cmath>
#include <filesystem>

#include "data_files.hpp"
#include "memory_budget.hpp"
#include "dlnflow/init.hpp"
#include "result_files.hpp"

namespace dlnflow::io {

namespace {

// Data generators draw from Philox under a trajectory key no trajectory uses, so that data
// and initial conditions never share random numbers.
constexpr std::uint64_t kDataKey = 0xDA7A000000000000ull;

std::string resolve_path(const std::string& base_dir, const std::string& file) {
  const std::filesystem::path p(file);
  return p.is_absolute() ? file : (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

// Where flat entry i of an array is, as its reader's user counts: numpy's [i, j] (0-based) for
// .npy, the data row and column (1-based) for .csv.
std::string entry_name(const Array& a, std::size_t flat, bool csv) {
  std::vector<std::int64_t> idx(a.shape.size());
  for (std::size_t k = a.shape.size(); k-- > 0;) {
    const auto extent = static_cast<std::size_t>(std::max<std::int64_t>(a.shape[k], 1));
    idx[k] = static_cast<std::int64_t>(flat % extent);
    flat /= extent;
  }
  if (csv && idx.size() == 2) return "row " + std::to_string(idx[0] + 1) + ", column " + std::to_string(idx[1] + 1);
  std::string s = "entry [";
  for (std::size_t k = 0; k < idx.size(); ++k) s += (k ? ", " : "") + std::to_string(idx[k]);
  return s + "] (numpy index)";
}

Array read_file(TableReader& r, const std::string& key, const std::string& base_dir, const std::string& file) {
  const std::string path = resolve_path(base_dir, file);
  std::error_code ec;  // a name the file system rejects (longer than NAME_MAX...) is a named error too
  const auto type = std::filesystem::status(path, ec).type();
  if (type == std::filesystem::file_type::not_found || (ec && type == std::filesystem::file_type::none))
    r.fail(key, "data file '" + path + "' does not exist" + (ec && ec != std::errc::no_such_file_or_directory ? " (" + ec.message() + ")" : ""));
  if (type == std::filesystem::file_type::directory) r.fail(key, "data file '" + path + "' is a folder");
  const std::string ext = std::filesystem::path(path).extension().string();
  Array a;
  try {
    if (ext == ".npy") a = read_npy(path);
    else if (ext == ".csv") a = read_csv(path);
    else r.fail(key, "data file '" + file + "' must end in .npy or .csv");
  } catch (const std::runtime_error& e) {
    if (dynamic_cast<const ExperimentError*>(&e)) throw;
    r.fail(key, e.what());
  }
  for (std::size_t i = 0; i < a.data.size(); ++i)
    if (!std::isfinite(a.data[i])) r.fail(key, "data file '" + file + "': " + entry_name(a, i, ext == ".csv") + " is " + format_double(a.data[i]) + "; every entry must be finite");
  r.resolved()[key] = {{"file", file}, {"shape", a.shape}, {"fnv1a64", file_checksum(path)}};
  return a;
}

Mat to_matrix(TableReader& r, const std::string& key, const Array& a) {
  if (a.shape.size() == 1) {
    Mat m(a.shape[0], 1);
    for (Index i = 0; i < m.rows(); ++i) m(i, 0) = a.data[i];
    return m;
  }
  if (a.shape.size() != 2) r.fail(key, "must hold a 2-D array, this one has " + std::to_string(a.shape.size()) + " dimensions");
  Mat m(a.shape[0], a.shape[1]);
  for (Index i = 0; i < m.rows(); ++i)
    for (Index j = 0; j < m.cols(); ++j) m(i, j) = a.data[i * m.cols() + j];
  return m;
}

Mat inline_matrix(TableReader& r, const std::string& key, const toml::array& rows) {
  Mat m;
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const toml::array* row = rows[i].as_array();
    if (!row) r.fail(key, "an inline matrix is an array of rows, e.g. [[1, 0], [0, 1]]; row " + std::to_string(i + 1) + " is not an array");
    if (i == 0) m.resize(static_cast<Index>(rows.size()), static_cast<Index>(row->size()));
    if (static_cast<Index>(row->size()) != m.cols())
      r.fail(key, "row " + std::to_string(i + 1) + " has " + std::to_string(row->size()) + " entries, row 1 has " +
                      std::to_string(m.cols()));
    for (std::size_t j = 0; j < row->size(); ++j) {
      const auto& e = (*row)[j];
      if (e.is_floating_point() || e.is_integer()) m(i, j) = number_of(e, r.origin(), r.key_path(key));
      else r.fail(key, "entry (" + std::to_string(i + 1) + ", " + std::to_string(j + 1) + ") is not a number");
      if (!std::isfinite(m(i, j))) r.fail(key, "entry (" + std::to_string(i + 1) + ", " + std::to_string(j + 1) + ") is not finite");
    }
    out.push_back(std::vector<double>(row->size()));
    for (std::size_t j = 0; j < row->size(); ++j) out.back()[j] = m(i, j);
  }
  if (rows.size() == 0 || m.cols() == 0) r.fail(key, "an inline matrix needs at least one entry");
  r.resolved()[key] = out;
  return m;
}

constexpr std::int64_t kMaxDim = 2147483647;  // matrix sizes are ints in the engine

Shape read_shape(TableReader& g, std::optional<Shape> like) {
  Shape s;
  std::string key = "size";
  if (g.has("size")) {
    const Index n = g.integer("size", std::nullopt, 1, kMaxDim);
    s = {n, n};
  } else {
    g.node("size");
    key = g.has("rows") ? "rows" : "cols";
    const Index rows = g.integer("rows", like ? std::optional<std::int64_t>(like->rows) : std::nullopt, 1, kMaxDim);
    const Index cols = g.integer("cols", like ? std::optional<std::int64_t>(like->cols) : std::optional<std::int64_t>(rows), 1, kMaxDim);
    s = {rows, cols};
  }
  require_fits(g, key, static_cast<double>(s.rows) * static_cast<double>(s.cols),
               "a " + std::to_string(s.rows) + " x " + std::to_string(s.cols) + " matrix");
  return s;
}

Mat generate(TableReader& g, std::optional<Shape> like) {
  const std::string kind = g.choice("generate", std::nullopt,
                                    {"low_rank", "random_covariance", "gaussian", "identity", "diagonal", "bernoulli_mask"});
  const auto seed = static_cast<std::uint64_t>(g.integer("seed", 0, 0));
  if (kind == "identity") {
    const Shape s = read_shape(g, like);
    return g.real("scale", 1.0) * Mat::Identity(s.rows, s.cols);
  }
  if (kind == "diagonal") {
    const auto v = g.reals("values", std::nullopt);
    if (v.empty()) g.fail("values", "needs at least one value");
    const Shape s = read_shape(g, Shape{static_cast<Index>(v.size()), static_cast<Index>(v.size())});
    if (static_cast<Index>(v.size()) > std::min(s.rows, s.cols))
      g.fail("values", "has " + std::to_string(v.size()) + " values, more than min(rows, cols) = " + std::to_string(std::min(s.rows, s.cols)));
    Mat m = Mat::Zero(s.rows, s.cols);
    for (std::size_t i = 0; i < v.size(); ++i) m(i, i) = v[i];
    return m;
  }
  if (kind == "gaussian") {
    const Shape s = read_shape(g, like);
    return g.real("scale", 1.0) * gaussian_matrix(s.rows, s.cols, seed, kDataKey, 0);
  }
  if (kind == "bernoulli_mask") {
    const Shape s = read_shape(g, like);
    const double p = g.real("p", std::nullopt, {0.0, 1.0, false, false});
    const bool symmetric = g.boolean("symmetric", true);
    const bool diagonal = g.boolean("diagonal", true);
    if (symmetric && s.rows != s.cols) g.fail("symmetric", "a symmetric mask must be square");
    // Uniforms as Phi(z) of the same Gaussian stream the other generators use.
    const Mat z = gaussian_matrix(s.rows, s.cols, seed, kDataKey, 3);
    Mat m = Mat::Zero(s.rows, s.cols);
    for (Index j = 0; j < s.cols; ++j)
      for (Index i = 0; i < s.rows; ++i) {
        if (symmetric && i > j) continue;
        if (!diagonal && i == j) continue;
        const bool on = 0.5 * std::erfc(-z(i, j) / std::sqrt(2.0)) < p;
        m(i, j) = on;
        if (symmetric) m(j, i) = on;
      }
    return m;
  }
  // low_rank and random_covariance: P diag(spectrum) Q^T with Haar frames (or identity frames).
  const bool covariance = kind == "random_covariance";
  const Shape s = covariance ? Shape{g.integer("size", std::nullopt, 1, kMaxDim), 0} : read_shape(g, like);
  const Index rows = s.rows, cols = covariance ? s.rows : s.cols;
  if (covariance)
    require_fits(g, "size", static_cast<double>(rows) * static_cast<double>(rows),
                 "a " + std::to_string(rows) + " x " + std::to_string(rows) + " matrix");
  const auto spectrum = g.reals("spectrum", std::nullopt, Bounds::nonnegative());
  if (spectrum.empty()) g.fail("spectrum", "needs at least one value");
  const Index r = static_cast<Index>(spectrum.size());
  if (r > std::min(rows, cols))
    g.fail("spectrum", "has " + std::to_string(r) + " values, more than min(rows, cols) = " + std::to_string(std::min(rows, cols)));
  const bool symmetric = covariance || g.boolean("symmetric", false);
  if (symmetric && rows != cols) g.fail("symmetric", "a symmetric matrix must be square");
  const std::string frames = g.choice("frames", "random", {"random", "identity"});
  Mat P = Mat::Identity(rows, r), Q = Mat::Identity(cols, r);
  if (frames == "random") {
    P = haar_frame(rows, r, seed, kDataKey, 1);
    Q = symmetric ? P : haar_frame(cols, r, seed, kDataKey, 2);
  }
  Vec sv(r);
  for (Index i = 0; i < r; ++i) sv(i) = spectrum[i];
  Mat m = P * sv.asDiagonal() * Q.transpose();
  if (g.has("frobenius")) {
    const double f = g.real("frobenius", std::nullopt, Bounds::positive());
    if (m.norm() == 0) g.fail("frobenius", "cannot rescale a zero matrix");
    m *= f / m.norm();
  } else {
    g.node("frobenius");
  }
  return m;
}

}  // namespace

std::optional<Mat> read_matrix(TableReader& r, const std::string& key, const std::string& base_dir, bool required,
                               std::optional<Shape> like) {
  const toml::node* n = r.node(key);
  if (!n) {
    if (required) r.fail(key, "is required but missing (inline rows, a .npy/.csv file, or { generate = ... })");
    return std::nullopt;
  }
  if (n->is_string()) return to_matrix(r, key, read_file(r, key, base_dir, n->as_string()->get()));
  if (n->is_array()) return inline_matrix(r, key, *n->as_array());
  if (n->is_table()) {
    TableReader g = r.table(key);
    Mat m = generate(g, like);
    g.finish();
    return m;
  }
  r.fail(key, "must be inline rows, a file name, or a { generate = ... } table");
}

std::vector<Mat> read_matrix_stack(TableReader& r, const std::string& key, const std::string& base_dir, Shape shape) {
  const toml::node* n = r.node(key);
  if (!n) r.fail(key, "is required but missing (a 3-D .npy file or { generate = \"gaussian\", count = m })");
  std::vector<Mat> out;
  if (n->is_string()) {
    const Array a = read_file(r, key, base_dir, n->as_string()->get());
    if (a.shape.size() != 3 || a.shape[1] != shape.rows || a.shape[2] != shape.cols)
      r.fail(key, "must hold a count x " + std::to_string(shape.rows) + " x " + std::to_string(shape.cols) + " array");
    const std::size_t block = static_cast<std::size_t>(shape.rows * shape.cols);
    for (std::int64_t k = 0; k < a.shape[0]; ++k) {
      Mat m(shape.rows, shape.cols);
      for (Index i = 0; i < shape.rows; ++i)
        for (Index j = 0; j < shape.cols; ++j) m(i, j) = a.data[k * block + i * shape.cols + j];
      out.push_back(std::move(m));
    }
    return out;
  }
  if (!n->is_table()) r.fail(key, "must be a 3-D .npy file or a { generate = \"gaussian\", count = m } table");
  TableReader g = r.table(key);
  g.choice("generate", std::nullopt, {"gaussian"});
  const auto count = g.integer("count", std::nullopt, 1);
  require_fits(g, "count", static_cast<double>(count) * static_cast<double>(shape.rows) * static_cast<double>(shape.cols),
               std::to_string(count) + " sensing matrices of " + std::to_string(shape.rows) + " x " + std::to_string(shape.cols));
  const auto seed = static_cast<std::uint64_t>(g.integer("seed", 0, 0));
  const bool symmetric = g.boolean("symmetric", false);
  const double scale = g.real("scale", 1.0);
  g.finish();
  for (std::int64_t k = 0; k < count; ++k) {
    Mat m = scale * gaussian_matrix(shape.rows, shape.cols, seed, kDataKey, 16 + static_cast<std::uint64_t>(k));
    if (symmetric) m = (0.5 * (m + m.transpose())).eval();
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace dlnflow::io
