// Tree-walking evaluator for chat templates.
//
// Scoping follows Jinja, not C++: `if` shares its enclosing scope, every for-loop iteration gets a
// fresh scope (so a plain `set` inside a loop is gone at the next iteration and after the loop,
// which is why templates use namespace() to carry state out), and a macro body sees the
// template's top-level variables as they are when it is called. Errors from value operations are
// caught at the innermost expression and rethrown with that expression's line.
#include "chat/jinja_evaluator.h"

#include "chat/jinja_builtins.h"
#include "core/error.h"

#include <fmt/format.h>

#include <unordered_map>
#include <unordered_set>

namespace elephant::chat::jinja {
namespace {

enum class Flow { kNormal, kBreak, kContinue };

class Scope {
 public:
  explicit Scope(Scope* parent) : parent_(parent) {}

  Value lookup(const std::string& name) const {
    for (const Scope* scope = this; scope != nullptr; scope = scope->parent_) {
      const auto it = scope->variables_.find(name);
      if (it != scope->variables_.end()) return it->second;
    }
    return Value::undefined(fmt::format("'{}' is undefined", name));
  }
  void set(const std::string& name, Value value) { variables_[name] = std::move(value); }

 private:
  Scope* parent_;
  std::unordered_map<std::string, Value> variables_;
};

class Evaluator {
 public:
  Evaluator(const ValueDict& variables, const std::tm& now) : globals_(nullptr), root_(&globals_) {
    const ValueDict globals = make_globals(now);
    for (const auto& [name, value] : globals.entries()) globals_.set(name, value);
    for (const auto& [name, value] : variables.entries()) root_.set(name, value);
  }

  // `set ns.self = ns` (or a macro stored in a namespace) makes a reference cycle that would leak
  // the values; every cycle passes through a namespace mutated during the render, so emptying those
  // at the end frees everything.
  ~Evaluator() {
    for (const auto& ns : mutated_namespaces_) ns->attributes = ValueDict();
  }
  Evaluator(const Evaluator&) = delete;
  Evaluator& operator=(const Evaluator&) = delete;

  std::string run(const StmtList& program) {
    std::string out;
    exec_body(program, root_, out);
    return out;
  }

