// Tokenizer over a SentencePiece .model file (Llama 1/2, Mistral v1-v3, Mixtral checkpoints that
// ship tokenizer.model without tokenizer.json), backed by libsentencepiece.
#pragma once

#include <filesystem>
#include <memory>

#include "tokenizer/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace elephant::tokenizer {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // add_bos/add_eos: what encode(add_special_tokens=true) adds (Llama's defaults: BOS only).
  static std::unique_ptr<SentencePieceTokenizer> from_file(const std::filesystem::path& path, bool add_bos,
                                                           bool add_eos);
  ~SentencePieceTokenizer() override;

  int32_t vocab_size() const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::optional<std::string> id_to_token(int32_t id) const override;
  bool is_special(int32_t id) const override;

 protected:
  std::vector<int32_t> encode_impl(std::string_view text, bool add_special_tokens,
                                   bool parse_special_tokens) const override;
  std::string decode_impl(std::span<const int32_t> ids, bool skip_special_tokens) const override;

 private:
  SentencePieceTokenizer();
  void encode_text(std::string_view text, std::vector<int32_t>& ids) const;
  // Whether decoding a stretch that starts with piece `id` drops its leading space.
  bool strips_leading_space(int id) const;

  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::filesystem::path path_;
  bool add_bos_ = true;
  bool add_eos_ = false;
  // Control pieces (<s>, </s>, [INST], ...) that encode recognises in the text, longest first.
  std::vector<std::pair<std::string, int32_t>> control_pieces_;
};

}  // namespace elephant::tokenizer
