// The text toml++ parses, in ASCII only. toml++ 3.3 (Debian's) reaches undefined behaviour on a
// non-ASCII character it meets outside a well-formed string, in comments and in the scans of its
// error messages (marzer/tomlplusplus#295, fixed upstream after 3.3; found by tests/fuzz/). The
// same document in ASCII avoids every such path: non-ASCII characters in strings become \u
// escapes (a literal string holding one becomes the equivalent basic string), in comments '?',
// and anywhere else — where TOML allows none — they are a syntax error reported here.
#pragma once

#include <string>

namespace dlnflow::io {

// Throws ExperimentError (source:line:column) for a non-ASCII character outside strings and
// comments, or for bytes that are not UTF-8.
std::string ascii_toml(const std::string& text, const std::string& source);

}  // namespace dlnflow::io
