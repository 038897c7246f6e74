// Recursive-descent parser for the Jinja subset (see jinja_parser.h for the grammar's source).
//
// Block tags are parsed by reading a body until one of the tags that can close it; the opener's
// line is kept so "missing {% endfor %}" points at the loop that was left open. Tags that Jinja
// has but transformers' templates do not need (include, call, filter blocks...) are rejected by
// name instead of being reported as unknown, so the error says what to implement.
#include "chat/jinja_parser.h"

#include "chat/jinja_builtins.h"
#include "chat/jinja_lexer.h"
#include "core/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <initializer_list>

namespace elephant::chat::jinja {
namespace {

constexpr std::string_view kUnsupportedTags[] = {"call",    "filter", "include",    "import", "from", "extends",
                                                 "block",   "with",   "do",         "raw",    "trans", "autoescape",
                                                 "endcall", "endfilter", "endblock", "endwith", "endraw"};

std::string describe(const Token& token) {
  switch (token.kind) {
    case Token::Kind::kText: return "template text";
    case Token::Kind::kVarBegin: return "'{{'";
    case Token::Kind::kVarEnd: return "'}}'";
    case Token::Kind::kBlockBegin: return "'{%'";
    case Token::Kind::kBlockEnd: return "'%}'";
    case Token::Kind::kString: return "string literal";
    case Token::Kind::kEnd: return "end of template";
    default: return fmt::format("'{}'", token.value);
  }
}

ExprPtr make_expr(Expr::Kind kind, int line) {
  auto expr = std::make_unique<Expr>();
  expr->kind = kind;
  expr->line = line;
  return expr;
}

std::unique_ptr<Stmt> make_stmt(Stmt::Kind kind, int line) {
  auto stmt = std::make_unique<Stmt>();
  stmt->kind = kind;
  stmt->line = line;
  return stmt;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  StmtList parse() {
    std::string stop;
    return parse_body({}, stop, "", 0);
  }

 private:
  // Counts nesting on entry to each recursive production and fails past kMaxNesting.
  class DepthGuard {
   public:
    DepthGuard(Parser& parser, int line) : parser_(parser) {
      if (++parser_.depth_ > kMaxNesting) {
        fail("chat template line {}: nesting deeper than {} levels", line, kMaxNesting);
      }
    }
    ~DepthGuard() { --parser_.depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    Parser& parser_;
  };

  const Token& peek(size_t ahead = 0) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
  const Token& next() {
    const Token& token = peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return token;
  }
  bool at_operator(std::string_view op, size_t ahead = 0) const {
    return peek(ahead).kind == Token::Kind::kOperator && peek(ahead).value == op;
  }
  bool at_name(std::string_view name, size_t ahead = 0) const {
    return peek(ahead).kind == Token::Kind::kName && peek(ahead).value == name;
  }
  [[noreturn]] void unexpected(std::string_view expected) const {
    fail("chat template line {}: expected {}, found {}", peek().line, expected, describe(peek()));
  }
  void expect_operator(std::string_view op) {
    if (!at_operator(op)) unexpected(fmt::format("'{}'", op));
    next();
  }
  std::string expect_name() {
    if (peek().kind != Token::Kind::kName) unexpected("a name");
    return next().value;
  }
  void expect_block_end() {
    if (peek().kind != Token::Kind::kBlockEnd) unexpected("'%}'");
    next();
  }

  // Parses statements until a block tag named in `stops`; leaves the parser on that tag's name.
  StmtList parse_body(std::initializer_list<std::string_view> stops, std::string& stop, std::string_view opener,
                      int open_line) {
    StmtList body;
    while (true) {
      const Token& token = peek();
      switch (token.kind) {
        case Token::Kind::kEnd:
          if (stops.size() > 0) {
            fail("chat template line {}: '{}' block opened here is never closed ({{% {} %}} missing)", open_line,
                 opener, *(stops.end() - 1));
          }
          return body;
        case Token::Kind::kText: {
          auto stmt = make_stmt(Stmt::Kind::kText, token.line);
          stmt->text = next().value;
          body.push_back(std::move(stmt));
          break;
        }
        case Token::Kind::kVarBegin: {
          auto stmt = make_stmt(Stmt::Kind::kOutput, next().line);
          stmt->expr = parse_tuple();
          if (peek().kind != Token::Kind::kVarEnd) unexpected("'}}'");
          next();
          body.push_back(std::move(stmt));
          break;
        }
        case Token::Kind::kBlockBegin: {
          const Token& name = peek(1);
          if (name.kind == Token::Kind::kName &&
              std::find(stops.begin(), stops.end(), name.value) != stops.end()) {
            next();
            stop = name.value;
            return body;
          }
          next();
          body.push_back(parse_statement());
          break;
        }
        default: unexpected("template text or a tag");
      }
    }
  }

  std::unique_ptr<Stmt> parse_statement() {
    const Token& tag = peek();
    DepthGuard guard(*this, tag.line);
    if (tag.kind != Token::Kind::kName) unexpected("a tag name");
    const std::string name = tag.value;
    const int line = tag.line;
    next();
    if (name == "if") return parse_if(line);
    if (name == "for") return parse_for(line);
    if (name == "set") return parse_set(line);
    if (name == "macro") return parse_macro(line);
    if (name == "generation") {
      auto stmt = make_stmt(Stmt::Kind::kScope, line);
      expect_block_end();
      std::string stop;
      stmt->body = parse_body({"endgeneration"}, stop, "generation", line);
      close_tag();
      return stmt;
    }
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) fail("chat template line {}: '{}' outside of a for loop", line, name);
      expect_block_end();
      return make_stmt(name == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue, line);
    }
    if (std::find(std::begin(kUnsupportedTags), std::end(kUnsupportedTags), name) != std::end(kUnsupportedTags)) {
      fail("chat template line {}: tag '{}' is not supported", line, name);
    }
    if (name.rfind("end", 0) == 0 || name == "elif" || name == "else") {
      fail("chat template line {}: unexpected '{{% {} %}}' with no block to close", line, name);
    }
    fail("chat template line {}: unknown tag '{}'", line, name);
  }

