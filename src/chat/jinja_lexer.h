// Tokenizer for the Jinja subset of chat templates.
//
// Whitespace handling is done here, exactly as Jinja's lexer does it with the settings transformers
// uses (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False): `{%-`/`-%}` strip
// whitespace on that side, a block or comment tag alone on its line takes its indentation with it,
// the newline right after a block or comment tag is dropped, `{%+`/`+%}` opt out, line endings are
// normalized to "\n" and one trailing newline of the template is removed. The parser then sees
// only the text that is really emitted.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace elephant::chat::jinja {

struct Token {
  enum class Kind {
    kText,        // literal template text (already whitespace-processed)
    kVarBegin,    // {{
    kVarEnd,      // }}
    kBlockBegin,  // {%
    kBlockEnd,    // %}
    kName,
    kString,      // value holds the unescaped string
    kInteger,
    kFloat,
    kOperator,    // value holds the operator text, e.g. "==", "(", "|"
    kEnd,
  };
  Kind kind;
  std::string value;
  int line;
};

// Throws elephant::Error ("chat template line N: ...") for unterminated tags, comments and strings,
// and characters that cannot start a token.
std::vector<Token> tokenize(std::string_view source);

}  // namespace elephant::chat::jinja
