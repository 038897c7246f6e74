// Renders a parsed chat template against a set of variables.
#pragma once

#include "chat/jinja_ast.h"
#include "chat/jinja_value.h"

#include <ctime>
#include <string>

namespace elephant::chat::jinja {

// Macro recursion limit (gpt-oss's tool-schema macro recurses once per nesting level of a schema).
inline constexpr int kMaxCallDepth = 64;
// Largest rendered output; a prompt is far smaller, a runaway loop is not.
inline constexpr size_t kMaxOutputBytes = 64u << 20;

// Throws elephant::Error: "chat template line N: ..." for evaluation errors, or the bare message of
// a raise_exception() call.
std::string render(const StmtList& program, const ValueDict& variables, const std::tm& now);

}  // namespace elephant::chat::jinja
