// Jinja tokenizer: splits a template into text and tag tokens, applying Jinja's whitespace rules.
//
// The rules mirror Jinja's lexer state machine rather than a simplified "strip around tags": the
// lstrip_blocks test looks only at the text between the last newline and the tag, and only
// counts a tag at the very start of a text run as line-starting when the previous tag consumed a
// newline. Inside tags, closing delimiters are only recognized outside brackets, so a dict literal
// such as `{'a': {'b': 1}}` does not end a `{{ ... }}` early.
#include "chat/jinja_lexer.h"

#include "core/error.h"

#include <fmt/format.h>

#include <cctype>

namespace elephant::chat::jinja {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Jinja normalizes every line ending to "\n" and drops one trailing newline.
std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

void append_utf8(uint32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xc0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3f));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xe0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code_point & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code_point & 0x3f));
  }
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(normalize_newlines(source)) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      const size_t tag = find_tag_start(pos_);
      std::string text = src_.substr(pos_, tag - pos_);
      const int text_line = line_;
      line_ += count_newlines(text);
      if (tag == src_.size()) {
        emit_text(std::move(text), text_line);
        pos_ = tag;
        break;
      }
      const char kind = src_[tag + 1];
      // `{{` has no '+' form: in `{{+x}}` the '+' is a unary plus.
      const char next = tag + 2 < src_.size() ? src_[tag + 2] : 0;
      const char sign = next == '-' || (next == '+' && kind != '{') ? next : 0;
      if (sign == '-') {
        while (!text.empty() && is_space(text.back())) text.pop_back();
      } else if (sign == 0 && kind != '{') {
        lstrip_block(text);
      }
      emit_text(std::move(text), text_line);
      pos_ = tag + 2 + (sign != 0 ? 1 : 0);
      if (kind == '#') {
        lex_comment();
      } else {
        lex_tag(kind == '{');
      }
    }
    tokens_.push_back({Token::Kind::kEnd, "", line_});
    return std::move(tokens_);
  }

 private:
  static int count_newlines(std::string_view text) {
    int n = 0;
    for (const char c : text) n += c == '\n' ? 1 : 0;
    return n;
  }

  size_t find_tag_start(size_t from) const {
    for (size_t i = from; i + 1 < src_.size(); ++i) {
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return src_.size();
  }

  // lstrip_blocks: a block or comment tag preceded on its line only by spaces and tabs drops them.
  void lstrip_block(std::string& text) const {
    const size_t newline = text.rfind('\n');
    const size_t line_start = newline == std::string::npos ? 0 : newline + 1;
    if (line_start == 0 && !line_starting_) return;
    if (line_start == text.size()) return;
    for (size_t i = line_start; i < text.size(); ++i) {
      if (!is_space(text[i])) return;
    }
    text.resize(line_start);
  }

  void emit_text(std::string text, int line) {
    if (!text.empty()) tokens_.push_back({Token::Kind::kText, std::move(text), line});
  }

  // After a tag: `-` eats all following whitespace; otherwise trim_blocks eats one newline
  // (block and comment tags only). Remembers whether a newline was consumed, for lstrip_blocks.
  void after_tag(char sign, bool trim_newline) {
    line_starting_ = false;
    if (sign == '-') {
      while (pos_ < src_.size() && is_space(src_[pos_])) {
        line_starting_ = src_[pos_] == '\n';
        line_ += src_[pos_] == '\n' ? 1 : 0;
        ++pos_;
      }
    } else if (sign == 0 && trim_newline && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
      ++line_;
      line_starting_ = true;
    }
  }

  void lex_comment() {
    const int start_line = line_;
    const size_t end = src_.find("#}", pos_);
    if (end == std::string::npos) fail("chat template line {}: comment is never closed ('#}}' missing)", start_line);
    const char sign = end > pos_ && (src_[end - 1] == '-' || src_[end - 1] == '+') ? src_[end - 1] : 0;
    line_ += count_newlines(std::string_view(src_).substr(pos_, end - pos_));
    pos_ = end + 2;
    after_tag(sign, true);
  }

  void lex_tag(bool is_variable) {
    const int start_line = line_;
    tokens_.push_back({is_variable ? Token::Kind::kVarBegin : Token::Kind::kBlockBegin, "", line_});
    int depth = 0;
    while (true) {
      while (pos_ < src_.size() && is_space(src_[pos_])) {
        line_ += src_[pos_] == '\n' ? 1 : 0;
        ++pos_;
      }
      if (pos_ >= src_.size()) {
        fail("chat template line {}: '{}' tag is never closed ('{}' missing)", start_line,
             is_variable ? "{{" : "{%", is_variable ? "}}" : "%}");
      }
      if (depth == 0) {
        const std::string_view rest = std::string_view(src_).substr(pos_);
        const std::string_view close = is_variable ? "}}" : "%}";
        char sign = 0;
        if (rest.size() >= 3 && (rest[0] == '-' || (rest[0] == '+' && !is_variable)) && rest.substr(1, 2) == close) {
          sign = rest[0];
        }
        if (sign != 0 || rest.substr(0, 2) == close) {
          tokens_.push_back({is_variable ? Token::Kind::kVarEnd : Token::Kind::kBlockEnd, "", line_});
          pos_ += sign != 0 ? 3 : 2;
          after_tag(sign, !is_variable);
          return;
        }
      }
      lex_expression_token(depth);
    }
  }

  void lex_expression_token(int& depth) {
    const char c = src_[pos_];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      const size_t start = pos_;
      while (pos_ < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) ++pos_;
      tokens_.push_back({Token::Kind::kName, src_.substr(start, pos_ - start), line_});
      return;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      lex_number();
      return;
    }
    if (c == '\'' || c == '"') {
      lex_string(c);
      return;
    }
    static constexpr std::string_view kTwoCharOperators[] = {"//", "**", "==", "!=", "<=", ">="};
    for (const std::string_view op : kTwoCharOperators) {
      if (std::string_view(src_).substr(pos_, 2) == op) {
        tokens_.push_back({Token::Kind::kOperator, std::string(op), line_});
        pos_ += 2;
        return;
      }
    }
    if (std::string_view("+-*/%~<>=()[]{},.:|").find(c) != std::string_view::npos) {
      if (c == '(' || c == '[' || c == '{') ++depth;
      if (c == ')' || c == ']' || c == '}') {
        if (depth == 0) fail("chat template line {}: unexpected '{}'", line_, c);
        --depth;
      }
      tokens_.push_back({Token::Kind::kOperator, std::string(1, c), line_});
      ++pos_;
      return;
    }
    fail("chat template line {}: unexpected character '{}'", line_, c);
  }

  void lex_number() {
    const size_t start = pos_;
    auto digits = [&] {
      while (pos_ < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) ++pos_;
    };
    digits();
    bool is_float = false;
    // `x.0.1` is attribute access, so a number right after '.' never takes a fraction.
    const bool after_dot = !tokens_.empty() && tokens_.back().kind == Token::Kind::kOperator && tokens_.back().value == ".";
    if (!after_dot && pos_ + 1 < src_.size() && src_[pos_] == '.' && std::isdigit(static_cast<unsigned char>(src_[pos_ + 1]))) {
      is_float = true;
      ++pos_;
      digits();
    }
    if (!after_dot && pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t p = pos_ + 1;
      if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
      if (p < src_.size() && std::isdigit(static_cast<unsigned char>(src_[p]))) {
        is_float = true;
        pos_ = p;
        digits();
      }
    }
    std::string text;
    for (size_t i = start; i < pos_; ++i) {
      if (src_[i] != '_') text += src_[i];
    }
    tokens_.push_back({is_float ? Token::Kind::kFloat : Token::Kind::kInteger, std::move(text), line_});
  }

  // Python unicode-escape decoding, which is what Jinja applies to string literals.
  void lex_string(char quote) {
    const int start_line = line_;
    ++pos_;
    std::string value;
    while (true) {
      if (pos_ >= src_.size()) fail("chat template line {}: string literal is never closed", start_line);
      const char c = src_[pos_];
      if (c == quote) {
        ++pos_;
        break;
      }
      if (c == '\n') ++line_;
      if (c != '\\' || pos_ + 1 >= src_.size()) {
        value += c;
        ++pos_;
        continue;
      }
      const char e = src_[pos_ + 1];
      pos_ += 2;
      switch (e) {
        case 'n': value += '\n'; break;
        case 't': value += '\t'; break;
        case 'r': value += '\r'; break;
        case 'a': value += '\a'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'v': value += '\v'; break;
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case '\n': ++line_; break;
        case 'x': append_utf8(read_hex(2, start_line), value); break;
        case 'u': append_utf8(read_hex(4, start_line), value); break;
        case 'U': append_utf8(read_hex(8, start_line), value); break;
        default:
          if (e >= '0' && e <= '7') {
            uint32_t code = static_cast<uint32_t>(e - '0');
            for (int i = 0; i < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7'; ++i) {
              code = code * 8 + static_cast<uint32_t>(src_[pos_++] - '0');
            }
            append_utf8(code, value);
          } else {
            // Python keeps unknown escapes such as "\d" verbatim.
            value += '\\';
            value += e;
          }
      }
    }
    tokens_.push_back({Token::Kind::kString, std::move(value), start_line});
  }

  uint32_t read_hex(int digits, int line) {
    uint32_t code = 0;
    for (int i = 0; i < digits; ++i) {
      if (pos_ >= src_.size() || !std::isxdigit(static_cast<unsigned char>(src_[pos_]))) {
        fail("chat template line {}: truncated \\x/\\u escape in string literal", line);
      }
      const char h = src_[pos_++];
      code = code * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
    }
    if (code > 0x10ffff) fail("chat template line {}: escape \\U{:08x} is not a valid code point", line, code);
    return code;
  }

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace elephant::chat::jinja
