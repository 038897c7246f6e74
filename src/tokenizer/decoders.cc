// tokenizer.json decoders: ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, BPEDecoder
// and Sequence, each reproducing the Hugging Face decode_chain of the same name.
//
// Invalid UTF-8 produced by byte-level or byte-fallback tokens is repaired the way Hugging Face
// does it: ByteLevel decodes the whole concatenation lossily (maximal subparts -> U+FFFD), while
// ByteFallback turns a run of byte tokens that is not valid UTF-8 into one U+FFFD per byte.
#include "tokenizer/decoders.h"

#include <charconv>

#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace elephant::tokenizer {
namespace {

class ByteLevel final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& token : tokens) {
      std::string mapped;
      bool all_mapped = true;
      std::size_t pos = 0;
      while (pos < token.size()) {
        auto byte = byte_level_byte(next_code_point(token, pos));
        if (!byte) {
          all_mapped = false;
          break;
        }
        mapped.push_back(static_cast<char>(*byte));
      }
      // Tokens outside the byte alphabet (added tokens such as "<|im_end|>") pass through as text.
      bytes.append(all_mapped ? mapped : token);
    }
    tokens = {sanitize_utf8(bytes)};
  }
};

class Metaspace final : public Decoder {
 public:
  Metaspace(std::string replacement, bool strip_first) : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      std::string_view token = tokens[i];
      std::size_t pos = 0;
      while (pos < token.size()) {
        if (token.substr(pos).starts_with(replacement_)) {
          if (i != 0 || !strip_first_) out.push_back(' ');
          pos += replacement_.size();
        } else {
          out.push_back(token[pos++]);
        }
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

class ByteFallback final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (is_valid_utf8(pending)) {
        out.push_back(pending);
      } else {
        for (std::size_t i = 0; i < pending.size(); ++i) out.emplace_back(kReplacementChar);
      }
      pending.clear();
    };
    for (auto& token : tokens) {
      if (auto byte = byte_token_value(token)) {
        pending.push_back(static_cast<char>(*byte));
        continue;
      }
      flush();
      out.push_back(std::move(token));
    }
    flush();
    tokens = std::move(out);
  }
};

class Fuse final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string joined;
    for (const auto& token : tokens) joined.append(token);
    tokens = {std::move(joined)};
  }
};

class Strip final : public Decoder {
 public:
  Strip(std::string content, std::size_t start, std::size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& token : tokens) {
      std::string_view view = token;
      for (std::size_t i = 0; i < start_ && view.starts_with(content_); ++i) view.remove_prefix(content_.size());
      for (std::size_t i = 0; i < stop_ && view.ends_with(content_); ++i) view.remove_suffix(content_.size());
      token = std::string(view);
    }
  }

 private:
  std::string content_;
  std::size_t start_;
  std::size_t stop_;
};

class Replace final : public Decoder {
 public:
  Replace(const std::string& pattern, std::string content, std::string_view context)
      : regex_(pattern, context), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& token : tokens) {
      std::string out;
      std::size_t previous = 0;
      for (auto [begin, end] : regex_.find_all(token)) {
        out.append(token, previous, begin - previous);
        out.append(content_);
        previous = end;
      }
      out.append(token, previous);
      token = std::move(out);
    }
  }

 private:
  Regex regex_;
  std::string content_;
};

// Classic BPE end-of-word suffix ("</w>"): a space between words, nothing after the last one.
class BpeSuffix final : public Decoder {
 public:
  explicit BpeSuffix(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string_view replacement = i + 1 == tokens.size() ? "" : " ";
      std::string out;
      std::string_view token = tokens[i];
      std::size_t pos = 0;
      while (pos < token.size()) {
        if (!suffix_.empty() && token.substr(pos).starts_with(suffix_)) {
          out.append(replacement);
          pos += suffix_.size();
        } else {
          out.push_back(token[pos++]);
        }
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  std::string suffix_;
};

class Sequence final : public Decoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& step : steps_) step->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

std::size_t count_field(const JsonField& node, std::string_view key) {
  auto field = node.find(key);
  if (!field) return 0;
  std::int64_t value = field->integer();
  if (value < 0) field->fail("expected a non-negative count, found {}", value);
  return static_cast<std::size_t>(value);
}

}  // namespace

std::optional<unsigned char> byte_token_value(std::string_view token) {
  if (token.size() != 6 || !token.starts_with("<0x") || token.back() != '>') return std::nullopt;
  unsigned value = 0;
  auto [end, error] = std::from_chars(token.data() + 3, token.data() + 5, value, 16);
  if (error != std::errc() || end != token.data() + 5) return std::nullopt;
  return static_cast<unsigned char>(value);
}

std::unique_ptr<Decoder> parse_decoder(const JsonField& node) {
  std::string type = node.type();
  std::string context = fmt::format("{}: {}", node.file(), node.where());
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "Metaspace") {
    bool strip_first;
    if (auto scheme = node.find("prepend_scheme")) {
      strip_first = scheme->string() != "never";
    } else {
      strip_first = node.boolean_or("add_prefix_space", true);
    }
    return std::make_unique<Metaspace>(node.at("replacement").string(), strip_first);
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip") {
    return std::make_unique<Strip>(node.at("content").string(), count_field(node, "start"), count_field(node, "stop"));
  }
  if (type == "Replace") {
    return std::make_unique<Replace>(pattern_from_json(node.at("pattern")), node.at("content").string(), context);
  }
  if (type == "BPEDecoder") return std::make_unique<BpeSuffix>(node.string_or("suffix", "</w>"));
  if (type == "Sequence") {
    JsonField list = node.at("decoders");
    std::vector<std::unique_ptr<Decoder>> steps;
    for (std::size_t i = 0; i < list.size(); ++i) steps.push_back(parse_decoder(list.at(i)));
    return std::make_unique<Sequence>(std::move(steps));
  }
  node.fail("unsupported decoder type \"{}\" (supported: ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, "
            "BPEDecoder, Sequence)", type);
}

}  // namespace elephant::tokenizer
