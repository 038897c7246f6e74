// The model stage of a tokenizer.json pipeline: turns one pre-tokenized piece into ids, and owns
// the base vocabulary (added tokens live in AddedTokens).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/json_fields.h"

namespace elephant::tokenizer {

class Model {
 public:
  virtual ~Model() = default;
  virtual void tokenize(std::string_view piece, std::vector<int32_t>& ids) const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  // nullptr when no token has this id.
  virtual const std::string* id_to_token(int32_t id) const = 0;
  // One past the largest id.
  virtual int32_t id_limit() const = 0;
};

// Builds the model described by a tokenizer.json "model" object (BPE or Unigram).
std::unique_ptr<Model> parse_model(const JsonField& node);

// A string -> id table with the id -> string inverse; the base of both models.
class Vocabulary {
 public:
  // Later duplicates of a string win the lookup, as in Hugging Face's hash maps.
  void add(std::string token, int32_t id);
  std::optional<int32_t> find(std::string_view token) const;
  const std::string* token(int32_t id) const;
  int32_t id_limit() const { return static_cast<int32_t>(tokens_.size()); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> ids_;
  std::vector<std::optional<std::string>> tokens_;
};

}  // namespace elephant::tokenizer
