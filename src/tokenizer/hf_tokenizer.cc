// tokenizer.json loading and the encode/decode pipeline (see hf_tokenizer.h).
//
// Encoding follows Hugging Face's order exactly, since ids depend on it: raw-text added tokens are
// cut out first, each remaining stretch is normalized, normalized added tokens are cut out of the
// result, the pre-tokenizer splits what is left and the model tokenizes each piece. Decoding maps
// ids to token strings (added tokens first, unknown ids skipped) and runs the decoder chain; with
// no decoder the strings are joined with spaces, as Hugging Face does.
#include "tokenizer/hf_tokenizer.h"

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace elephant::tokenizer {

std::unique_ptr<HfTokenizer> HfTokenizer::from_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open tokenizer file", path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(buffer.str());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", path.string(), e.what());
  }
  JsonField root(path.string(), "", document);
  if (!root.is_object()) root.fail("expected a JSON object, found {}", document.type_name());

  auto tokenizer = std::unique_ptr<HfTokenizer>(new HfTokenizer());
  tokenizer->model_ = parse_model(root.at("model"));
  if (auto node = root.find("normalizer")) tokenizer->normalizer_ = parse_normalizer(*node);
  if (auto node = root.find("pre_tokenizer")) tokenizer->pre_tokenizer_ = parse_pre_tokenizer(*node);
  if (auto node = root.find("post_processor")) tokenizer->post_processor_ = parse_post_processor(*node);
  if (auto node = root.find("decoder")) tokenizer->decoder_ = parse_decoder(*node);

  std::vector<AddedToken> added;
  if (auto node = root.find("added_tokens")) added = parse_added_tokens(*node);
  // Hugging Face gives an added token the id its content already has in the model vocabulary.
  for (auto& token : added) {
    if (auto id = tokenizer->model_->token_to_id(token.content)) token.id = *id;
  }
  tokenizer->added_tokens_ = std::make_unique<AddedTokens>(std::move(added), tokenizer->normalizer_.get());
  return tokenizer;
}

std::vector<int32_t> HfTokenizer::encode_impl(std::string_view text, bool add_special_tokens,
                                              bool parse_special_tokens) const {
  std::string input = sanitize_utf8(text);
  std::vector<Segment> raw_split;
  added_tokens_->split({std::move(input), std::nullopt, true}, false, parse_special_tokens, raw_split);

  std::vector<Segment> segments;
  for (auto& segment : raw_split) {
    if (segment.token_id) {
      segments.push_back(std::move(segment));
      continue;
    }
    if (normalizer_) normalizer_->normalize(segment.text);
    if (segment.text.empty()) continue;
    added_tokens_->split(segment, true, parse_special_tokens, segments);
  }

  std::vector<int32_t> ids;
  std::vector<Piece> pieces;
  for (auto& segment : segments) {
    if (segment.token_id) {
      ids.push_back(*segment.token_id);
      continue;
    }
    pieces.clear();
    pieces.push_back({std::move(segment.text), segment.at_start});
    if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(pieces);
    for (const auto& piece : pieces) model_->tokenize(piece.text, ids);
  }
  if (add_special_tokens && post_processor_) post_processor_->process(ids);
  return ids;
}

std::string HfTokenizer::decode_impl(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    const std::string* token = added_tokens_->decode_form(id);
    if (token == nullptr) token = model_->id_to_token(id);
    if (token == nullptr) continue;
    if (skip_special_tokens && added_tokens_->is_special_content(*token)) continue;
    tokens.push_back(*token);
  }
  if (!decoder_) {
    std::string joined;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) joined.push_back(' ');
      joined.append(tokens[i]);
    }
    return joined;
  }
  decoder_->decode_chain(tokens);
  std::string text;
  for (const auto& token : tokens) text.append(token);
  return text;
}

int32_t HfTokenizer::vocab_size() const { return std::max(model_->id_limit(), added_tokens_->id_limit()); }

std::optional<int32_t> HfTokenizer::token_to_id(std::string_view token) const {
  if (auto id = added_tokens_->token_to_id(token)) return id;
  return model_->token_to_id(token);
}

std::optional<std::string> HfTokenizer::id_to_token(int32_t id) const {
  for (const auto& token : added_tokens_->tokens()) {
    if (token.id == id) return token.content;
  }
  if (const std::string* token = model_->id_to_token(id)) return *token;
  return std::nullopt;
}

bool HfTokenizer::is_special(int32_t id) const {
  for (const auto& token : added_tokens_->tokens()) {
    if (token.id == id) return token.special;
  }
  return false;
}

}  // namespace elephant::tokenizer
