// Typed, located access to tokenizer.json members (see json_fields.h).
#include "tokenizer/json_fields.h"

#include <limits>

namespace elephant::tokenizer {

JsonField::JsonField(std::string file, std::string where, const nlohmann::json& value)
    : file_(std::make_shared<const std::string>(std::move(file))), where_(std::move(where)), value_(&value) {}

void JsonField::expect(bool ok, std::string_view expected) const {
  if (!ok) fail("expected {}, found {}", expected, value_->type_name());
}

JsonField JsonField::at(std::string_view key) const {
  auto found = find(key);
  if (!found) fail("missing required field \"{}\"", key);
  return *found;
}

std::optional<JsonField> JsonField::find(std::string_view key) const {
  expect(value_->is_object(), "an object");
  auto it = value_->find(key);
  if (it == value_->end() || it->is_null()) return std::nullopt;
  std::string where = where_.empty() ? std::string(key) : fmt::format("{}.{}", where_, key);
  return JsonField(file_, std::move(where), *it);
}

JsonField JsonField::at(std::size_t index) const {
  expect(value_->is_array(), "an array");
  if (index >= value_->size()) fail("index {} out of range (size {})", index, value_->size());
  return JsonField(file_, fmt::format("{}[{}]", where_, index), (*value_)[index]);
}

std::size_t JsonField::size() const {
  expect(value_->is_array(), "an array");
  return value_->size();
}

std::vector<std::string> JsonField::keys() const {
  expect(value_->is_object(), "an object");
  std::vector<std::string> keys;
  for (auto it = value_->begin(); it != value_->end(); ++it) keys.push_back(it.key());
  return keys;
}

std::string JsonField::string() const {
  expect(value_->is_string(), "a string");
  return value_->get<std::string>();
}

bool JsonField::boolean() const {
  expect(value_->is_boolean(), "a boolean");
  return value_->get<bool>();
}

std::int64_t JsonField::integer() const {
  expect(value_->is_number_integer(), "an integer");
  if (value_->is_number_unsigned() &&
      value_->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    fail("integer {} is too large", value_->get<std::uint64_t>());
  }
  return value_->get<std::int64_t>();
}

double JsonField::number() const {
  expect(value_->is_number(), "a number");
  return value_->get<double>();
}

int32_t JsonField::token_id() const {
  std::int64_t id = integer();
  if (id < 0 || id > std::numeric_limits<int32_t>::max()) fail("token id {} is out of range", id);
  return static_cast<int32_t>(id);
}

std::string JsonField::string_or(std::string_view key, std::string_view fallback) const {
  auto found = find(key);
  return found ? found->string() : std::string(fallback);
}

bool JsonField::boolean_or(std::string_view key, bool fallback) const {
  auto found = find(key);
  return found ? found->boolean() : fallback;
}

std::string JsonField::type() const { return at("type").string(); }

}  // namespace elephant::tokenizer
