#include "toml_ascii.hpp"

#include <cstdio>
#include <cstring>

#include "dlnflow/app/experiment.hpp"

namespace dlnflow::io {

namespace {

struct Scanner {
  const std::string& text;
  const std::string& source;
  std::size_t i = 0, line = 1, column = 1;
  std::string out;

  [[noreturn]] void fail(const std::string& what) const {
    throw ExperimentError(source + ":" + std::to_string(line) + ":" + std::to_string(column) + ": TOML syntax error: " + what);
  }
  bool at(const char* s) const { return text.compare(i, std::strlen(s), s) == 0; }
  // One UTF-8 character starting at i (advanced past it); its code point.
  char32_t decode() {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
    const unsigned char c = b(0);
    int n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || i + n > text.size()) fail("bytes that are not UTF-8");
    char32_t cp = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
    for (int k = 1; k < n; ++k) {
      if ((b(k) & 0xC0) != 0x80) fail("bytes that are not UTF-8");
      cp = (cp << 6) | (b(k) & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      fail("bytes that are not UTF-8");
    i += static_cast<std::size_t>(n);
    return cp;
  }
  static std::string escape(char32_t cp) {
    char buf[16];
    if (cp <= 0xFFFF) std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(cp));
    else std::snprintf(buf, sizeof buf, "\\U%08X", static_cast<unsigned>(cp));
    return buf;
  }
  // Copies one character; non-ASCII ones as `non_ascii` makes them.
  template <class F>
  void copy_char(F&& non_ascii) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      if (c == '\n') ++line, column = 1;
      else ++column;
      return;
    }
    non_ascii(decode());
    ++column;
  }
  bool has_non_ascii(std::size_t from, std::size_t to) const {
    for (std::size_t k = from; k < to; ++k)
      if (static_cast<unsigned char>(text[k]) >= 0x80) return true;
    return false;
  }
};

}  // namespace

std::string ascii_toml(const std::string& text, const std::string& source) {
  Scanner s{text, source, 0, 1, 1, {}};
  s.out.reserve(text.size());
  const auto as_escape = [&](char32_t cp) { s.out += Scanner::escape(cp); };
  // A quote opens a string only where a key or a value begins (after =, [, {, a comma, a dot or
  // at the start of a line); elsewhere it is part of a malformed token that toml++ reports.
  char before = '\n';
  while (s.i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[s.i]);
    const bool opens = std::strchr("=[{,.\n", before) != nullptr;
    if (c >= 0x80) s.fail("a non-ASCII character outside a string or a comment (quote the key)");
    if (c == '#') {  // a comment, to the end of the line
      while (s.i < text.size() && text[s.i] != '\n') s.copy_char([&](char32_t) { s.out += '?'; });
      continue;
    }
    if (opens && (s.at("\"\"\"") || s.at("'''"))) {
      const bool literal = text[s.i] == '\'';
      const char* delim = literal ? "'''" : "\"\"\"";
      std::size_t end = s.i + 3;
      while (end < text.size() && !(text.compare(end, 3, delim) == 0 && (end + 3 >= text.size() || text[end + 3] != delim[0])))
        end += (!literal && text[end] == '\\' && end + 1 < text.size()) ? 2 : 1;
      const bool convert = literal && s.has_non_ascii(s.i, std::min(end, text.size()));
      s.out += convert ? "\"\"\"" : delim;
      s.i += 3, s.column += 3;
      while (s.i < text.size() && s.i < end) {
        if (convert && (text[s.i] == '\\' || text[s.i] == '"')) s.out += '\\';
        if (!literal && text[s.i] == '\\' && s.i + 1 < end) s.copy_char(as_escape);  // the escaped character too
        s.copy_char(as_escape);
      }
      if (s.i < text.size()) s.out += convert ? "\"\"\"" : delim, s.i += 3, s.column += 3;
      before = '"';
      continue;
    }
    if (opens && (c == '"' || c == '\'')) {
      const bool literal = c == '\'';
      std::size_t end = s.i + 1;
      while (end < text.size() && text[end] != c && text[end] != '\n')
        end += (!literal && text[end] == '\\' && end + 1 < text.size() && text[end + 1] != '\n') ? 2 : 1;
      const bool convert = literal && s.has_non_ascii(s.i, end);
      s.out += convert ? '"' : static_cast<char>(c);
      ++s.i, ++s.column;
      while (s.i < end) {
        if (convert && (text[s.i] == '\\' || text[s.i] == '"')) s.out += '\\';
        if (!literal && text[s.i] == '\\' && s.i + 1 < end) s.copy_char(as_escape);
        s.copy_char(as_escape);
      }
      if (s.i < text.size() && text[s.i] == static_cast<char>(c)) s.out += convert ? '"' : static_cast<char>(c), ++s.i, ++s.column;
      before = '"';
      continue;
    }
    if (c != ' ' && c != '\t' && c != '\r') before = static_cast<char>(c);
    s.copy_char(as_escape);
  }
  return s.out;
}

}  // namespace dlnflow::io
