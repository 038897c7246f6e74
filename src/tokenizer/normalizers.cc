// tokenizer.json normalizers: NFC/NFD/NFKC/NFKD, Lowercase, StripAccents, Strip, Replace,
// Prepend, Precompiled and Sequence.
//
// Each mirrors the Hugging Face component of the same name on the normalized string only (no
// offset alignment). Replace uses the same match iteration as the Split pre-tokenizer so that
// patterns with empty matches rewrite the same positions.
#include "tokenizer/normalizers.h"

#include <vector>

#include "tokenizer/precompiled_charsmap.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace elephant::tokenizer {
namespace {

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormalForm form) : form_(form) {}
  void normalize(std::string& text) const override { text = normalize_unicode(text, form_); }

 private:
  NormalForm form_;
};

class Lowercase final : public Normalizer {
 public:
  void normalize(std::string& text) const override { text = to_lowercase(text); }
};

class StripAccents final : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    std::string out;
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t start = pos;
      if (!is_combining_mark(next_code_point(text, pos))) out.append(text, start, pos - start);
    }
    text = std::move(out);
  }
};

class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    std::size_t begin = 0;
    std::size_t end = text.size();
    if (left_) {
      while (begin < end) {
        std::size_t pos = begin;
        if (!is_whitespace(next_code_point(text, pos))) break;
        begin = pos;
      }
    }
    if (right_) {
      while (end > begin) {
        std::size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
        std::size_t pos = start;
        if (!is_whitespace(next_code_point(text, pos))) break;
        end = start;
      }
    }
    text = text.substr(begin, end - begin);
  }

 private:
  bool left_;
  bool right_;
};

class Replace final : public Normalizer {
 public:
  Replace(const std::string& pattern, std::string content, std::string_view context)
      : regex_(pattern, context), content_(std::move(content)) {}
  void normalize(std::string& text) const override {
    std::string out;
    std::size_t previous = 0;
    for (auto [begin, end] : regex_.find_all(text)) {
      out.append(text, previous, begin - previous);
      out.append(content_);
      previous = end;
    }
    out.append(text, previous);
    text = std::move(out);
  }

 private:
  Regex regex_;
  std::string content_;
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class Precompiled final : public Normalizer {
 public:
  Precompiled(std::string_view blob, std::string_view context) : charsmap_(blob, context) {}
  void normalize(std::string& text) const override { text = charsmap_.normalize(text); }

 private:
  PrecompiledCharsmap charsmap_;
};

class Sequence final : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void normalize(std::string& text) const override {
    for (const auto& step : steps_) step->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

std::string decode_base64(const JsonField& node) {
  std::string encoded = node.string();
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : encoded) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else if (c == '=') break;
    else node.fail("expected base64 data, found character '{}'", c);
    buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

}  // namespace

std::unique_ptr<Normalizer> parse_normalizer(const JsonField& node) {
  std::string type = node.type();
  std::string context = fmt::format("{}: {}", node.file(), node.where());
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormalForm::kNfc);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormalForm::kNfd);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormalForm::kNfkc);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormalForm::kNfkd);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "Strip") {
    return std::make_unique<Strip>(node.boolean_or("strip_left", true), node.boolean_or("strip_right", true));
  }
  if (type == "Replace") {
    return std::make_unique<Replace>(pattern_from_json(node.at("pattern")), node.at("content").string(), context);
  }
  if (type == "Prepend") return std::make_unique<Prepend>(node.at("prepend").string());
  if (type == "Precompiled") {
    JsonField blob = node.at("precompiled_charsmap");
    return std::make_unique<Precompiled>(decode_base64(blob), context);
  }
  if (type == "Sequence") {
    JsonField list = node.at("normalizers");
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (std::size_t i = 0; i < list.size(); ++i) steps.push_back(parse_normalizer(list.at(i)));
    return std::make_unique<Sequence>(std::move(steps));
  }
  node.fail("unsupported normalizer type \"{}\" (supported: NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, "
            "Strip, Replace, Prepend, Precompiled, Sequence)", type);
}

}  // namespace elephant::tokenizer
