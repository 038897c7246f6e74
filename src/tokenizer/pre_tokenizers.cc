// tokenizer.json pre-tokenizers: ByteLevel, Split, Metaspace, Digits, Punctuation, Whitespace,
// WhitespaceSplit, BertPreTokenizer and Sequence.
//
// All of them reduce to one primitive, as in Hugging Face: find the matches of a pattern (a regex
// or a character predicate) as a list of ranges covering the piece, then keep, drop or merge the
// matched ranges according to a delimiter behavior. Reproducing that primitive exactly (including
// how each behavior folds neighbouring ranges) is what makes piece boundaries, and so ids, match.
#include "tokenizer/pre_tokenizers.h"

#include <algorithm>
#include <functional>

#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace elephant::tokenizer {
namespace {

struct Range {
  std::size_t begin;
  std::size_t end;
  bool is_match;
};

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Behavior parse_behavior(const JsonField& node) {
  std::string name = node.string();
  if (name == "Removed") return Behavior::kRemoved;
  if (name == "Isolated") return Behavior::kIsolated;
  if (name == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::kMergedWithNext;
  if (name == "Contiguous") return Behavior::kContiguous;
  node.fail("unknown split behavior \"{}\" (expected Removed, Isolated, MergedWithPrevious, MergedWithNext "
            "or Contiguous)", name);
}

std::vector<Range> regex_ranges(const Regex& regex, std::string_view text) {
  if (text.empty()) return {{0, 0, false}};
  std::vector<Range> ranges;
  std::size_t previous = 0;
  for (auto [begin, end] : regex.find_all(text)) {
    if (previous != begin) ranges.push_back({previous, begin, false});
    ranges.push_back({begin, end, true});
    previous = end;
  }
  if (previous != text.size()) ranges.push_back({previous, text.size(), false});
  return ranges;
}

// Every character for which `matches` holds is a match of its own.
std::vector<Range> char_ranges(std::string_view text, const std::function<bool(char32_t)>& matches) {
  if (text.empty()) return {{0, 0, false}};
  std::vector<Range> ranges;
  std::size_t last = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t start = pos;
    if (matches(next_code_point(text, pos))) {
      if (last < start) ranges.push_back({last, start, false});
      ranges.push_back({start, pos, true});
      last = pos;
    }
  }
  if (pos > last) ranges.push_back({last, pos, false});
  return ranges;
}

// Applies `behavior` to the ranges of `piece` and appends the resulting non-empty pieces.
void split_piece(const Piece& piece, std::vector<Range> ranges, Behavior behavior, bool invert,
                 std::vector<Piece>& out) {
  if (invert) {
    for (auto& range : ranges) range.is_match = !range.is_match;
  }
  // (begin, end, remove)
  std::vector<Range> kept;
  switch (behavior) {
    case Behavior::kIsolated:
      for (auto range : ranges) kept.push_back({range.begin, range.end, false});
      break;
    case Behavior::kRemoved:
      kept = ranges;
      break;
    case Behavior::kContiguous: {
      bool previous_match = false;
      for (auto range : ranges) {
        if (range.is_match == previous_match && !kept.empty()) {
          kept.back().end = range.end;
        } else {
          kept.push_back({range.begin, range.end, false});
        }
        previous_match = range.is_match;
      }
      break;
    }
    case Behavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (auto range : ranges) {
        if (range.is_match && !previous_match && !kept.empty()) {
          kept.back().end = range.end;
        } else {
          kept.push_back({range.begin, range.end, false});
        }
        previous_match = range.is_match;
      }
      break;
    }
    case Behavior::kMergedWithNext: {
      bool previous_match = false;
      for (auto it = ranges.rbegin(); it != ranges.rend(); ++it) {
        if (it->is_match && !previous_match && !kept.empty()) {
          kept.back().begin = it->begin;
        } else {
          kept.push_back({it->begin, it->end, false});
        }
        previous_match = it->is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    }
  }
  for (const auto& range : kept) {
    if (range.is_match || range.begin == range.end) continue;
    out.push_back({piece.text.substr(range.begin, range.end - range.begin), piece.at_start && range.begin == 0});
  }
}

template <typename RangesOf>
void split_all(std::vector<Piece>& pieces, RangesOf&& ranges_of, Behavior behavior, bool invert) {
  std::vector<Piece> out;
  for (const auto& piece : pieces) split_piece(piece, ranges_of(piece.text), behavior, invert, out);
  pieces = std::move(out);
}

constexpr const char* kByteLevelPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex, std::string_view context)
      : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = std::make_unique<Regex>(kByteLevelPattern, context);
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    if (add_prefix_space_) {
      for (auto& piece : pieces) {
        if (piece.text.empty() || piece.text[0] != ' ') piece.text = " " + piece.text;
      }
    }
    if (regex_) {
      split_all(pieces, [&](std::string_view text) { return regex_ranges(*regex_, text); }, Behavior::kIsolated,
                false);
    }
    const auto& table = byte_level_chars();
    for (auto& piece : pieces) {
      std::string mapped;
      mapped.reserve(piece.text.size() * 2);
      for (char c : piece.text) mapped.append(table[static_cast<unsigned char>(c)]);
      piece.text = std::move(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

class SplitPattern final : public PreTokenizer {
 public:
  SplitPattern(const std::string& pattern, Behavior behavior, bool invert, std::string_view context)
      : regex_(pattern, context), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_all(pieces, [&](std::string_view text) { return regex_ranges(regex_, text); }, behavior_, invert_);
  }

 private:
  Regex regex_;
  Behavior behavior_;
  bool invert_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

class Metaspace final : public PreTokenizer {
 public:
  Metaspace(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {
    std::size_t pos = 0;
    replacement_char_ = next_code_point(replacement_, pos);
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (auto& piece : pieces) {
      std::string replaced;
      for (char c : piece.text) {
        if (c == ' ') {
          replaced.append(replacement_);
        } else {
          replaced.push_back(c);
        }
      }
      bool starts_with_replacement = replaced.starts_with(replacement_);
      if (!starts_with_replacement &&
          (scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && piece.at_start))) {
        replaced.insert(0, replacement_);
      }
      piece.text = std::move(replaced);
    }
    if (split_) {
      split_all(pieces, [&](std::string_view text) {
        return char_ranges(text, [&](char32_t c) { return c == replacement_char_; });
      }, Behavior::kMergedWithNext, false);
    }
  }

 private:
  std::string replacement_;
  char32_t replacement_char_;
  PrependScheme scheme_;
  bool split_;
};

class CharSplit final : public PreTokenizer {
 public:
  CharSplit(std::function<bool(char32_t)> predicate, Behavior behavior)
      : predicate_(std::move(predicate)), behavior_(behavior) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_all(pieces, [&](std::string_view text) { return char_ranges(text, predicate_); }, behavior_, false);
  }

 private:
  std::function<bool(char32_t)> predicate_;
  Behavior behavior_;
};

class Sequence final : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& step : steps_) step->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

