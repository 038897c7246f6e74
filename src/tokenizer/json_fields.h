// Typed access to tokenizer.json fields with errors that name the file, the field and what was
// expected versus found.
//
// Every component parser walks the document through JsonField so that a malformed file always
// produces "tokenizer.json: model.merges[3]: expected a string, found number" rather than an
// nlohmann exception text without a location.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace elephant::tokenizer {

class JsonField {
 public:
  JsonField(std::string file, std::string where, const nlohmann::json& value);

  // A required member; a missing or null one is an error.
  JsonField at(std::string_view key) const;
  // An optional member; nullopt when absent or null.
  std::optional<JsonField> find(std::string_view key) const;
  JsonField at(std::size_t index) const;
  std::size_t size() const;  // of an array
  std::vector<std::string> keys() const;  // of an object, in document order

  bool is_string() const { return value_->is_string(); }
  bool is_array() const { return value_->is_array(); }
  bool is_object() const { return value_->is_object(); }
  std::string string() const;
  bool boolean() const;
  std::int64_t integer() const;
  double number() const;
  int32_t token_id() const;  // a non-negative integer that fits int32

  std::string string_or(std::string_view key, std::string_view fallback) const;
  bool boolean_or(std::string_view key, bool fallback) const;
  // The component's "type" member.
  std::string type() const;

  const std::string& file() const { return *file_; }
  const std::string& where() const { return where_; }

  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    elephant::fail("{}: {}: {}", *file_, where_.empty() ? "(top level)" : where_,
                   fmt::format(format, std::forward<Args>(args)...));
  }

 private:
  void expect(bool ok, std::string_view expected) const;

  std::shared_ptr<const std::string> file_;
  std::string where_;
  const nlohmann::json* value_;

  JsonField(std::shared_ptr<const std::string> file, std::string where, const nlohmann::json& value)
      : file_(std::move(file)), where_(std::move(where)), value_(&value) {}
};

}  // namespace elephant::tokenizer
