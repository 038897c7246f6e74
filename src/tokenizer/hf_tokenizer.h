// The Hugging Face tokenizer.json pipeline: added tokens -> normalizer -> pre-tokenizer -> model
// -> post-processor, and decoder for the way back.
#pragma once

#include <filesystem>
#include <memory>
#include <set>

#include "tokenizer/added_tokens.h"
#include "tokenizer/decoders.h"
#include "tokenizer/model.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/post_processors.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/tokenizer.h"

namespace elephant::tokenizer {

class HfTokenizer final : public Tokenizer {
 public:
  // Throws elephant::Error naming the file and field when the file is malformed or uses an
  // unsupported component.
  static std::unique_ptr<HfTokenizer> from_file(const std::filesystem::path& path);

  int32_t vocab_size() const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::optional<std::string> id_to_token(int32_t id) const override;
  bool is_special(int32_t id) const override;

 protected:
  std::vector<int32_t> encode_impl(std::string_view text, bool add_special_tokens,
                                   bool parse_special_tokens) const override;
  std::string decode_impl(std::span<const int32_t> ids, bool skip_special_tokens) const override;

 private:
  HfTokenizer() = default;

  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::unique_ptr<Decoder> decoder_;
  std::unique_ptr<AddedTokens> added_tokens_;
};

}  // namespace elephant::tokenizer
