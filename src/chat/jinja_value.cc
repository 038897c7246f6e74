// Python semantics for Jinja values: truthiness, str()/repr(), json.dumps, arithmetic, comparison.
//
// The reference is what transformers renders, i.e. CPython behaviour: str(None) is "None", str of
// a list uses repr of its items with Python's quote choice, json.dumps escapes only control
// characters (ensure_ascii=False) and separates with ", " / ": ". Error texts follow Python's
// wording so a failing template reads the same as it would in transformers.
#include "chat/jinja_value.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace elephant::chat::jinja {
namespace {

// Keeps a runaway template (e.g. `'x' * 10**12`) from exhausting memory.
constexpr size_t kMaxRepeatBytes = 64u << 20;

void append_python_string_repr(std::string_view text, std::string& out) {
  const bool has_single = text.find('\'') != std::string_view::npos;
  const bool has_double = text.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  out += quote;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == static_cast<unsigned char>(quote)) {
      out += '\\';
      out += quote;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xa0) {
      // U+0080..U+009F are C1 control characters, which repr() escapes.
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(text[i + 1]));
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
}

void append_json_string(std::string_view text, std::string& out) {
  out += '"';
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

void dump_json_into(const Value& value, int indent, bool sort_keys, int level, std::string& out) {
  auto newline = [&](int depth) {
    out += '\n';
    out.append(static_cast<size_t>(indent) * static_cast<size_t>(depth), ' ');
  };
  switch (value.kind()) {
    case Value::Kind::kNone: out += "null"; return;
    case Value::Kind::kBool: out += value.as_bool() ? "true" : "false"; return;
    case Value::Kind::kInt: out += std::to_string(value.as_int()); return;
    case Value::Kind::kFloat: {
      const double d = value.as_double();
      if (std::isnan(d)) {
        out += "NaN";
      } else if (std::isinf(d)) {
        out += d > 0 ? "Infinity" : "-Infinity";
      } else {
        out += format_float(d);
      }
      return;
    }
    case Value::Kind::kString: append_json_string(value.as_string(), out); return;
    case Value::Kind::kList: {
      const ValueList& list = value.as_list();
      if (list.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < list.size(); ++i) {
        if (i > 0) out += indent < 0 ? ", " : ",";
        if (indent >= 0) newline(level + 1);
        dump_json_into(list[i], indent, sort_keys, level + 1, out);
      }
      if (indent >= 0) newline(level);
      out += ']';
      return;
    }
    case Value::Kind::kDict: {
      std::vector<const std::pair<std::string, Value>*> entries;
      for (const auto& entry : value.as_dict().entries()) entries.push_back(&entry);
      if (entries.empty()) {
        out += "{}";
        return;
      }
      if (sort_keys) {
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto* a, const auto* b) { return a->first < b->first; });
      }
      out += '{';
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i > 0) out += indent < 0 ? ", " : ",";
        if (indent >= 0) newline(level + 1);
        append_json_string(entries[i]->first, out);
        out += ": ";
        dump_json_into(entries[i]->second, indent, sort_keys, level + 1, out);
      }
      if (indent >= 0) newline(level);
      out += '}';
      return;
    }
    case Value::Kind::kUndefined:
    case Value::Kind::kNamespace:
    case Value::Kind::kCallable:
      throw OperationError(fmt::format("Object of type {} is not JSON serializable", value.type_name()));
  }
}

[[noreturn]] void unsupported_operands(std::string_view op, const Value& a, const Value& b) {
  throw OperationError(fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op, a.type_name(),
                                   b.type_name()));
}

