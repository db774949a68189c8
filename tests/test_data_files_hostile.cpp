// The .npy and .csv readers against files written to break them: every malformed file must end
// in a std::runtime_error that says what is wrong, never in a crash, another exception type, an
// out-of-bounds read, or an allocation the file's size cannot back. Each case is a defect that
// the readers had (found by review and by tests/fuzz/fuzz_npy, fuzz_csv).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "../src/io/data_files.hpp"

namespace dlnflow::io {
namespace {

// A .npy file: magic, version, header length (as given, or the header's own), header, data.
std::string npy(const std::string& dict, const std::string& data = "", int major = 1,
                std::int64_t header_len = -1) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  const auto len = static_cast<std::uint64_t>(header_len >= 0 ? header_len : static_cast<std::int64_t>(header.size()));
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  for (int i = 0; i < (major == 1 ? 2 : 4); ++i) out += static_cast<char>((len >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string f8(std::initializer_list<double> values) {
  std::string s;
  for (double v : values) s.append(reinterpret_cast<const char*>(&v), sizeof v);
  return s;
}

// The reader's message, or "" if it accepted the file. Any other exception fails the test.
std::string npy_error(const std::string& bytes) {
  try {
    read_npy_bytes(bytes, "hostile.npy");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

std::string csv_error(const std::string& text) {
  try {
    read_csv_text(text, "hostile.csv");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_MESSAGE(message, part)                                   \
  do {                                                                  \
    const std::string m_ = (message);                                   \
    EXPECT_NE(m_.find(part), std::string::npos) << "message: " << m_; \
  } while (0)

TEST(HostileNpy, WellFormedFilesStillRead) {
  const Array a = read_npy_bytes(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", f8({1, 2, 3, 4})), "ok.npy");
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(a.data, (std::vector<double>{1, 2, 3, 4}));
  // 2 x 3 x 2 in Fortran order: element (i, j, k) sits at i + 2 j + 6 k.
  std::string data;
  for (int k = 0; k < 2; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 2; ++i) data += f8({100.0 * i + 10.0 * j + k});
  const Array f = read_npy_bytes(npy("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3, 2), }", data), "f.npy");
  ASSERT_EQ(f.shape, (std::vector<std::int64_t>{2, 3, 2}));
  EXPECT_EQ(f.data[1 * 6 + 2 * 2 + 1], 121.0);
  // Python 2 era files wrote long integers as 3L; a 0-d array holds one value.
  EXPECT_EQ(read_npy_bytes(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1L, 1L), }", f8({5})), "l.npy").data,
            (std::vector<double>{5}));
  EXPECT_EQ(read_npy_bytes(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", f8({7})), "s.npy").data,
            (std::vector<double>{7}));
  // Version 2 headers have a 4-byte length.
  EXPECT_EQ(read_npy_bytes(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", f8({9}), 2), "v2.npy").data,
            (std::vector<double>{9}));
}

// Was: std::out_of_range from descr.substr(1, size - 2) on an empty value.
TEST(HostileNpy, EmptyDescrIsAnError) {
  EXPECT_MESSAGE(npy_error(npy("{'descr':, 'fortran_order': False, 'shape': (1,), }", f8({1}))), "descr");
  EXPECT_MESSAGE(npy_error(npy("{'descr': '', 'fortran_order': False, 'shape': (1,), }", f8({1}))), "dtype");
}

// Was: std::out_of_range from std::stoll.
TEST(HostileNpy, ShapeWithA23DigitNumberIsAnError) {
  EXPECT_MESSAGE(npy_error(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (12345678901234567890123, 1), }")),
                 "12345678901234567890123");
}

// Was: the element count wrapped to 0, so a 2^32 x 2^32 array with no data was accepted, and the
// caller sized a matrix from the shape.
TEST(HostileNpy, ShapeWhoseElementCountOverflowsIsAnError) {
  EXPECT_MESSAGE(npy_error(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }")),
                 "elements");
  EXPECT_NE(npy_error(npy("{'descr': '|u1', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }")), "");
}

// Was: count * 8 wrapped to 0 bytes, the truncation check passed, and 2^61 doubles were allocated.
TEST(HostileNpy, DataSizeIsCheckedBeforeAllocating) {
  EXPECT_MESSAGE(npy_error(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }", f8({1}))),
                 "truncated");
  EXPECT_MESSAGE(npy_error(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (100000000,), }", f8({1}))),
                 "truncated");
}

// Was: accepted with no data, and the experiment layer then sized matrices and loops from the
// other dimension: (0, 2^62) ended in std::bad_alloc, (2^62, 0) in a loop of 2^62 rows.
TEST(HostileNpy, ArrayWithoutElementsIsAnError) {
  EXPECT_MESSAGE(npy_error(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4611686018427387904), }")),
                 "no values");
  EXPECT_MESSAGE(npy_error(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 0), }")),
                 "no values");
  EXPECT_MESSAGE(npy_error(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }")), "no values");
}

// Was: the data pointer went past the end, the bytes available wrapped around, and the values
// were read out of bounds and returned.
TEST(HostileNpy, HeaderLengthPastTheEndOfTheFileIsAnError) {
  const std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }";
  const std::size_t real = npy(dict).size() - 10;
  EXPECT_MESSAGE(npy_error(npy(dict, f8({1}), 1, static_cast<std::int64_t>(real + 16))), "past the end");
  EXPECT_MESSAGE(npy_error(npy(dict, f8({1}), 2, 0xffffffffll)), "past the end");
}

// Was: std::out_of_range from substr(12) on a 10-byte version-2 file.
TEST(HostileNpy, FileShorterThanItsPreambleIsAnError) {
  EXPECT_NE(npy_error(std::string("\x93NUMPY\x02\x00\x10\x00", 10)), "");
  EXPECT_NE(npy_error(std::string("\x93NUMPY\x01\x00", 8)), "");
  EXPECT_NE(npy_error(""), "");
}

// Was: every digit run in the text counted as a dimension, so (-2, 3) read as (2, 3) and
// 'shape': 5 as a 0-d array.
TEST(HostileNpy, ShapeMustBeATupleOfNonNegativeIntegers) {
  EXPECT_MESSAGE(npy_error(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (-2, 3), }", f8({1, 2, 3, 4, 5, 6}))),
                 "shape");
  EXPECT_MESSAGE(npy_error(npy("{'descr': '<f8', 'fortran_order': False, 'shape': 5, }", f8({1, 2, 3, 4, 5}))), "shape");
  EXPECT_MESSAGE(npy_error(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2.5,), }", f8({1, 2}))), "shape");
}

// Was: anything containing "True" meant Fortran order, anything else C order.
TEST(HostileNpy, FortranOrderMustBeTrueOrFalse) {
  EXPECT_MESSAGE(npy_error(npy("{'descr': '<f8', 'fortran_order': Maybe, 'shape': (1,), }", f8({1}))), "fortran_order");
}

// A bool array holds 0 or 1 whatever byte the file has (NumPy reads any nonzero byte as True).
TEST(HostileNpy, BoolBytesReadAsZeroOrOne) {
  const Array a = read_npy_bytes(npy("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", std::string("\0\2\xff", 3)), "b.npy");
  EXPECT_EQ(a.data, (std::vector<double>{0, 1, 1}));
}

TEST(HostileNpy, HeaderMustBeADictionaryOfTheThreeKeys) {
  EXPECT_NE(npy_error(npy("['descr', '<f8']", f8({1}))), "");
  EXPECT_MESSAGE(npy_error(npy("{'descr': '<f8', 'shape': (1,), }", f8({1}))), "fortran_order");
  EXPECT_MESSAGE(npy_error(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}", f8({1}))), "'x'");
  EXPECT_NE(npy_error(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'shape': (1,)}", f8({1}))), "");
  EXPECT_NE(npy_error(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,", f8({1}))), "");
  EXPECT_NE(npy_error(npy("{'descr': '<f8", f8({1}))), "");
}

// Accepted number syntax is strtod's: decimal and hexadecimal floats, nan and inf (the caller
// rejects non-finite data with the key's name); a value beyond the range of a double is an error.
TEST(HostileCsv, NumberSyntax) {
  const Array a = read_csv_text("nan, inf, -inf, 0x1p-2, 1e-310, +3\n", "n.csv");
  ASSERT_EQ(a.data.size(), 6u);
  EXPECT_TRUE(std::isnan(a.data[0]));
  EXPECT_EQ(a.data[1], std::numeric_limits<double>::infinity());
  EXPECT_EQ(a.data[2], -std::numeric_limits<double>::infinity());
  EXPECT_EQ(a.data[3], 0.25);
  EXPECT_EQ(a.data[4], 1e-310);
  EXPECT_EQ(a.data[5], 3.0);
  EXPECT_MESSAGE(csv_error("1e999\n"), "range");
  EXPECT_MESSAGE(csv_error("1, -1e400\n"), "range");
}

// Was: std::stod's out_of_range for a subnormal result read as "not a number", so a file with
// numpy.savetxt's 4.940656458412465442e-324 (the smallest double) was rejected.
TEST(HostileCsv, SubnormalValuesAreNumbers) {
  const Array a = read_csv_text("4.940656458412465442e-324,1e-320\n", "s.csv");
  EXPECT_EQ(a.data[0], std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(a.data[1], 1e-320);
}

TEST(HostileCsv, EmptyCellsLinesAndFiles) {
  EXPECT_MESSAGE(csv_error(",,,\n"), "line 1");
  EXPECT_MESSAGE(csv_error("1,,2\n"), "empty");
  EXPECT_MESSAGE(csv_error(""), "no numbers");
  EXPECT_MESSAGE(csv_error("\n\n  \n# only comments\n"), "no numbers");
  EXPECT_MESSAGE(csv_error("1,2\n3,4,5\n"), "line 2");
  EXPECT_MESSAGE(csv_error(std::string("1,2\0,3\n", 7)), "not a number");
  EXPECT_MESSAGE(csv_error("1 2\n"), "not a number");
  // Blank lines between rows and a trailing comma at the end of a line are tolerated.
  const Array a = read_csv_text("\r\n1,2,\r\n\n 3 ,4,\r\n", "crlf.csv");
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(a.data, (std::vector<double>{1, 2, 3, 4}));
}

}  // namespace
}  // namespace dlnflow::io
