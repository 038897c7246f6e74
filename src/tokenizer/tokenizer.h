// Public tokenizer interface: text <-> token ids for a Hugging Face model directory.
//
// Tokenizer::load picks the implementation from what the directory holds: tokenizer.json (the
// Hugging Face `tokenizers` pipeline, reproduced id for id) or else tokenizer.model (SentencePiece,
// through libsentencepiece). Both are immutable after loading, so one instance may be shared by
// threads. Input text that is not valid UTF-8 is repaired first: each ill-formed subsequence
// becomes U+FFFD, as Python's bytes.decode(errors="replace") and Rust's from_utf8_lossy do.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace elephant::tokenizer {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // `path` is a model directory (tokenizer.json, else tokenizer.model; tokenizer_config.json is
  // read for bos/eos when present) or one of those files. Throws elephant::Error.
  static std::unique_ptr<Tokenizer> load(const std::filesystem::path& path);

  // add_special_tokens: apply the model's template (e.g. prepend BOS).
  // parse_special_tokens: special tokens written in the text ("<|im_start|>") become their ids;
  // when false they are tokenized as ordinary text (for untrusted user input).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true,
                              bool parse_special_tokens = true) const {
    return encode_impl(text, add_special_tokens, parse_special_tokens);
  }
  // Unknown ids are skipped, as in Hugging Face.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const {
    return decode_impl(ids, skip_special_tokens);
  }

  // One past the largest id of the vocabulary, added tokens included (the embedding rows needed).
  virtual int32_t vocab_size() const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  virtual std::optional<std::string> id_to_token(int32_t id) const = 0;
  virtual bool is_special(int32_t id) const = 0;

  std::optional<int32_t> bos_id() const { return bos_id_; }
  std::optional<int32_t> eos_id() const { return eos_id_; }

 protected:
  virtual std::vector<int32_t> encode_impl(std::string_view text, bool add_special_tokens,
                                           bool parse_special_tokens) const = 0;
  virtual std::string decode_impl(std::span<const int32_t> ids, bool skip_special_tokens) const = 0;

  std::optional<int32_t> bos_id_;
  std::optional<int32_t> eos_id_;

  friend class TokenizerLoader;
};

}  // namespace elephant::tokenizer