Value repeat(const Value& sequence, int64_t times) {
  if (sequence.is_string()) {
    const std::string& s = sequence.as_string();
    if (times <= 0 || s.empty()) return Value(std::string());
    if (s.size() * static_cast<uint64_t>(times) > kMaxRepeatBytes) {
      throw OperationError("string repetition result is too large");
    }
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(times));
    for (int64_t i = 0; i < times; ++i) out += s;
    return Value(std::move(out));
  }
  const ValueList& list = sequence.as_list();
  if (times <= 0 || list.empty()) return Value(ValueList{});
  if (list.size() * static_cast<uint64_t>(times) > kMaxRepeatBytes / sizeof(Value)) {
    throw OperationError("list repetition result is too large");
  }
  ValueList out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), list.begin(), list.end());
  return Value(std::move(out));
}

int64_t floor_div_int(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

const Value* ValueDict::find(std::string_view key) const {
  for (const auto& [k, v] : entries_) {
    if (k == key) return &v;
  }
  return nullptr;
}

void ValueDict::set(std::string key, Value value) {
  for (auto& [k, v] : entries_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
}

Value Value::from_json(const Json& json) {
  switch (json.type()) {
    case Json::value_t::null: return none();
    case Json::value_t::boolean: return Value(json.get<bool>());
    case Json::value_t::number_integer: return Value(json.get<int64_t>());
    case Json::value_t::number_unsigned: {
      const auto u = json.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case Json::value_t::number_float: return Value(json.get<double>());
    case Json::value_t::string: return Value(json.get<std::string>());
    case Json::value_t::array: {
      ValueList list;
      list.reserve(json.size());
      for (const auto& item : json) list.push_back(from_json(item));
      return Value(std::move(list));
    }
    case Json::value_t::object: {
      ValueDict dict;
      for (const auto& [key, item] : json.items()) dict.set(key, from_json(item));
      return Value(std::move(dict));
    }
    case Json::value_t::binary:
    case Json::value_t::discarded: break;
  }
  throw OperationError("binary JSON values cannot be passed to a chat template");
}

int64_t Value::as_int() const {
  if (kind() == Kind::kBool) return as_bool() ? 1 : 0;
  return std::get<int64_t>(data_);
}

double Value::as_double() const {
  if (kind() == Kind::kFloat) return std::get<double>(data_);
  return static_cast<double>(as_int());
}

bool Value::truthy() const {
  switch (kind()) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool: return as_bool();
    case Kind::kInt: return as_int() != 0;
    case Kind::kFloat: return as_double() != 0.0;
    case Kind::kString: return !as_string().empty();
    case Kind::kList: return !as_list().empty();
    case Kind::kDict: return as_dict().size() > 0;
    case Kind::kNamespace:
    case Kind::kCallable: return true;
  }
  return false;
}

std::string Value::str() const {
  switch (kind()) {
    case Kind::kUndefined: return "";
    case Kind::kString: return as_string();
    default: return repr();
  }
}

std::string Value::repr() const {
  switch (kind()) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "None";
    case Kind::kBool: return as_bool() ? "True" : "False";
    case Kind::kInt: return std::to_string(as_int());
    case Kind::kFloat: return format_float(as_double());
    case Kind::kString: {
      std::string out;
      append_python_string_repr(as_string(), out);
      return out;
    }
    case Kind::kList: {
      std::string out = "[";
      const ValueList& list = as_list();
      for (size_t i = 0; i < list.size(); ++i) {
        if (i > 0) out += ", ";
        out += list[i].repr();
      }
      return out + "]";
    }
    case Kind::kDict:
    case Kind::kNamespace: {
      const ValueDict& dict = kind() == Kind::kDict ? as_dict() : as_namespace().attributes;
      std::string out = kind() == Kind::kDict ? "{" : "<Namespace {";
      bool first = true;
      for (const auto& [key, item] : dict.entries()) {
        if (!first) out += ", ";
        first = false;
        append_python_string_repr(key, out);
        out += ": " + item.repr();
      }
      return out + (kind() == Kind::kDict ? "}" : "}>");
    }
    case Kind::kCallable: return fmt::format("<function {}>", as_callable().name);
  }
  return "";
}

std::string Value::dump_json(int indent, bool sort_keys) const {
  std::string out;
  dump_json_into(*this, indent, sort_keys, 0, out);
  return out;
}

std::string Value::type_name() const {
  switch (kind()) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kList: return "list";
    case Kind::kDict: return "dict";
    case Kind::kNamespace: return "Namespace";
    case Kind::kCallable: return "function";
  }
  return "";
}