  // Consumes the closing tag's name (the parser sits on it) and its '%}'.
  void close_tag() {
    next();
    expect_block_end();
  }

  std::unique_ptr<Stmt> parse_if(int line) {
    auto stmt = make_stmt(Stmt::Kind::kIf, line);
    ExprPtr condition = parse_expression();
    expect_block_end();
    while (true) {
      std::string stop;
      StmtList body = parse_body({"elif", "else", "endif"}, stop, "if", line);
      stmt->branches.emplace_back(std::move(condition), std::move(body));
      next();
      if (stop == "elif") {
        condition = parse_expression();
        expect_block_end();
        continue;
      }
      expect_block_end();
      if (stop == "else") {
        stmt->else_body = parse_body({"endif"}, stop, "if", line);
        close_tag();
      }
      return stmt;
    }
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> targets;
    const bool parenthesized = at_operator("(");
    if (parenthesized) next();
    targets.push_back(expect_name());
    while (at_operator(",")) {
      next();
      targets.push_back(expect_name());
    }
    if (parenthesized) expect_operator(")");
    return targets;
  }

  std::unique_ptr<Stmt> parse_for(int line) {
    auto stmt = make_stmt(Stmt::Kind::kFor, line);
    stmt->targets = parse_targets();
    if (!at_name("in")) unexpected("'in'");
    next();
    stmt->expr = parse_expression(false);
    if (at_name("if")) {
      next();
      stmt->condition = parse_expression();
    }
    if (at_name("recursive")) fail("chat template line {}: recursive for loops are not supported", line);
    expect_block_end();
    ++loop_depth_;
    std::string stop;
    stmt->body = parse_body({"else", "endfor"}, stop, "for", line);
    --loop_depth_;
    if (stop == "else") {
      close_tag();
      stmt->else_body = parse_body({"endfor"}, stop, "for", line);
    }
    close_tag();
    return stmt;
  }

