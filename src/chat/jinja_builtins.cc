// Filters, tests, globals and Python methods for chat templates.
//
// Behaviour is matched to what transformers renders: CPython's str methods (split() with no
// separator splits on runs of whitespace, strip(chars) treats chars as a set), Jinja 3's filters
// (title splits words on spaces and brackets, unlike str.title; default only replaces Undefined
// unless boolean=true) and transformers' own tojson (json.dumps with ensure_ascii=False and key
// order kept). Case mapping is ASCII-only; see docs/chat_templates.md.
#include "chat/jinja_builtins.h"

#include "core/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <memory>

namespace elephant::chat::jinja {
namespace {

// `range()` materializes a list; this bounds what a template can allocate with it.
constexpr int64_t kMaxRangeLength = 1 << 20;

constexpr std::string_view kFilters[] = {
    "abs",   "capitalize", "count",  "d",       "default", "first",     "float",  "int",    "items",
    "join",  "last",       "length", "list",    "lower",   "map",       "max",    "min",    "reject",
    "rejectattr", "replace", "reverse", "round", "safe",   "select",    "selectattr", "sort", "string",
    "sum",   "title",      "tojson", "trim",    "unique",  "upper",
};

constexpr std::string_view kTests[] = {
    "boolean", "callable", "defined", "divisibleby", "eq",       "equalto", "even",     "false",  "float",
    "ge",      "gt",       "greaterthan", "in",      "integer",  "iterable", "le",      "lessthan", "lower",
    "lt",      "mapping",  "ne",       "none",    "number",      "odd",      "sameas",  "sequence", "string",
    "true",    "undefined", "upper",   "==",      "!=",          "<",        "<=",      ">",        ">=",
};

// Binds positional and keyword arguments to parameter names, like a Python signature.
class Args {
 public:
  Args(std::string_view function, const CallArgs& args, std::initializer_list<std::string_view> names)
      : values_(names.size()) {
    if (args.positional.size() > names.size()) {
      throw OperationError(fmt::format("{}() takes at most {} argument(s) ({} given)", function, names.size(),
                                       args.positional.size()));
    }
    for (size_t i = 0; i < args.positional.size(); ++i) values_[i] = &args.positional[i];
    for (const auto& [key, value] : args.keyword) {
      const auto it = std::find(names.begin(), names.end(), key);
      if (it == names.end()) {
        throw OperationError(fmt::format("{}() got an unexpected keyword argument '{}'", function, key));
      }
      values_[static_cast<size_t>(it - names.begin())] = &value;
    }
  }
  bool has(size_t i) const { return values_[i] != nullptr && !values_[i]->is_undefined(); }
  Value get(size_t i, Value fallback) const { return has(i) ? *values_[i] : std::move(fallback); }
  // Python None and an absent argument mean the same for the optional parameters used here.
  bool given(size_t i) const { return has(i) && !values_[i]->is_none(); }

 private:
  std::vector<const Value*> values_;
};

uint32_t decode(std::string_view c) {
  const auto b0 = static_cast<unsigned char>(c[0]);
  if (c.size() == 1) return b0;
  uint32_t code = b0 & (c.size() == 2 ? 0x1f : c.size() == 3 ? 0x0f : 0x07);
  for (size_t i = 1; i < c.size(); ++i) code = (code << 6) | (static_cast<unsigned char>(c[i]) & 0x3f);
  return code;
}

// str.isspace() for one code point.
bool is_python_space(std::string_view c) {
  const uint32_t code = decode(c);
  return (code >= 0x09 && code <= 0x0d) || (code >= 0x1c && code <= 0x20) || code == 0x85 || code == 0xa0 ||
         code == 0x1680 || (code >= 0x2000 && code <= 0x200a) || code == 0x2028 || code == 0x2029 ||
         code == 0x202f || code == 0x205f || code == 0x3000;
}

std::string join_points(const std::vector<std::string_view>& points, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) out += points[i];
  return out;
}

const std::string& require_string(std::string_view function, const Value& value) {
  if (!value.is_string()) {
    throw OperationError(fmt::format("{}() argument must be str, not {}", function, value.type_name()));
  }
  return value.as_string();
}

std::string strip(const std::string& text, const Value& chars, bool left, bool right) {
  const auto points = split_code_points(text);
  std::vector<std::string_view> set;
  const bool whitespace = chars.is_undefined() || chars.is_none();
  if (!whitespace) {
    for (const auto c : split_code_points(require_string("strip", chars))) set.push_back(c);
  }
  auto strippable = [&](std::string_view c) {
    return whitespace ? is_python_space(c) : std::find(set.begin(), set.end(), c) != set.end();
  };
  size_t begin = 0;
  size_t end = points.size();
  while (left && begin < end && strippable(points[begin])) ++begin;
  while (right && end > begin && strippable(points[end - 1])) --end;
  return join_points(points, begin, end);
}

std::string ascii_lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

std::string ascii_upper(std::string text) {
  for (char& c : text) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return text;
}

bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string capitalize(const std::string& text) {
  std::string out = ascii_lower(text);
  if (!out.empty()) out[0] = ascii_upper(std::string(1, out[0]))[0];
  return out;
}

// Python str.title(): a letter is uppercased when the previous character is not a letter.
std::string python_title(const std::string& text) {
  std::string out = text;
  bool previous_cased = false;
  for (char& c : out) {
    if (is_ascii_alpha(c)) {
      c = previous_cased ? ascii_lower(std::string(1, c))[0] : ascii_upper(std::string(1, c))[0];
      previous_cased = true;
    } else {
      previous_cased = false;
    }
  }
  return out;
}

// Jinja's title filter: capitalizes each piece between runs of whitespace, '-', '(', '{', '[', '<'.
std::string jinja_title(const std::string& text) {
  std::string out;
  size_t i = 0;
  auto is_separator = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '-' || c == '(' ||
           c == '{' || c == '[' || c == '<';
  };
  while (i < text.size()) {
    size_t j = i;
    const bool separator = is_separator(text[i]);
    while (j < text.size() && is_separator(text[j]) == separator) ++j;
    const std::string piece = text.substr(i, j - i);
    out += separator ? piece : capitalize(piece);
    i = j;
  }
  return out;
}