ValueList Value::iterate() const {
  switch (kind()) {
    case Kind::kUndefined: return {};
    case Kind::kList: return as_list();
    case Kind::kDict: {
      ValueList keys;
      for (const auto& entry : as_dict().entries()) keys.emplace_back(entry.first);
      return keys;
    }
    case Kind::kString: {
      ValueList chars;
      for (const std::string_view c : split_code_points(as_string())) chars.emplace_back(std::string(c));
      return chars;
    }
    default: throw OperationError(fmt::format("'{}' object is not iterable", type_name()));
  }
}

void require_defined(const Value& value) {
  if (value.is_undefined()) {
    throw OperationError(value.undefined_hint().empty() ? "value is undefined" : value.undefined_hint());
  }
}

Value add(const Value& a, const Value& b) {
  require_defined(a);
  require_defined(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_integer() && b.is_integer()) return Value(a.as_int() + b.as_int());
    return Value(a.as_double() + b.as_double());
  }
  if (a.is_string() && b.is_string()) return Value(a.as_string() + b.as_string());
  if (a.is_list() && b.is_list()) {
    ValueList joined = a.as_list();
    joined.insert(joined.end(), b.as_list().begin(), b.as_list().end());
    return Value(std::move(joined));
  }
  if (a.is_string()) {
    throw OperationError(fmt::format("can only concatenate str (not \"{}\") to str", b.type_name()));
  }
  if (a.is_list()) {
    throw OperationError(fmt::format("can only concatenate list (not \"{}\") to list", b.type_name()));
  }
  unsupported_operands("+", a, b);
}

Value subtract(const Value& a, const Value& b) {
  require_defined(a);
  require_defined(b);
  if (!a.is_number() || !b.is_number()) unsupported_operands("-", a, b);
  if (a.is_integer() && b.is_integer()) return Value(a.as_int() - b.as_int());
  return Value(a.as_double() - b.as_double());
}

Value multiply(const Value& a, const Value& b) {
  require_defined(a);
  require_defined(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_integer() && b.is_integer()) return Value(a.as_int() * b.as_int());
    return Value(a.as_double() * b.as_double());
  }
  if ((a.is_string() || a.is_list()) && b.is_integer()) return repeat(a, b.as_int());
  if (a.is_integer() && (b.is_string() || b.is_list())) return repeat(b, a.as_int());
  unsupported_operands("*", a, b);
}

Value divide(const Value& a, const Value& b) {
  require_defined(a);
  require_defined(b);
  if (!a.is_number() || !b.is_number()) unsupported_operands("/", a, b);
  if (b.as_double() == 0.0) throw OperationError("division by zero");
  return Value(a.as_double() / b.as_double());
}

Value floor_divide(const Value& a, const Value& b) {
  require_defined(a);
  require_defined(b);
  if (!a.is_number() || !b.is_number()) unsupported_operands("//", a, b);
  if (b.as_double() == 0.0) throw OperationError("integer division or modulo by zero");
  if (a.is_integer() && b.is_integer()) return Value(floor_div_int(a.as_int(), b.as_int()));
  return Value(std::floor(a.as_double() / b.as_double()));
}

Value modulo(const Value& a, const Value& b) {
  require_defined(a);
  require_defined(b);
  if (a.is_string()) throw OperationError("printf-style string formatting with '%' is not supported");
  if (!a.is_number() || !b.is_number()) unsupported_operands("%", a, b);
  if (b.as_double() == 0.0) throw OperationError("integer division or modulo by zero");
  if (a.is_integer() && b.is_integer()) {
    return Value(a.as_int() - b.as_int() * floor_div_int(a.as_int(), b.as_int()));
  }
  const double x = a.as_double();
  const double y = b.as_double();
  double r = std::fmod(x, y);
  if (r != 0.0 && ((r < 0) != (y < 0))) r += y;
  return Value(r);
}

