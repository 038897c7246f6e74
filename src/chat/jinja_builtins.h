// Jinja's built-in filters, tests and globals, and Python's string/dict/list methods, for the
// subset chat templates use.
//
// Everything here is a pure function of values: no template state, no line numbers. Failures throw
// OperationError and the evaluator attaches the template line. The set of supported filter and
// test names is exported so the parser can reject the others when the template is loaded.
#pragma once

#include "chat/jinja_value.h"

#include <ctime>
#include <string>
#include <string_view>

namespace elephant::chat::jinja {

bool is_supported_filter(std::string_view name);
bool is_supported_test(std::string_view name);

// `input | name(args)`. `name` must be a supported filter.
Value apply_filter(std::string_view name, const Value& input, const CallArgs& args);
// `value is name(args)`. `name` must be a supported test.
bool apply_test(std::string_view name, const Value& value, const CallArgs& args);

// `object.name`, Jinja-style: Python attributes (methods such as str.startswith or dict.items,
// returned bound to `object`) come first, then dict keys. Missing names give Undefined.
Value get_attribute(const Value& object, const std::string& name);
// `object[key]`: items first, then attributes, as Jinja's getitem does.
Value get_item(const Value& object, const Value& key);
// `object[start:stop:step]` on lists and strings; None parts take Python's defaults.
Value get_slice(const Value& object, const Value& start, const Value& stop, const Value& step);

// The globals transformers gives chat templates (raise_exception, strftime_now, namespace, dict)
// plus Jinja's range. strftime_now formats `now`, so tests can pin the date.
ValueDict make_globals(const std::tm& now);

}  // namespace elephant::chat::jinja