std::string replace(const std::string& text, const std::string& old, const std::string& replacement,
                    int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts the replacement between every character and at both ends.
    const auto points = split_code_points(text);
    int64_t done = 0;
    for (const auto c : points) {
      if (count < 0 || done < count) {
        out += replacement;
        ++done;
      }
      out += c;
    }
    if (count < 0 || done < count) out += replacement;
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t found = text.find(old, pos);
    if (found == std::string::npos) break;
    out.append(text, pos, found - pos);
    out += replacement;
    pos = found + old.size();
    ++done;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

ValueList split(const std::string& text, const Value& separator, int64_t max_split, bool from_right) {
  std::vector<std::string> parts;
  if (separator.is_undefined() || separator.is_none()) {
    const auto points = split_code_points(text);
    // Runs of whitespace separate; leading/trailing whitespace yields no empty parts.
    std::vector<std::pair<size_t, size_t>> words;
    size_t i = 0;
    while (i < points.size()) {
      while (i < points.size() && is_python_space(points[i])) ++i;
      if (i == points.size()) break;
      size_t j = i;
      while (j < points.size() && !is_python_space(points[j])) ++j;
      words.emplace_back(i, j);
      i = j;
    }
    if (max_split < 0 || static_cast<size_t>(max_split) >= words.size()) {
      for (const auto& [b, e] : words) parts.push_back(join_points(points, b, e));
    } else if (!from_right) {
      for (size_t w = 0; w < static_cast<size_t>(max_split); ++w) {
        parts.push_back(join_points(points, words[w].first, words[w].second));
      }
      // The remainder keeps its trailing whitespace, as in Python.
      parts.push_back(join_points(points, words[static_cast<size_t>(max_split)].first, points.size()));
    } else {
      const size_t keep = words.size() - static_cast<size_t>(max_split);
      parts.push_back(join_points(points, 0, words[keep - 1].second));
      for (size_t w = keep; w < words.size(); ++w) parts.push_back(join_points(points, words[w].first, words[w].second));
    }
  } else {
    const std::string& sep = require_string("split", separator);
    if (sep.empty()) throw OperationError("empty separator");
    if (!from_right) {
      size_t pos = 0;
      int64_t done = 0;
      while (max_split < 0 || done < max_split) {
        const size_t found = text.find(sep, pos);
        if (found == std::string::npos) break;
        parts.push_back(text.substr(pos, found - pos));
        pos = found + sep.size();
        ++done;
      }
      parts.push_back(text.substr(pos));
    } else {
      size_t end = text.size();
      int64_t done = 0;
      std::vector<std::string> reversed;
      while (max_split < 0 || done < max_split) {
        if (end < sep.size()) break;
        const size_t found = text.rfind(sep, end - sep.size());
        if (found == std::string::npos) break;
        reversed.push_back(text.substr(found + sep.size(), end - found - sep.size()));
        end = found;
        ++done;
      }
      reversed.push_back(text.substr(0, end));
      parts.assign(reversed.rbegin(), reversed.rend());
    }
  }
  ValueList out;
  for (auto& part : parts) out.emplace_back(std::move(part));
  return out;
}

ValueList split_lines(const std::string& text) {
  ValueList out;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' || text[i] == '\r') {
      out.emplace_back(text.substr(start, i - start));
      if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  if (start < text.size()) out.emplace_back(text.substr(start));
  return out;
}

bool starts_or_ends_with(const std::string& text, const Value& affix, bool start) {
  auto check = [&](const Value& candidate) {
    const std::string& a = require_string(start ? "startswith" : "endswith", candidate);
    if (a.size() > text.size()) return false;
    return start ? text.compare(0, a.size(), a) == 0 : text.compare(text.size() - a.size(), a.size(), a) == 0;
  };
  if (affix.is_list()) return std::any_of(affix.as_list().begin(), affix.as_list().end(), check);
  return check(affix);
}

// Python's code point index of a byte offset, for find().
int64_t code_point_index(const std::string& text, size_t byte_offset) {
  return static_cast<int64_t>(code_point_count(std::string_view(text).substr(0, byte_offset)));
}

std::shared_ptr<const Callable> method(std::string name, std::function<Value(const CallArgs&)> invoke) {
  return std::make_shared<const Callable>(Callable{std::move(name), std::move(invoke)});
}

Value string_method(const std::string& self, const std::string& name) {
  static constexpr std::string_view kMethods[] = {
      "startswith", "endswith", "strip",   "lstrip", "rstrip",  "split",   "rsplit",  "lower",   "upper",
      "replace",    "title",    "capitalize", "find", "rfind",  "count",   "join",    "splitlines", "isdigit",
      "isalpha",    "isalnum",  "isspace", "islower", "isupper"};
  if (std::find(std::begin(kMethods), std::end(kMethods), name) == std::end(kMethods)) {
    return Value::undefined(fmt::format("'str object' has no attribute '{}'", name));
  }
  return Value(method(name, [self, name](const CallArgs& call) -> Value {
    if (name == "startswith" || name == "endswith") {
      const Args args(name, call, {"prefix"});
      if (!args.has(0)) throw OperationError(fmt::format("{}() takes at least 1 argument (0 given)", name));
      return Value(starts_or_ends_with(self, args.get(0, {}), name == "startswith"));
    }
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      const Args args(name, call, {"chars"});
      return Value(strip(self, args.get(0, {}), name != "rstrip", name != "lstrip"));
    }
    if (name == "split" || name == "rsplit") {
      const Args args(name, call, {"sep", "maxsplit"});
      const int64_t max_split = args.has(1) ? args.get(1, {}).as_int() : -1;
      return Value(split(self, args.get(0, {}), max_split, name == "rsplit"));
    }
    if (name == "lower" || name == "upper" || name == "title" || name == "capitalize" || name == "splitlines") {
      const Args args(name, call, {});
      if (name == "lower") return Value(ascii_lower(self));
      if (name == "upper") return Value(ascii_upper(self));
      if (name == "title") return Value(python_title(self));
      if (name == "splitlines") return Value(split_lines(self));
      return Value(capitalize(self));
    }
    if (name == "replace") {
      const Args args(name, call, {"old", "new", "count"});
      if (!args.has(1)) throw OperationError("replace() takes at least 2 arguments");
      return Value(replace(self, require_string(name, args.get(0, {})), require_string(name, args.get(1, {})),
                           args.has(2) ? args.get(2, {}).as_int() : -1));
    }
    if (name == "find" || name == "rfind" || name == "count") {
      const Args args(name, call, {"sub"});
      const std::string sub = require_string(name, args.get(0, {}));
      if (name == "count") {
        if (sub.empty()) return Value(static_cast<int64_t>(code_point_count(self) + 1));
        int64_t n = 0;
        for (size_t pos = self.find(sub); pos != std::string::npos; pos = self.find(sub, pos + sub.size())) ++n;
        return Value(n);
      }
      const size_t pos = name == "find" ? self.find(sub) : self.rfind(sub);
      return Value(pos == std::string::npos ? int64_t{-1} : code_point_index(self, pos));
    }
    if (name == "join") {
      const Args args(name, call, {"iterable"});
      std::string out;
      bool first = true;
      for (const Value& item : args.get(0, {}).iterate()) {
        if (!first) out += self;
        first = false;
        out += require_string("join", item);
      }
      return Value(std::move(out));
    }
    const Args args(name, call, {});
    const auto points = split_code_points(self);
    if (points.empty()) return Value(false);
    bool any_cased = false;
    for (const auto c : points) {
      const char b = c.size() == 1 ? c[0] : '\x80';
      const bool digit = b >= '0' && b <= '9';
      const bool alpha = is_ascii_alpha(b);
      if (name == "isdigit" && !digit) return Value(false);
      if (name == "isalpha" && !alpha) return Value(false);
      if (name == "isalnum" && !digit && !alpha) return Value(false);
      if (name == "isspace" && !is_python_space(c)) return Value(false);
      if (name == "islower" && b >= 'A' && b <= 'Z') return Value(false);
      if (name == "isupper" && b >= 'a' && b <= 'z') return Value(false);
      any_cased = any_cased || alpha;
    }
    return Value(name == "islower" || name == "isupper" ? any_cased : true);
  }));
}