 private:
  Flow exec_body(const StmtList& body, Scope& scope, std::string& out) {
    for (const auto& stmt : body) {
      const Flow flow = exec(*stmt, scope, out);
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  void append(std::string& out, std::string_view text, int line) {
    if (out.size() + text.size() > kMaxOutputBytes) {
      fail("chat template line {}: rendered output exceeds {} bytes", line, kMaxOutputBytes);
    }
    out += text;
  }

  Flow exec(const Stmt& stmt, Scope& scope, std::string& out) {
    switch (stmt.kind) {
      case Stmt::Kind::kText: append(out, stmt.text, stmt.line); return Flow::kNormal;
      case Stmt::Kind::kOutput: append(out, eval(*stmt.expr, scope).str(), stmt.line); return Flow::kNormal;
      case Stmt::Kind::kIf:
        for (const auto& [condition, body] : stmt.branches) {
          if (eval(*condition, scope).truthy()) return exec_body(body, scope, out);
        }
        return exec_body(stmt.else_body, scope, out);
      case Stmt::Kind::kFor: return exec_for(stmt, scope, out);
      case Stmt::Kind::kSet: exec_set(stmt, scope); return Flow::kNormal;
      case Stmt::Kind::kSetBlock: {
        std::string captured;
        exec_body(stmt.body, scope, captured);
        scope.set(stmt.targets[0], Value(std::move(captured)));
        return Flow::kNormal;
      }
      case Stmt::Kind::kMacro: define_macro(stmt, scope); return Flow::kNormal;
      case Stmt::Kind::kBreak: return Flow::kBreak;
      case Stmt::Kind::kContinue: return Flow::kContinue;
      case Stmt::Kind::kScope: return exec_body(stmt.body, scope, out);
    }
    return Flow::kNormal;
  }

  void bind_targets(const std::vector<std::string>& targets, const Value& value, Scope& scope, int line) {
    if (targets.size() == 1) {
      scope.set(targets[0], value);
      return;
    }
    const ValueList items = wrap(line, [&] { return value.iterate(); });
    if (items.size() != targets.size()) {
      fail("chat template line {}: cannot unpack {} value(s) into {} names", line, items.size(), targets.size());
    }
    for (size_t i = 0; i < targets.size(); ++i) scope.set(targets[i], items[i]);
  }

  Flow exec_for(const Stmt& stmt, Scope& scope, std::string& out) {
    const Value iterable = eval(*stmt.expr, scope);
    ValueList items = wrap(stmt.line, [&] { return iterable.iterate(); });
    if (stmt.condition) {
      // The loop filter runs before the loop, so loop.length and loop.last count kept items only.
      ValueList kept;
      for (const Value& item : items) {
        Scope probe(&scope);
        bind_targets(stmt.targets, item, probe, stmt.line);
        if (eval(*stmt.condition, probe).truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    if (items.empty()) return exec_body(stmt.else_body, scope, out);
    const auto length = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < length; ++i) {
      Scope iteration(&scope);
      bind_targets(stmt.targets, items[static_cast<size_t>(i)], iteration, stmt.line);
      auto loop = std::make_shared<Namespace>();
      ValueDict& a = loop->attributes;
      a.set("index0", Value(i));
      a.set("index", Value(i + 1));
      a.set("revindex0", Value(length - i - 1));
      a.set("revindex", Value(length - i));
      a.set("first", Value(i == 0));
      a.set("last", Value(i == length - 1));
      a.set("length", Value(length));
      a.set("depth", Value(int64_t{1}));
      a.set("depth0", Value(int64_t{0}));
      a.set("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value::undefined("there is no previous item"));
      a.set("nextitem", i + 1 < length ? items[static_cast<size_t>(i + 1)] : Value::undefined("there is no next item"));
      a.set("cycle", Value(std::make_shared<const Callable>(Callable{"cycle", [i](const CallArgs& call) -> Value {
        if (call.positional.empty()) throw OperationError("no items for cycling given");
        return call.positional[static_cast<size_t>(i) % call.positional.size()];
      }})));
      iteration.set("loop", Value(std::move(loop)));
      if (exec_body(stmt.body, iteration, out) == Flow::kBreak) break;
    }
    return Flow::kNormal;
  }

  void exec_set(const Stmt& stmt, Scope& scope) {
    Value value = eval(*stmt.expr, scope);
    if (!stmt.attribute.empty()) {
      const Value target = scope.lookup(stmt.targets[0]);
      if (target.kind() != Value::Kind::kNamespace) {
        fail("chat template line {}: cannot assign attribute '{}' on '{}' (only namespace() objects can be modified)",
             stmt.line, stmt.attribute, stmt.targets[0]);
      }
      if (mutated_.insert(&target.as_namespace()).second) mutated_namespaces_.push_back(target.namespace_ptr());
      target.as_namespace().attributes.set(stmt.attribute, std::move(value));
      return;
    }
    bind_targets(stmt.targets, value, scope, stmt.line);
  }

  void define_macro(const Stmt& macro, Scope& scope) {
    auto callable = std::make_shared<const Callable>(
        Callable{macro.name, [this, &macro](const CallArgs& call) { return call_macro(macro, call); }});
    scope.set(macro.name, Value(std::move(callable)));
  }

  Value call_macro(const Stmt& macro, const CallArgs& call) {
    if (call_depth_ >= kMaxCallDepth) {
      fail("chat template line {}: macro '{}' nested deeper than {} calls", macro.line, macro.name, kMaxCallDepth);
    }
    struct DepthGuard {
      int& depth;
      explicit DepthGuard(int& d) : depth(++d) {}
      ~DepthGuard() { --depth; }
    } guard(call_depth_);
    if (call.positional.size() > macro.params.size()) {
      fail("chat template line {}: macro '{}' takes {} argument(s), {} given", macro.line, macro.name,
           macro.params.size(), call.positional.size());
    }
    Scope local(&root_);
    std::vector<bool> bound(macro.params.size(), false);
    for (size_t i = 0; i < call.positional.size(); ++i) {
      local.set(macro.params[i].first, call.positional[i]);
      bound[i] = true;
    }
    for (const auto& [key, value] : call.keyword) {
      size_t i = 0;
      while (i < macro.params.size() && macro.params[i].first != key) ++i;
      if (i == macro.params.size()) {
        fail("chat template line {}: macro '{}' has no parameter '{}'", macro.line, macro.name, key);
      }
      local.set(key, value);
      bound[i] = true;
    }
    for (size_t i = 0; i < macro.params.size(); ++i) {
      if (bound[i]) continue;
      const auto& [name, default_value] = macro.params[i];
      local.set(name, default_value ? eval(*default_value, local)
                                    : Value::undefined(fmt::format("'{}' is undefined", name)));
    }
    std::string out;
    exec_body(macro.body, local, out);
    return Value(std::move(out));
  }

  // Runs a value operation, turning its OperationError into an Error with the template line.
  template <typename F>
  auto wrap(int line, F&& operation) -> decltype(operation()) {
    try {
      return operation();
    } catch (const OperationError& e) {
      fail("chat template line {}: {}", line, e.what());
    }
  }

  CallArgs eval_args(const Expr& expr, size_t first, Scope& scope) {
    CallArgs args;
    for (size_t i = first; i < expr.children.size(); ++i) args.positional.push_back(eval(*expr.children[i], scope));
    for (const auto& [key, value] : expr.keywords) args.keyword.emplace_back(key, eval(*value, scope));
    return args;
  }

  Value eval(const Expr& expr, Scope& scope) {
    switch (expr.kind) {
      case Expr::Kind::kLiteral: return expr.literal;
      case Expr::Kind::kName: return scope.lookup(expr.name);
      case Expr::Kind::kAttribute: {
        const Value object = eval(*expr.children[0], scope);
        return wrap(expr.line, [&] { return get_attribute(object, expr.name); });
      }
      case Expr::Kind::kSubscript: {
        const Value object = eval(*expr.children[0], scope);
        const Value key = eval(*expr.children[1], scope);
        return wrap(expr.line, [&] { return get_item(object, key); });
      }
      case Expr::Kind::kSlice: {
        const Value object = eval(*expr.children[0], scope);
        Value parts[3];
        for (size_t i = 0; i < 3; ++i) {
          if (expr.children[i + 1]) parts[i] = eval(*expr.children[i + 1], scope);
        }
        return wrap(expr.line, [&] { return get_slice(object, parts[0], parts[1], parts[2]); });
      }
      case Expr::Kind::kCall: {
        const Value callee = eval(*expr.children[0], scope);
        const CallArgs args = eval_args(expr, 1, scope);
        return wrap(expr.line, [&] {
          require_defined(callee);
          if (callee.kind() != Value::Kind::kCallable) {
            throw OperationError(fmt::format("'{}' object is not callable", callee.type_name()));
          }
          return callee.as_callable().invoke(args);
        });
      }
      case Expr::Kind::kFilter: {
        const Value input = eval(*expr.children[0], scope);
        const CallArgs args = eval_args(expr, 1, scope);
        return wrap(expr.line, [&] { return apply_filter(expr.name, input, args); });
      }
      case Expr::Kind::kTest: {
        const Value subject = eval(*expr.children[0], scope);
        const CallArgs args = eval_args(expr, 1, scope);
        return Value(wrap(expr.line, [&] { return apply_test(expr.name, subject, args); }) != expr.negated);
      }
      case Expr::Kind::kBinary: return eval_binary(expr, scope);
      case Expr::Kind::kNegate: {
        const Value operand = eval(*expr.children[0], scope);
        return wrap(expr.line, [&] { return negate(operand); });
      }
      case Expr::Kind::kNot: return Value(!eval(*expr.children[0], scope).truthy());
      case Expr::Kind::kAnd: {
        Value left = eval(*expr.children[0], scope);
        return left.truthy() ? eval(*expr.children[1], scope) : left;
      }
      case Expr::Kind::kOr: {
        Value left = eval(*expr.children[0], scope);
        return left.truthy() ? left : eval(*expr.children[1], scope);
      }
      case Expr::Kind::kCompare: return Value(eval_compare(expr, scope));
      case Expr::Kind::kConditional:
        if (eval(*expr.children[0], scope).truthy()) return eval(*expr.children[1], scope);
        return expr.children[2] ? eval(*expr.children[2], scope) : Value::undefined("conditional without else");
      case Expr::Kind::kList: {
        ValueList items;
        for (const auto& child : expr.children) items.push_back(eval(*child, scope));
        return Value(std::move(items));
      }
      case Expr::Kind::kDict: {
        ValueDict dict;
        for (size_t i = 0; i + 1 < expr.children.size(); i += 2) {
          const Value key = eval(*expr.children[i], scope);
          if (!key.is_string()) fail("chat template line {}: dict keys must be strings, not {}", expr.line, key.type_name());
          dict.set(key.as_string(), eval(*expr.children[i + 1], scope));
        }
        return Value(std::move(dict));
      }
    }
    return Value();
  }

  Value eval_binary(const Expr& expr, Scope& scope) {
    const Value left = eval(*expr.children[0], scope);
    const Value right = eval(*expr.children[1], scope);
    const std::string& op = expr.name;
    return wrap(expr.line, [&] {
      if (op == "~") return Value(left.str() + right.str());
      if (op == "+") return add(left, right);
      if (op == "-") return subtract(left, right);
      if (op == "*") return multiply(left, right);
      if (op == "/") return divide(left, right);
      if (op == "//") return floor_divide(left, right);
      if (op == "%") return modulo(left, right);
      return power(left, right);
    });
  }

  bool eval_compare(const Expr& expr, Scope& scope) {
    Value left = eval(*expr.children[0], scope);
    for (size_t i = 0; i < expr.ops.size(); ++i) {
      Value right = eval(*expr.children[i + 1], scope);
      const std::string& op = expr.ops[i];
      const bool holds = wrap(expr.line, [&] {
        if (op == "==") return equals(left, right);
        if (op == "!=") return !equals(left, right);
        if (op == "<") return less_than(left, right);
        if (op == ">") return less_than(right, left);
        if (op == "<=") return !less_than(right, left);
        if (op == ">=") return !less_than(left, right);
        if (op == "in") return contains(right, left);
        return !contains(right, left);
      });
      if (!holds) return false;
      left = std::move(right);
    }
    return true;
  }

  Scope globals_;
  Scope root_;
  int call_depth_ = 0;
  std::unordered_set<const Namespace*> mutated_;
  std::vector<std::shared_ptr<Namespace>> mutated_namespaces_;
};

}  // namespace

std::string render(const StmtList& program, const ValueDict& variables, const std::tm& now) {
  return Evaluator(variables, now).run(program);
}

}  // namespace elephant::chat::jinja
