// Error reporting for the whole engine.
//
// Every failure that a user can cause (a bad file, a bad config value, a bad flag) is thrown as
// elephant::Error with a message that names the file, the tensor or key, what was expected and
// what was found. The CLI catches Error at the top, prints the message and exits non-zero; nothing
// inside the engine logs and continues past a bad input.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace elephant {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// Prints a warning to stderr. Used for inputs that are suspicious but safe to run with
// (e.g. a checkpoint tensor that no layer reads).
void warn(const std::string& message);

}  // namespace elephant