ValueList dict_items(const ValueDict& dict) {
  ValueList items;
  for (const auto& [key, value] : dict.entries()) items.emplace_back(ValueList{Value(key), value});
  return items;
}

Value dict_method(const Value& self, const std::string& name) {
  if (name != "get" && name != "items" && name != "keys" && name != "values") return Value::undefined("");
  return Value(method(name, [self, name](const CallArgs& call) -> Value {
    const ValueDict& dict = self.as_dict();
    if (name == "get") {
      const Args args(name, call, {"key", "default"});
      const Value key = args.get(0, {});
      const Value* found = key.is_string() ? dict.find(key.as_string()) : nullptr;
      return found != nullptr ? *found : args.get(1, Value::none());
    }
    const Args args(name, call, {});
    if (name == "items") return Value(dict_items(dict));
    ValueList out;
    for (const auto& [key, value] : dict.entries()) out.push_back(name == "keys" ? Value(key) : value);
    return Value(std::move(out));
  }));
}

Value list_method(const Value& self, const std::string& name) {
  if (name != "index" && name != "count") {
    return Value::undefined(fmt::format("'list object' has no attribute '{}'", name));
  }
  return Value(method(name, [self, name](const CallArgs& call) -> Value {
    const Args args(name, call, {"value"});
    const Value needle = args.get(0, {});
    const ValueList& list = self.as_list();
    int64_t count = 0;
    for (size_t i = 0; i < list.size(); ++i) {
      if (equals(list[i], needle)) {
        if (name == "index") return Value(static_cast<int64_t>(i));
        ++count;
      }
    }
    if (name == "index") throw OperationError(fmt::format("{} is not in list", needle.repr()));
    return Value(count);
  }));
}

