// Syntax tree of a parsed chat template.
//
// Two node families: Expr (values) and Stmt (template structure). Each is one struct with a kind
// tag and a small set of generic fields rather than a class per construct: the subset is small,
// the evaluator switches on the kind anyway, and every node carries the source line that error
// messages quote.
#pragma once

#include "chat/jinja_value.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace elephant::chat::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,      // literal
    kName,         // name
    kAttribute,    // children[0].name
    kSubscript,    // children[0][children[1]]
    kSlice,        // children[0][children[1]:children[2]:children[3]] (missing parts are null)
    kCall,         // children[0](children[1..], keywords)
    kFilter,       // children[0] | name(children[1..], keywords)
    kTest,         // children[0] is [not] name(children[1..])
    kBinary,       // children[0] name children[1], name in + - * / // % ** ~
    kNegate,       // -children[0]
    kNot,          // not children[0]
    kAnd,          // children[0] and children[1]
    kOr,           // children[0] or children[1]
    kCompare,      // children[0] ops[0] children[1] ops[1] children[2] ... (chained like Python)
    kConditional,  // children[1] if children[0] else children[2] (children[2] null: undefined)
    kList,         // [children...]
    kDict,         // {children[0]: children[1], children[2]: children[3], ...}
  };

  Kind kind;
  int line;
  Value literal;
  std::string name;
  std::vector<ExprPtr> children;
  std::vector<std::pair<std::string, ExprPtr>> keywords;
  std::vector<std::string> ops;
  bool negated = false;
};

struct Stmt;
using StmtList = std::vector<std::unique_ptr<Stmt>>;

struct Stmt {
  enum class Kind {
    kText,      // text
    kOutput,    // {{ expr }}
    kIf,        // branches: (condition, body)...; else_body
    kFor,       // for targets in expr [if condition]: body [else: else_body]
    kSet,       // set targets = expr, or set targets[0].attribute = expr
    kSetBlock,  // set targets[0] %}body{% endset
    kMacro,     // macro name(params) body
    kBreak,
    kContinue,
    kScope,     // a body that renders in place: transformers' {% generation %} block
  };

  Kind kind;
  int line;
  std::string text;
  ExprPtr expr;
  ExprPtr condition;
  std::vector<std::pair<ExprPtr, StmtList>> branches;
  StmtList body;
  StmtList else_body;
  std::vector<std::string> targets;
  std::string attribute;
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> params;  // macro parameters; default may be null
};

}  // namespace elephant::chat::jinja