PrependScheme parse_prepend_scheme(const JsonField& node) {
  auto scheme = node.find("prepend_scheme");
  // Files written before prepend_scheme existed carry add_prefix_space instead.
  if (!scheme) return node.boolean_or("add_prefix_space", true) ? PrependScheme::kAlways : PrependScheme::kNever;
  std::string name = scheme->string();
  if (name == "always") return PrependScheme::kAlways;
  if (name == "first") return PrependScheme::kFirst;
  if (name == "never") return PrependScheme::kNever;
  scheme->fail("unknown prepend_scheme \"{}\" (expected always, first or never)", name);
}

}  // namespace

const std::array<std::string, 256>& byte_level_chars() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> chars;
    // Printable Latin-1 bytes stand for themselves; the others are shifted past U+00FF in order.
    char32_t next_free = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      append_utf8(chars[b], printable ? static_cast<char32_t>(b) : next_free++);
    }
    return chars;
  }();
  return table;
}

std::optional<unsigned char> byte_level_byte(char32_t c) {
  static const std::array<int, 512> inverse = [] {
    std::array<int, 512> bytes;
    bytes.fill(-1);
    const auto& chars = byte_level_chars();
    for (int b = 0; b < 256; ++b) {
      std::size_t pos = 0;
      bytes[next_code_point(chars[b], pos)] = b;
    }
    return bytes;
  }();
  if (c >= inverse.size() || inverse[c] < 0) return std::nullopt;
  return static_cast<unsigned char>(inverse[c]);
}

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const JsonField& node) {
  std::string type = node.type();
  std::string context = fmt::format("{}: {}", node.file(), node.where());
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevel>(node.boolean_or("add_prefix_space", true), node.boolean_or("use_regex", true),
                                       context);
  }
  if (type == "Split") {
    return std::make_unique<SplitPattern>(pattern_from_json(node.at("pattern")), parse_behavior(node.at("behavior")),
                                          node.boolean_or("invert", false), context);
  }
  if (type == "Metaspace") {
    std::string replacement = node.at("replacement").string();
    if (replacement.empty() || utf8_length(static_cast<unsigned char>(replacement[0])) != replacement.size()) {
      node.at("replacement").fail("expected a single character, found \"{}\"", replacement);
    }
    return std::make_unique<Metaspace>(replacement, parse_prepend_scheme(node), node.boolean_or("split", true));
  }
  if (type == "Digits") {
    Behavior behavior = node.boolean_or("individual_digits", false) ? Behavior::kIsolated : Behavior::kContiguous;
    return std::make_unique<CharSplit>(is_numeric, behavior);
  }
  if (type == "Punctuation") {
    auto behavior = node.find("behavior");
    return std::make_unique<CharSplit>(is_punctuation, behavior ? parse_behavior(*behavior) : Behavior::kIsolated);
  }
  if (type == "Whitespace") {
    // Rust's \w (which Hugging Face's pattern means) also covers marks, letter numbers and joiners;
    // PCRE2's \w is letters, all numbers and underscore, so the class is spelled out.
    return std::make_unique<SplitPattern>(
        R"([\p{L}\p{M}\p{Nd}\p{Nl}\p{Pc}\x{200C}\x{200D}]+|[^\p{L}\p{M}\p{Nd}\p{Nl}\p{Pc}\x{200C}\x{200D}\s]+)",
        Behavior::kRemoved, true, context);
  }
  if (type == "WhitespaceSplit") return std::make_unique<CharSplit>(is_whitespace, Behavior::kRemoved);
  if (type == "BertPreTokenizer") {
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    steps.push_back(std::make_unique<CharSplit>(is_whitespace, Behavior::kRemoved));
    steps.push_back(std::make_unique<CharSplit>(is_punctuation, Behavior::kIsolated));
    return std::make_unique<Sequence>(std::move(steps));
  }
  if (type == "Sequence") {
    JsonField list = node.at("pretokenizers");
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (std::size_t i = 0; i < list.size(); ++i) steps.push_back(parse_pre_tokenizer(list.at(i)));
    return std::make_unique<Sequence>(std::move(steps));
  }
  node.fail("unsupported pre-tokenizer type \"{}\" (supported: ByteLevel, Split, Metaspace, Digits, Punctuation, "
            "Whitespace, WhitespaceSplit, BertPreTokenizer, Sequence)", type);
}

}  // namespace elephant::tokenizer