int64_t length_of(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined: return 0;
    case Value::Kind::kString: return static_cast<int64_t>(code_point_count(value.as_string()));
    case Value::Kind::kList: return static_cast<int64_t>(value.as_list().size());
    case Value::Kind::kDict: return static_cast<int64_t>(value.as_dict().size());
    default: throw OperationError(fmt::format("object of type '{}' has no len()", value.type_name()));
  }
}

// Jinja's attribute paths for filters: "function.name" or "0" steps through attributes and items.
Value attribute_path(const Value& item, const std::string& path) {
  Value current = item;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    current = numeric ? get_item(current, Value(static_cast<int64_t>(std::stoll(part)))) : get_item(current, Value(part));
    if (dot == std::string::npos) return current;
    start = dot + 1;
  }
}

// select/reject/selectattr/rejectattr: positional args after the test name go to the test.
CallArgs test_args(const CallArgs& args, size_t first) {
  CallArgs out;
  for (size_t i = first; i < args.positional.size(); ++i) out.positional.push_back(args.positional[i]);
  return out;
}

Value filter_items(const Value& input, const CallArgs& args, bool by_attribute, bool keep) {
  const size_t test_index = by_attribute ? 1 : 0;
  if (by_attribute && args.positional.empty()) throw OperationError("selectattr/rejectattr need an attribute name");
  const CallArgs forwarded = test_args(args, test_index + 1);
  const bool has_test = args.positional.size() > test_index;
  std::string test_name;
  if (has_test) {
    test_name = require_string("select", args.positional[test_index]);
    if (!is_supported_test(test_name)) throw OperationError(fmt::format("test '{}' is not supported", test_name));
  }
  ValueList out;
  for (const Value& item : input.iterate()) {
    const Value subject = by_attribute ? attribute_path(item, require_string("selectattr", args.positional[0])) : item;
    const bool passed = has_test ? apply_test(test_name, subject, forwarded) : subject.truthy();
    if (passed == keep) out.push_back(item);
  }
  return Value(std::move(out));
}

Value map_items(const Value& input, const CallArgs& args) {
  ValueList out;
  const ValueList items = input.iterate();
  const auto attribute = std::find_if(args.keyword.begin(), args.keyword.end(),
                                      [](const auto& kv) { return kv.first == "attribute"; });
  if (attribute != args.keyword.end()) {
    const auto fallback = std::find_if(args.keyword.begin(), args.keyword.end(),
                                       [](const auto& kv) { return kv.first == "default"; });
    for (const Value& item : items) {
      Value value = attribute_path(item, require_string("map", attribute->second));
      if (value.is_undefined() && fallback != args.keyword.end()) value = fallback->second;
      out.push_back(std::move(value));
    }
    return Value(std::move(out));
  }
  if (args.positional.empty()) throw OperationError("map() needs a filter name or attribute=");
  const std::string& filter = require_string("map", args.positional[0]);
  if (!is_supported_filter(filter)) throw OperationError(fmt::format("filter '{}' is not supported", filter));
  CallArgs forwarded = test_args(args, 1);
  forwarded.keyword = args.keyword;
  for (const Value& item : items) out.push_back(apply_filter(filter, item, forwarded));
  return Value(std::move(out));
}

