// The one exception type for invalid user input. It carries the offending field so that
// a caller (the CLI, a sweep driver) can point at the exact key of an experiment file.
#pragma once

#include <stdexcept>
#include <string>

namespace dlnflow {

class InputError : public std::invalid_argument {
 public:
  InputError(std::string field, const std::string& message)
      : std::invalid_argument("invalid " + field + ": " + message), field_(std::move(field)) {}
  const std::string& field() const noexcept { return field_; }

 private:
  std::string field_;
};

}  // namespace dlnflow