Value power(const Value& a, const Value& b) {
  require_defined(a);
  require_defined(b);
  if (!a.is_number() || !b.is_number()) unsupported_operands("** or pow()", a, b);
  if (a.is_integer() && b.is_integer() && b.as_int() >= 0) {
    int64_t result = 1;
    for (int64_t i = 0; i < b.as_int() && i < 64; ++i) result *= a.as_int();
    return Value(result);
  }
  return Value(std::pow(a.as_double(), b.as_double()));
}

Value negate(const Value& a) {
  require_defined(a);
  if (a.is_integer()) return Value(-a.as_int());
  if (a.kind() == Value::Kind::kFloat) return Value(-a.as_double());
  throw OperationError(fmt::format("bad operand type for unary -: '{}'", a.type_name()));
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_integer() && b.is_integer()) return a.as_int() == b.as_int();
    return a.as_double() == b.as_double();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone: return true;
    case Value::Kind::kString: return a.as_string() == b.as_string();
    case Value::Kind::kList: {
      const ValueList& x = a.as_list();
      const ValueList& y = b.as_list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!equals(x[i], y[i])) return false;
      }
      return true;
    }
    case Value::Kind::kDict: {
      const ValueDict& x = a.as_dict();
      const ValueDict& y = b.as_dict();
      if (x.size() != y.size()) return false;
      for (const auto& [key, item] : x.entries()) {
        const Value* other = y.find(key);
        if (other == nullptr || !equals(item, *other)) return false;
      }
      return true;
    }
    case Value::Kind::kNamespace: return &a.as_namespace() == &b.as_namespace();
    case Value::Kind::kCallable: return &a.as_callable() == &b.as_callable();
    default: return false;
  }
}

bool less_than(const Value& a, const Value& b) {
  require_defined(a);
  require_defined(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_integer() && b.is_integer()) return a.as_int() < b.as_int();
    return a.as_double() < b.as_double();
  }
  // UTF-8 byte order equals code point order, which is how Python compares str.
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if (a.is_list() && b.is_list()) {
    const ValueList& x = a.as_list();
    const ValueList& y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals(x[i], y[i])) return less_than(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  throw OperationError(fmt::format("'<' not supported between instances of '{}' and '{}'", a.type_name(),
                                   b.type_name()));
}

bool contains(const Value& haystack, const Value& needle) {
  switch (haystack.kind()) {
    case Value::Kind::kUndefined: return false;
    case Value::Kind::kString:
      if (!needle.is_string()) {
        throw OperationError(
            fmt::format("'in <string>' requires string as left operand, not {}", needle.type_name()));
      }
      return haystack.as_string().find(needle.as_string()) != std::string::npos;
    case Value::Kind::kList:
      return std::any_of(haystack.as_list().begin(), haystack.as_list().end(),
                         [&](const Value& item) { return equals(item, needle); });
    case Value::Kind::kDict: return needle.is_string() && haystack.as_dict().find(needle.as_string()) != nullptr;
    default:
      throw OperationError(fmt::format("argument of type '{}' is not iterable", haystack.type_name()));
  }
}

std::string format_float(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  std::string text = fmt::format("{}", value);
  if (text.find_first_of(".en") == std::string::npos) text += ".0";
  return text;
}

std::vector<std::string_view> split_code_points(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t length = 1;
    if (lead >= 0xf0) {
      length = 4;
    } else if (lead >= 0xe0) {
      length = 3;
    } else if (lead >= 0xc0) {
      length = 2;
    }
    length = std::min(length, text.size() - i);
    out.push_back(text.substr(i, length));
    i += length;
  }
  return out;
}

size_t code_point_count(std::string_view text) {
  size_t count = 0;
  for (const char c : text) {
    if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++count;
  }
  return count;
}

}  // namespace elephant::chat::jinja