Value sort_items(const Value& input, const CallArgs& call) {
  const Args args("sort", call, {"reverse", "case_sensitive", "attribute"});
  ValueList items = input.iterate();
  const bool reverse = args.get(0, Value(false)).truthy();
  const bool case_sensitive = args.get(1, Value(false)).truthy();
  const std::string attribute = args.given(2) ? require_string("sort", args.get(2, {})) : "";
  auto key = [&](const Value& item) {
    Value k = attribute.empty() ? item : attribute_path(item, attribute);
    if (!case_sensitive && k.is_string()) return Value(ascii_lower(k.as_string()));
    return k;
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    return reverse ? less_than(key(b), key(a)) : less_than(key(a), key(b));
  });
  return Value(std::move(items));
}

Value to_int(const Value& input, const CallArgs& call) {
  const Args args("int", call, {"default", "base"});
  const Value fallback = args.get(0, Value(int64_t{0}));
  if (input.is_integer()) return Value(input.as_int());
  if (input.kind() == Value::Kind::kFloat) return Value(static_cast<int64_t>(input.as_double()));
  if (input.is_string()) {
    const std::string text = strip(input.as_string(), {}, true, true);
    size_t used = 0;
    try {
      const int64_t parsed = std::stoll(text, &used, static_cast<int>(args.get(1, Value(int64_t{10})).as_int()));
      if (used == text.size()) return Value(parsed);
    } catch (const std::exception&) {
      // Not an integer: Jinja falls back to parsing a float, then to the default.
    }
    try {
      const double parsed = std::stod(text, &used);
      if (used == text.size()) return Value(static_cast<int64_t>(parsed));
    } catch (const std::exception&) {
      return fallback;
    }
  }
  return fallback;
}

Value to_float(const Value& input, const CallArgs& call) {
  const Args args("float", call, {"default"});
  if (input.is_number()) return Value(input.as_double());
  if (input.is_string()) {
    const std::string text = strip(input.as_string(), {}, true, true);
    size_t used = 0;
    try {
      const double parsed = std::stod(text, &used);
      if (used == text.size()) return Value(parsed);
    } catch (const std::exception&) {
      return args.get(0, Value(0.0));
    }
  }
  return args.get(0, Value(0.0));
}

Value min_max(const Value& input, const CallArgs& call, bool want_max) {
  const Args args(want_max ? "max" : "min", call, {"case_sensitive", "attribute"});
  const ValueList items = input.iterate();
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  const bool case_sensitive = args.get(0, Value(false)).truthy();
  const std::string attribute = args.given(1) ? require_string("max", args.get(1, {})) : "";
  auto key = [&](const Value& item) {
    Value k = attribute.empty() ? item : attribute_path(item, attribute);
    if (!case_sensitive && k.is_string()) return Value(ascii_lower(k.as_string()));
    return k;
  };
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    if (want_max ? less_than(key(items[best]), key(items[i])) : less_than(key(items[i]), key(items[best]))) best = i;
  }
  return items[best];
}

Value round_value(const Value& input, const CallArgs& call) {
  const Args args("round", call, {"precision", "method"});
  const int64_t precision = args.get(0, Value(int64_t{0})).as_int();
  const std::string how = args.given(1) ? require_string("round", args.get(1, {})) : "common";
  if (!input.is_number()) throw OperationError(fmt::format("round() of a {} is not supported", input.type_name()));
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double scaled = input.as_double() * scale;
  double rounded = 0;
  if (how == "common") {
    rounded = std::round(scaled);
  } else if (how == "ceil") {
    rounded = std::ceil(scaled);
  } else if (how == "floor") {
    rounded = std::floor(scaled);
  } else {
    throw OperationError("method must be 'common', 'ceil' or 'floor'");
  }
  return Value(rounded / scale);
}

std::string strftime_string(const std::string& format, const std::tm& now) {
  if (format.empty()) return "";
  std::string buffer(256 + format.size() * 8, '\0');
  const size_t written = std::strftime(buffer.data(), buffer.size(), format.c_str(), &now);
  if (written == 0) throw OperationError(fmt::format("strftime_now: cannot format '{}'", format));
  buffer.resize(written);
  return buffer;
}

}  // namespace

bool is_supported_filter(std::string_view name) {
  return std::find(std::begin(kFilters), std::end(kFilters), name) != std::end(kFilters);
}

