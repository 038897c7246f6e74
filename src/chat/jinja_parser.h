// Parser for the Jinja subset of chat templates: tokens to a statement tree.
//
// Precedence and grammar follow Jinja's own parser (conditional < or < and < not < comparison <
// + - < ~ < * / // % < ** < unary < postfix/filters/tests), so an expression means the same
// thing it means in transformers. Filters and tests are checked against the supported set at parse
// time, as Jinja does at compile time, so an unsupported template fails on load with the line of
// the construct rather than halfway through a conversation.
#pragma once

#include "chat/jinja_ast.h"

#include <string_view>

namespace elephant::chat::jinja {

// Nesting limit for expressions and blocks; keeps hostile templates from overflowing the stack in
// the recursive-descent parser and in the evaluator that walks the tree.
inline constexpr int kMaxNesting = 128;

// Throws elephant::Error ("chat template line N: ...") on syntax errors and unsupported constructs.
StmtList parse_template(std::string_view source);

}  // namespace elephant::chat::jinja
