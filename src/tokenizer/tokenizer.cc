// Tokenizer::load: finds the tokenizer files of a model directory and reads bos/eos from
// tokenizer_config.json.
//
// tokenizer_config.json is optional and only consulted for the bos_token/eos_token names (plain
// strings or {"content": ...} objects) and, for SentencePiece models, add_bos_token/add_eos_token;
// a name that is not in the vocabulary is an error because generation would silently never stop.
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/sentencepiece_tokenizer.h"

namespace elephant::tokenizer {

namespace fs = std::filesystem;

class TokenizerLoader {
 public:
  static void set_special_ids(Tokenizer& tokenizer, const std::optional<JsonField>& config) {
    if (!config) return;
    if (auto id = lookup(tokenizer, *config, "bos_token")) tokenizer.bos_id_ = id;
    if (auto id = lookup(tokenizer, *config, "eos_token")) tokenizer.eos_id_ = id;
  }

 private:
  static std::optional<int32_t> lookup(const Tokenizer& tokenizer, const JsonField& config, std::string_view key) {
    auto field = config.find(key);
    if (!field) return std::nullopt;
    std::string name = field->is_object() ? field->at("content").string() : field->string();
    auto id = tokenizer.token_to_id(name);
    if (!id) field->fail("token \"{}\" is not in the tokenizer's vocabulary", name);
    return id;
  }
};

namespace {

// Owns the parsed tokenizer_config.json that the JsonField views point into.
struct Config {
  nlohmann::json document;
  std::optional<JsonField> root;
};

Config read_config(const fs::path& directory) {
  Config config;
  fs::path path = directory / "tokenizer_config.json";
  if (!fs::exists(path)) return config;
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    config.document = nlohmann::json::parse(buffer.str());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", path.string(), e.what());
  }
  config.root.emplace(path.string(), "", config.document);
  if (!config.root->is_object()) config.root->fail("expected a JSON object");
  return config;
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::load(const fs::path& path) {
  fs::path file = path;
  if (fs::is_directory(path)) {
    if (fs::exists(path / "tokenizer.json")) {
      file = path / "tokenizer.json";
    } else if (fs::exists(path / "tokenizer.model")) {
      file = path / "tokenizer.model";
    } else {
      fail("{}: no tokenizer.json or tokenizer.model in this directory", path.string());
    }
  } else if (!fs::exists(path)) {
    fail("{}: no such tokenizer file or directory", path.string());
  }
  Config config = read_config(file.parent_path());
  std::unique_ptr<Tokenizer> tokenizer;
  if (file.extension() == ".json") {
    tokenizer = HfTokenizer::from_file(file);
  } else {
    bool add_bos = config.root ? config.root->boolean_or("add_bos_token", true) : true;
    bool add_eos = config.root ? config.root->boolean_or("add_eos_token", false) : false;
    tokenizer = SentencePieceTokenizer::from_file(file, add_bos, add_eos);
  }
  TokenizerLoader::set_special_ids(*tokenizer, config.root);
  return tokenizer;
}

}  // namespace elephant::tokenizer
