// Runtime values of the Jinja subset used by Hugging Face chat templates.
//
// Templates see Python objects: the conversation arrives as JSON (dicts, lists, strings, numbers,
// None) and the template adds a few Jinja-only kinds: Undefined (a missing variable or key, which
// is falsy and prints as ""), namespace objects (the only mutable values: `set ns.x = ...` inside a
// loop must be seen after it), and callables (macros, globals such as raise_exception, and string
// or dict methods bound to their object). Lists and dicts are immutable and shared, as in
// transformers' ImmutableSandboxedEnvironment, so copying a Value is cheap.
//
// Dicts keep insertion order because Python dicts do: `tojson` and `for k in d` must reproduce the
// key order of the caller's JSON (tool schemas are rendered field by field).
//
// Operations follow Python semantics (bool is an int, `//` floors, str() of containers uses repr).
// They throw OperationError, which carries no template line; the evaluator adds the line.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace elephant::chat::jinja {

using Json = nlohmann::ordered_json;

// A failed operation on values (bad operand types, undefined access). The evaluator catches it and
// rethrows it as elephant::Error prefixed with the template line.
class OperationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Value;
using ValueList = std::vector<Value>;

// Insertion-ordered string-keyed map (Python dict semantics for the keys templates use).
class ValueDict {
 public:
  const Value* find(std::string_view key) const;
  // Inserts or overwrites, keeping the original position of an existing key like Python does.
  void set(std::string key, Value value);
  const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }
  size_t size() const;

 private:
  std::vector<std::pair<std::string, Value>> entries_;
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

struct Callable {
  std::string name;
  std::function<Value(const CallArgs&)> invoke;
};

// `namespace(...)` objects and the `loop` variable: attribute bags that `set ns.x = ...` mutates.
struct Namespace {
  ValueDict attributes;
};

struct Undefined {
  // What was looked up, for the message when the undefined value is used where Jinja fails
  // (e.g. "'x' is undefined", "'dict object' has no attribute 'content'").
  std::string hint;
};

class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace, kCallable };

  Value() : data_(Undefined{}) {}
  static Value undefined(std::string hint) { return Value(Data(Undefined{std::move(hint)})); }
  static Value none() { return Value(Data(nullptr)); }
  Value(bool b) : data_(b) {}
  Value(int64_t i) : data_(i) {}
  Value(int i) : data_(static_cast<int64_t>(i)) {}
  Value(double d) : data_(d) {}
  Value(std::string s) : data_(std::move(s)) {}
  Value(const char* s) : data_(std::string(s)) {}
  Value(ValueList list) : data_(std::make_shared<const ValueList>(std::move(list))) {}
  Value(ValueDict dict) : data_(std::make_shared<const ValueDict>(std::move(dict))) {}
  Value(std::shared_ptr<Namespace> ns) : data_(std::move(ns)) {}
  Value(std::shared_ptr<const Callable> callable) : data_(std::move(callable)) {}

  static Value from_json(const Json& json);

  Kind kind() const { return static_cast<Kind>(data_.index()); }
  bool is_undefined() const { return kind() == Kind::kUndefined; }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_list() const { return kind() == Kind::kList; }
  bool is_dict() const { return kind() == Kind::kDict; }
  bool is_number() const { return kind() == Kind::kBool || kind() == Kind::kInt || kind() == Kind::kFloat; }
  bool is_integer() const { return kind() == Kind::kBool || kind() == Kind::kInt; }

  bool as_bool() const { return std::get<bool>(data_); }
  const std::string& as_string() const { return std::get<std::string>(data_); }
  const ValueList& as_list() const { return *std::get<std::shared_ptr<const ValueList>>(data_); }
  const ValueDict& as_dict() const { return *std::get<std::shared_ptr<const ValueDict>>(data_); }
  Namespace& as_namespace() const { return *std::get<std::shared_ptr<Namespace>>(data_); }
  const std::shared_ptr<Namespace>& namespace_ptr() const { return std::get<std::shared_ptr<Namespace>>(data_); }
  const Callable& as_callable() const { return *std::get<std::shared_ptr<const Callable>>(data_); }
  const std::string& undefined_hint() const { return std::get<Undefined>(data_).hint; }
  // Integer value of a bool or int.
  int64_t as_int() const;
  // Numeric value of a bool, int or float.
  double as_double() const;

  // Python truthiness; Undefined is falsy.
  bool truthy() const;
  // Python str(): what `{{ value }}` prints. Undefined prints as "".
  std::string str() const;
  // Python repr(), used inside str() of lists and dicts.
  std::string repr() const;
  // json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=sort_keys): transformers'
  // `tojson` filter. indent < 0 means None (single line with ", " and ": " separators).
  std::string dump_json(int indent, bool sort_keys) const;
  // Python type name for messages ("str", "int", "dict", ...).
  std::string type_name() const;

  // Items of `for x in value`: list items, dict keys, string characters; Undefined is empty.
  ValueList iterate() const;

 private:
  using Data = std::variant<Undefined, std::nullptr_t, bool, int64_t, double, std::string,
                            std::shared_ptr<const ValueList>, std::shared_ptr<const ValueDict>,
                            std::shared_ptr<Namespace>, std::shared_ptr<const Callable>>;
  explicit Value(Data data) : data_(std::move(data)) {}
  Data data_;
};

// Defined here, where Value is complete: clang instantiates the vector's size() at its use.
inline size_t ValueDict::size() const { return entries_.size(); }

// Python operators. Each throws OperationError for operand types Python would reject.
Value add(const Value& a, const Value& b);
Value subtract(const Value& a, const Value& b);
Value multiply(const Value& a, const Value& b);
Value divide(const Value& a, const Value& b);
Value floor_divide(const Value& a, const Value& b);
Value modulo(const Value& a, const Value& b);
Value power(const Value& a, const Value& b);
Value negate(const Value& a);
bool equals(const Value& a, const Value& b);
// Python `<`: numbers, strings (code point order) and lists.
bool less_than(const Value& a, const Value& b);
// Python `needle in haystack`.
bool contains(const Value& haystack, const Value& needle);

// Fails with Jinja's UndefinedError message when `value` is Undefined; used where Jinja does not
// let an undefined value through (attribute access, arithmetic, calls).
void require_defined(const Value& value);

// Python float repr: shortest round-trip digits, "1.0" not "1", "1e+16" past 16 digits.
std::string format_float(double value);

// UTF-8 helpers: Python indexes strings by code point, not by byte.
std::vector<std::string_view> split_code_points(std::string_view text);
size_t code_point_count(std::string_view text);

}  // namespace elephant::chat::jinja