  std::unique_ptr<Stmt> parse_set(int line) {
    auto stmt = make_stmt(Stmt::Kind::kSet, line);
    stmt->targets.push_back(expect_name());
    if (at_operator(".")) {
      next();
      stmt->attribute = expect_name();
    } else {
      while (at_operator(",")) {
        next();
        stmt->targets.push_back(expect_name());
      }
    }
    if (peek().kind == Token::Kind::kBlockEnd && stmt->targets.size() == 1 && stmt->attribute.empty()) {
      next();
      stmt->kind = Stmt::Kind::kSetBlock;
      std::string stop;
      stmt->body = parse_body({"endset"}, stop, "set", line);
      close_tag();
      return stmt;
    }
    expect_operator("=");
    stmt->expr = parse_tuple();
    expect_block_end();
    return stmt;
  }

  std::unique_ptr<Stmt> parse_macro(int line) {
    auto stmt = make_stmt(Stmt::Kind::kMacro, line);
    stmt->name = expect_name();
    expect_operator("(");
    while (!at_operator(")")) {
      std::string param = expect_name();
      ExprPtr default_value;
      if (at_operator("=")) {
        next();
        default_value = parse_expression();
      }
      stmt->params.emplace_back(std::move(param), std::move(default_value));
      if (!at_operator(",")) break;
      next();
    }
    expect_operator(")");
    expect_block_end();
    // A macro body is its own function: break/continue cannot reach a loop around the definition.
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    std::string stop;
    stmt->body = parse_body({"endmacro"}, stop, "macro", line);
    loop_depth_ = saved_loop_depth;
    close_tag();
    return stmt;
  }

  // `a, b` without brackets builds a tuple (a list here), as in `{{ a, b }}` or `set x = a, b`.
  ExprPtr parse_tuple() {
    ExprPtr first = parse_expression();
    if (!at_operator(",")) return first;
    auto tuple = make_expr(Expr::Kind::kList, first->line);
    tuple->children.push_back(std::move(first));
    while (at_operator(",")) {
      next();
      if (peek().kind == Token::Kind::kVarEnd || peek().kind == Token::Kind::kBlockEnd || at_operator(")")) break;
      tuple->children.push_back(parse_expression());
    }
    return tuple;
  }

  ExprPtr parse_expression(bool with_conditional = true) {
    DepthGuard guard(*this, peek().line);
    ExprPtr expr = parse_or();
    if (!with_conditional) return expr;
    while (at_name("if")) {
      auto conditional = make_expr(Expr::Kind::kConditional, next().line);
      conditional->children.push_back(parse_or());
      conditional->children.push_back(std::move(expr));
      if (at_name("else")) {
        next();
        conditional->children.push_back(parse_expression());
      } else {
        conditional->children.push_back(nullptr);
      }
      expr = std::move(conditional);
    }
    return expr;
  }