bool is_supported_test(std::string_view name) {
  return std::find(std::begin(kTests), std::end(kTests), name) != std::end(kTests);
}

Value apply_filter(std::string_view name, const Value& input, const CallArgs& call) {
  const std::string function(name);
  if (name == "default" || name == "d") {
    const Args args(function, call, {"default_value", "boolean"});
    const bool use_default = args.get(1, Value(false)).truthy() ? !input.truthy() : input.is_undefined();
    return use_default ? args.get(0, Value(std::string())) : input;
  }
  if (name == "tojson") {
    const Args args(function, call, {"ensure_ascii", "indent", "separators", "sort_keys"});
    if (args.get(0, Value(false)).truthy()) throw OperationError("tojson(ensure_ascii=true) is not supported");
    if (args.given(2)) throw OperationError("tojson(separators=...) is not supported");
    const int indent = args.given(1) ? static_cast<int>(args.get(1, {}).as_int()) : -1;
    return Value(input.dump_json(indent, args.get(3, Value(false)).truthy()));
  }
  if (name == "length" || name == "count") return Value(length_of(input));
  if (name == "string") return Value(input.str());
  if (name == "safe") return input;
  if (name == "trim") {
    const Args args(function, call, {"chars"});
    return Value(strip(input.str(), args.get(0, {}), true, true));
  }
  if (name == "lower") return Value(ascii_lower(input.str()));
  if (name == "upper") return Value(ascii_upper(input.str()));
  if (name == "capitalize") return Value(capitalize(input.str()));
  if (name == "title") return Value(jinja_title(input.str()));
  if (name == "replace") {
    const Args args(function, call, {"old", "new", "count"});
    return Value(replace(input.str(), require_string("replace", args.get(0, {})),
                         require_string("replace", args.get(1, {})), args.given(2) ? args.get(2, {}).as_int() : -1));
  }
  if (name == "join") {
    const Args args(function, call, {"d", "attribute"});
    const std::string separator = args.get(0, Value(std::string())).str();
    std::string out;
    bool first = true;
    for (const Value& item : input.iterate()) {
      if (!first) out += separator;
      first = false;
      out += (args.given(1) ? attribute_path(item, args.get(1, {}).str()) : item).str();
    }
    return Value(std::move(out));
  }
  if (name == "first" || name == "last") {
    const ValueList items = input.iterate();
    if (items.empty()) return Value::undefined(fmt::format("No {} item, sequence was empty.", name));
    return name == "first" ? items.front() : items.back();
  }
  if (name == "items") {
    if (input.is_undefined()) return Value(ValueList{});
    if (!input.is_dict()) throw OperationError(fmt::format("Can only get item pairs from a mapping, not {}", input.type_name()));
    return Value(dict_items(input.as_dict()));
  }
  if (name == "list") return Value(input.iterate());
  if (name == "reverse") {
    if (input.is_string()) {
      const auto points = split_code_points(input.as_string());
      std::string out;
      for (auto it = points.rbegin(); it != points.rend(); ++it) out += *it;
      return Value(std::move(out));
    }
    ValueList items = input.iterate();
    std::reverse(items.begin(), items.end());
    return Value(std::move(items));
  }
  if (name == "unique") {
    ValueList out;
    for (const Value& item : input.iterate()) {
      if (std::none_of(out.begin(), out.end(), [&](const Value& seen) { return equals(seen, item); })) out.push_back(item);
    }
    return Value(std::move(out));
  }
  if (name == "select" || name == "reject") return filter_items(input, call, false, name == "select");
  if (name == "selectattr" || name == "rejectattr") return filter_items(input, call, true, name == "selectattr");
  if (name == "map") return map_items(input, call);
  if (name == "sort") return sort_items(input, call);
  if (name == "int") return to_int(input, call);
  if (name == "float") return to_float(input, call);
  if (name == "abs") {
    if (input.is_integer()) return Value(input.as_int() < 0 ? -input.as_int() : input.as_int());
    if (input.kind() == Value::Kind::kFloat) return Value(std::fabs(input.as_double()));
    throw OperationError(fmt::format("bad operand type for abs(): '{}'", input.type_name()));
  }
  if (name == "round") return round_value(input, call);
  if (name == "min" || name == "max") return min_max(input, call, name == "max");
  if (name == "sum") {
    const Args args(function, call, {"attribute", "start"});
    Value total = args.get(1, Value(int64_t{0}));
    for (const Value& item : input.iterate()) {
      total = add(total, args.given(0) ? attribute_path(item, args.get(0, {}).str()) : item);
    }
    return total;
  }
  throw OperationError(fmt::format("filter '{}' is not supported", name));
}

bool apply_test(std::string_view name, const Value& value, const CallArgs& call) {
  const std::string function(name);
  auto argument = [&]() -> Value {
    const Args args(function, call, {"other"});
    if (!args.has(0)) throw OperationError(fmt::format("test '{}' needs an argument", name));
    return args.get(0, {});
  };
  if (name == "defined") return !value.is_undefined();
  if (name == "undefined") return value.is_undefined();
  if (name == "none") return value.is_none();
  if (name == "boolean") return value.kind() == Value::Kind::kBool;
  if (name == "true") return value.kind() == Value::Kind::kBool && value.as_bool();
  if (name == "false") return value.kind() == Value::Kind::kBool && !value.as_bool();
  if (name == "integer") return value.kind() == Value::Kind::kInt;
  if (name == "float") return value.kind() == Value::Kind::kFloat;
  if (name == "number") return value.is_number();
  if (name == "string") return value.is_string();
  if (name == "mapping") return value.is_dict();
  if (name == "sequence" || name == "iterable") return value.is_string() || value.is_list() || value.is_dict();
  if (name == "callable") return value.kind() == Value::Kind::kCallable;
  if (name == "lower" || name == "upper") {
    if (!value.is_string()) return false;
    const std::string& s = value.as_string();
    return name == "lower" ? s == ascii_lower(s) : s == ascii_upper(s);
  }
  if (name == "odd" || name == "even") {
    require_defined(value);
    if (!value.is_integer()) throw OperationError(fmt::format("test '{}' needs an integer", name));
    return (value.as_int() % 2 != 0) == (name == "odd");
  }
  if (name == "divisibleby") {
    const Value divisor = argument();
    if (!value.is_integer() || !divisor.is_integer() || divisor.as_int() == 0) {
      throw OperationError("divisibleby needs integers and a non-zero divisor");
    }
    return value.as_int() % divisor.as_int() == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return equals(value, argument());
  if (name == "ne" || name == "!=") return !equals(value, argument());
  if (name == "lt" || name == "lessthan" || name == "<") return less_than(value, argument());
  if (name == "gt" || name == "greaterthan" || name == ">") return less_than(argument(), value);
  if (name == "le" || name == "<=") return !less_than(argument(), value);
  if (name == "ge" || name == ">=") return !less_than(value, argument());
  if (name == "in") return contains(argument(), value);
  if (name == "sameas") {
    const Value other = argument();
    // Python `is` on the singletons templates compare against (True, False, None).
    // Identity of other values is approximated by equality.
    return value.kind() == other.kind() && equals(value, other);
  }
  throw OperationError(fmt::format("test '{}' is not supported", name));
}

Value get_attribute(const Value& object, const std::string& name) {
  require_defined(object);
  switch (object.kind()) {
    case Value::Kind::kNamespace: {
      const Value* found = object.as_namespace().attributes.find(name);
      return found != nullptr ? *found : Value::undefined(fmt::format("'Namespace object' has no attribute '{}'", name));
    }
    case Value::Kind::kDict: {
      Value bound = dict_method(object, name);
      if (!bound.is_undefined()) return bound;
      const Value* found = object.as_dict().find(name);
      return found != nullptr ? *found : Value::undefined(fmt::format("'dict object' has no attribute '{}'", name));
    }
    case Value::Kind::kString: return string_method(object.as_string(), name);
    case Value::Kind::kList: return list_method(object, name);
    case Value::Kind::kNone: return Value::undefined(fmt::format("'None' has no attribute '{}'", name));
    default:
      return Value::undefined(fmt::format("'{} object' has no attribute '{}'", object.type_name(), name));
  }
}

Value get_item(const Value& object, const Value& key) {
  require_defined(object);
  switch (object.kind()) {
    case Value::Kind::kDict: {
      if (key.is_string()) {
        const Value* found = object.as_dict().find(key.as_string());
        if (found != nullptr) return *found;
        Value bound = dict_method(object, key.as_string());
        if (!bound.is_undefined()) return bound;
      }
      return Value::undefined(fmt::format("'dict object' has no attribute {}", key.repr()));
    }
    case Value::Kind::kList:
    case Value::Kind::kString: {
      if (!key.is_integer()) {
        if (key.is_string()) return get_attribute(object, key.as_string());
        throw OperationError(fmt::format("{} indices must be integers, not {}", object.type_name(), key.type_name()));
      }
      const bool is_list = object.is_list();
      const std::vector<std::string_view> points =
          is_list ? std::vector<std::string_view>{} : split_code_points(object.as_string());
      const auto size = static_cast<int64_t>(is_list ? object.as_list().size() : points.size());
      int64_t index = key.as_int();
      if (index < 0) index += size;
      if (index < 0 || index >= size) {
        return Value::undefined(fmt::format("'{} object' has no element {}", object.type_name(), key.as_int()));
      }
      if (is_list) return object.as_list()[static_cast<size_t>(index)];
      return Value(std::string(points[static_cast<size_t>(index)]));
    }
    case Value::Kind::kNamespace:
      if (key.is_string()) return get_attribute(object, key.as_string());
      break;
    default: break;
  }
  return Value::undefined(fmt::format("'{} object' has no attribute {}", object.type_name(), key.repr()));
}

Value get_slice(const Value& object, const Value& start_value, const Value& stop_value, const Value& step_value) {
  require_defined(object);
  if (!object.is_list() && !object.is_string()) {
    throw OperationError(fmt::format("'{}' object is not subscriptable", object.type_name()));
  }
  auto as_index = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    if (!v.is_integer()) throw OperationError(fmt::format("slice {} must be an integer or None", what));
    return v.as_int();
  };
  const int64_t step = as_index(step_value, "step").value_or(1);
  if (step == 0) throw OperationError("slice step cannot be zero");
  const bool is_list = object.is_list();
  const std::vector<std::string_view> points = is_list ? std::vector<std::string_view>{} : split_code_points(object.as_string());
  const auto length = static_cast<int64_t>(is_list ? object.as_list().size() : points.size());
  // CPython's PySlice_AdjustIndices.
  auto adjust = [&](std::optional<int64_t> index, int64_t fallback) {
    if (!index) return fallback;
    int64_t i = *index;
    if (i < 0) {
      i += length;
      if (i < 0) i = step < 0 ? -1 : 0;
    } else if (i >= length) {
      i = step < 0 ? length - 1 : length;
    }
    return i;
  };
  const int64_t start = adjust(as_index(start_value, "start"), step < 0 ? length - 1 : 0);
  const int64_t stop = adjust(as_index(stop_value, "stop"), step < 0 ? -1 : length);
  ValueList list_out;
  std::string string_out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (is_list) {
      list_out.push_back(object.as_list()[static_cast<size_t>(i)]);
    } else {
      string_out += points[static_cast<size_t>(i)];
    }
  }
  return is_list ? Value(std::move(list_out)) : Value(std::move(string_out));
}