  ExprPtr binary(Expr::Kind kind, std::string op, ExprPtr left, ExprPtr right, int line) {
    auto expr = make_expr(kind, line);
    expr->name = std::move(op);
    expr->children.push_back(std::move(left));
    expr->children.push_back(std::move(right));
    return expr;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (at_name("or")) {
      const int line = next().line;
      left = binary(Expr::Kind::kOr, "or", std::move(left), parse_and(), line);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (at_name("and")) {
      const int line = next().line;
      left = binary(Expr::Kind::kAnd, "and", std::move(left), parse_not(), line);
    }
    return left;
  }

  ExprPtr parse_not() {
    if (at_name("not")) {
      DepthGuard guard(*this, peek().line);
      auto expr = make_expr(Expr::Kind::kNot, next().line);
      expr->children.push_back(parse_not());
      return expr;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    ExprPtr first = parse_math1();
    ExprPtr compare;
    while (true) {
      std::string op;
      const Token& token = peek();
      if (token.kind == Token::Kind::kOperator &&
          (token.value == "==" || token.value == "!=" || token.value == "<" || token.value == ">" ||
           token.value == "<=" || token.value == ">=")) {
        op = token.value;
        next();
      } else if (at_name("in")) {
        op = "in";
        next();
      } else if (at_name("not") && at_name("in", 1)) {
        op = "not in";
        next();
        next();
      } else {
        break;
      }
      if (!compare) {
        compare = make_expr(Expr::Kind::kCompare, first->line);
        compare->children.push_back(std::move(first));
      }
      compare->ops.push_back(op);
      compare->children.push_back(parse_math1());
    }
    return compare ? std::move(compare) : std::move(first);
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (at_operator("+") || at_operator("-")) {
      const Token& op = next();
      left = binary(Expr::Kind::kBinary, op.value, std::move(left), parse_concat(), op.line);
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (at_operator("~")) {
      const int line = next().line;
      left = binary(Expr::Kind::kBinary, "~", std::move(left), parse_math2(), line);
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (at_operator("*") || at_operator("/") || at_operator("//") || at_operator("%")) {
      const Token& op = next();
      left = binary(Expr::Kind::kBinary, op.value, std::move(left), parse_pow(), op.line);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary();
    while (at_operator("**")) {
      const int line = next().line;
      left = binary(Expr::Kind::kBinary, "**", std::move(left), parse_unary(), line);
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter = true) {
    DepthGuard guard(*this, peek().line);
    ExprPtr node;
    if (at_operator("-")) {
      node = make_expr(Expr::Kind::kNegate, next().line);
      node->children.push_back(parse_unary(false));
    } else if (at_operator("+")) {
      next();
      node = parse_unary(false);
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& token = peek();
    const int line = token.line;
    switch (token.kind) {
      case Token::Kind::kName: {
        next();
        auto expr = make_expr(Expr::Kind::kLiteral, line);
        if (token.value == "true" || token.value == "True") {
          expr->literal = Value(true);
        } else if (token.value == "false" || token.value == "False") {
          expr->literal = Value(false);
        } else if (token.value == "none" || token.value == "None") {
          expr->literal = Value::none();
        } else {
          expr->kind = Expr::Kind::kName;
          expr->name = token.value;
        }
        return expr;
      }
      case Token::Kind::kString: {
        std::string text;
        while (peek().kind == Token::Kind::kString) text += next().value;
        auto expr = make_expr(Expr::Kind::kLiteral, line);
        expr->literal = Value(std::move(text));
        return expr;
      }
      case Token::Kind::kInteger: {
        errno = 0;
        const long long value = std::strtoll(token.value.c_str(), nullptr, 10);
        if (errno == ERANGE) fail("chat template line {}: integer literal {} is too large", line, token.value);
        next();
        auto expr = make_expr(Expr::Kind::kLiteral, line);
        expr->literal = Value(static_cast<int64_t>(value));
        return expr;
      }
      case Token::Kind::kFloat: {
        auto expr = make_expr(Expr::Kind::kLiteral, line);
        expr->literal = Value(std::strtod(token.value.c_str(), nullptr));
        next();
        return expr;
      }
      case Token::Kind::kOperator:
        if (token.value == "(") return parse_parenthesized();
        if (token.value == "[") return parse_list();
        if (token.value == "{") return parse_dict();
        break;
      default: break;
    }
    unexpected("an expression");
  }

  ExprPtr parse_parenthesized() {
    const int line = next().line;
    if (at_operator(")")) {
      next();
      return make_expr(Expr::Kind::kList, line);
    }
    ExprPtr expr = parse_expression();
    if (at_operator(",")) {
      auto tuple = make_expr(Expr::Kind::kList, line);
      tuple->children.push_back(std::move(expr));
      while (at_operator(",")) {
        next();
        if (at_operator(")")) break;
        tuple->children.push_back(parse_expression());
      }
      expr = std::move(tuple);
    }
    expect_operator(")");
    return expr;
  }

  ExprPtr parse_list() {
    auto list = make_expr(Expr::Kind::kList, next().line);
    while (!at_operator("]")) {
      list->children.push_back(parse_expression());
      if (!at_operator(",")) break;
      next();
    }
    expect_operator("]");
    return list;
  }

  ExprPtr parse_dict() {
    auto dict = make_expr(Expr::Kind::kDict, next().line);
    while (!at_operator("}")) {
      dict->children.push_back(parse_expression());
      expect_operator(":");
      dict->children.push_back(parse_expression());
      if (!at_operator(",")) break;
      next();
    }
    expect_operator("}");
    return dict;
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (at_operator(".")) {
        const int line = next().line;
        if (peek().kind == Token::Kind::kName) {
          auto attribute = make_expr(Expr::Kind::kAttribute, line);
          attribute->name = next().value;
          attribute->children.push_back(std::move(node));
          node = std::move(attribute);
        } else if (peek().kind == Token::Kind::kInteger) {
          auto subscript = make_expr(Expr::Kind::kSubscript, line);
          auto index = make_expr(Expr::Kind::kLiteral, line);
          index->literal = Value(static_cast<int64_t>(std::strtoll(next().value.c_str(), nullptr, 10)));
          subscript->children.push_back(std::move(node));
          subscript->children.push_back(std::move(index));
          node = std::move(subscript);
        } else {
          unexpected("an attribute name");
        }
      } else if (at_operator("[")) {
        node = parse_subscript(std::move(node));
      } else if (at_operator("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr object) {
    const int line = next().line;
    ExprPtr start;
    if (!at_operator(":")) {
      start = parse_expression();
      if (at_operator("]")) {
        next();
        auto subscript = make_expr(Expr::Kind::kSubscript, line);
        subscript->children.push_back(std::move(object));
        subscript->children.push_back(std::move(start));
        return subscript;
      }
    }
    auto slice = make_expr(Expr::Kind::kSlice, line);
    slice->children.push_back(std::move(object));
    slice->children.push_back(std::move(start));
    expect_operator(":");
    slice->children.push_back(at_operator("]") || at_operator(":") ? nullptr : parse_expression());
    if (at_operator(":")) {
      next();
      slice->children.push_back(at_operator("]") ? nullptr : parse_expression());
    } else {
      slice->children.push_back(nullptr);
    }
    expect_operator("]");
    return slice;
  }

  // Parses `(args, key=value)` into `call`'s children (after the ones it already has) and keywords.
  void parse_call_args(Expr& call) {
    expect_operator("(");
    while (!at_operator(")")) {
      if (peek().kind == Token::Kind::kName && at_operator("=", 1)) {
        std::string key = next().value;
        next();
        call.keywords.emplace_back(std::move(key), parse_expression());
      } else {
        if (!call.keywords.empty()) {
          fail("chat template line {}: positional argument follows keyword argument", peek().line);
        }
        call.children.push_back(parse_expression());
      }
      if (!at_operator(",")) break;
      next();
    }
    expect_operator(")");
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto call = make_expr(Expr::Kind::kCall, peek().line);
    call->children.push_back(std::move(callee));
    parse_call_args(*call);
    return call;
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (at_operator("|")) {
        const int line = next().line;
        auto filter = make_expr(Expr::Kind::kFilter, line);
        filter->name = expect_name();
        if (!is_supported_filter(filter->name)) {
          fail("chat template line {}: filter '{}' is not supported", line, filter->name);
        }
        filter->children.push_back(std::move(node));
        if (at_operator("(")) parse_call_args(*filter);
        node = std::move(filter);
      } else if (at_name("is")) {
        node = parse_test(std::move(node));
      } else if (at_operator("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_test(ExprPtr subject) {
    const int line = next().line;
    auto test = make_expr(Expr::Kind::kTest, line);
    if (at_name("not")) {
      next();
      test->negated = true;
    }
    test->name = expect_name();
    if (!is_supported_test(test->name)) fail("chat template line {}: test '{}' is not supported", line, test->name);
    test->children.push_back(std::move(subject));
    const Token& token = peek();
    if (at_operator("(")) {
      parse_call_args(*test);
    } else if ((token.kind == Token::Kind::kName && token.value != "else" && token.value != "or" &&
                token.value != "and") ||
               token.kind == Token::Kind::kString || token.kind == Token::Kind::kInteger ||
               token.kind == Token::Kind::kFloat || at_operator("[") || at_operator("{")) {
      if (at_name("is")) fail("chat template line {}: tests cannot be chained with 'is'", token.line);
      test->children.push_back(parse_postfix(parse_primary()));
    }
    return test;
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

StmtList parse_template(std::string_view source) { return Parser(tokenize(source)).parse(); }

}  // namespace elephant::chat::jinja