ValueDict make_globals(const std::tm& now) {
  ValueDict globals;
  globals.set("raise_exception", Value(method("raise_exception", [](const CallArgs& call) -> Value {
    const Args args("raise_exception", call, {"message"});
    // The template's own message, unprefixed: it is what transformers reports for the same input.
    throw Error(args.get(0, Value(std::string())).str());
  })));
  globals.set("strftime_now", Value(method("strftime_now", [now](const CallArgs& call) -> Value {
    const Args args("strftime_now", call, {"format"});
    return Value(strftime_string(require_string("strftime_now", args.get(0, {})), now));
  })));
  globals.set("namespace", Value(method("namespace", [](const CallArgs& call) -> Value {
    auto ns = std::make_shared<Namespace>();
    for (const Value& positional : call.positional) {
      if (!positional.is_dict()) throw OperationError("namespace() positional argument must be a dict");
      for (const auto& [key, value] : positional.as_dict().entries()) ns->attributes.set(key, value);
    }
    for (const auto& [key, value] : call.keyword) ns->attributes.set(key, value);
    return Value(std::move(ns));
  })));
  globals.set("dict", Value(method("dict", [](const CallArgs& call) -> Value {
    ValueDict dict;
    for (const Value& positional : call.positional) {
      if (!positional.is_dict()) throw OperationError("dict() positional argument must be a dict");
      for (const auto& [key, value] : positional.as_dict().entries()) dict.set(key, value);
    }
    for (const auto& [key, value] : call.keyword) dict.set(key, value);
    return Value(std::move(dict));
  })));
  globals.set("range", Value(method("range", [](const CallArgs& call) -> Value {
    if (!call.keyword.empty() || call.positional.empty() || call.positional.size() > 3) {
      throw OperationError("range() takes 1 to 3 positional arguments");
    }
    for (const Value& v : call.positional) {
      if (!v.is_integer()) throw OperationError(fmt::format("range() argument must be int, not {}", v.type_name()));
    }
    const bool one = call.positional.size() == 1;
    const int64_t start = one ? 0 : call.positional[0].as_int();
    const int64_t stop = one ? call.positional[0].as_int() : call.positional[1].as_int();
    const int64_t step = call.positional.size() == 3 ? call.positional[2].as_int() : 1;
    if (step == 0) throw OperationError("range() arg 3 must not be zero");
    ValueList out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (static_cast<int64_t>(out.size()) >= kMaxRangeLength) {
        throw OperationError(fmt::format("range() longer than {} items is not supported", kMaxRangeLength));
      }
      out.emplace_back(i);
    }
    return Value(std::move(out));
  })));
  return globals;
}

}  // namespace elephant::chat::jinja
