// Unigram language-model tokenizer (T5/Switch, and SentencePiece unigram vocabularies converted to
// tokenizer.json).
//
// Viterbi over the byte positions of the piece: every vocabulary entry that starts at a position
// (found by walking a byte trie) proposes a path; a character that no single-character entry
// covers gets the unk id at min_score - 10. Candidates are visited in the same order as Hugging
// Face and replace the best path only when strictly better, so ties resolve identically.
// Consecutive unknowns are fused into one unk, then optional <0xXX> byte fallback applies.
#include <array>
#include <limits>
#include <map>

#include "tokenizer/model.h"
#include "tokenizer/unicode.h"

namespace elephant::tokenizer {

std::unique_ptr<Model> parse_unigram_model(const JsonField& node);

namespace {

constexpr double kUnknownPenalty = 10.0;

class ByteTrie {
 public:
  ByteTrie() : nodes_(1) {}
  void insert(std::string_view key) {
    std::size_t node = 0;
    for (char c : key) {
      auto [it, inserted] = nodes_[node].children.try_emplace(static_cast<unsigned char>(c), nodes_.size());
      if (inserted) nodes_.emplace_back();
      node = it->second;
    }
    nodes_[node].terminal = true;
  }
  // Calls visit(length) for every key that prefixes `text`, shortest first.
  template <typename Visit>
  void for_each_prefix(std::string_view text, Visit&& visit) const {
    std::size_t node = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
      auto it = nodes_[node].children.find(static_cast<unsigned char>(text[i]));
      if (it == nodes_[node].children.end()) return;
      node = it->second;
      if (nodes_[node].terminal) visit(i + 1);
    }
  }

 private:
  struct Node {
    std::map<unsigned char, std::size_t> children;
    bool terminal = false;
  };
  std::vector<Node> nodes_;
};

class UnigramModel final : public Model {
 public:
  UnigramModel(Vocabulary vocab, std::vector<double> scores, std::optional<int32_t> unk_id, bool byte_fallback)
      : vocab_(std::move(vocab)), scores_(std::move(scores)), unk_id_(unk_id), byte_fallback_(byte_fallback) {
    min_score_ = std::numeric_limits<double>::infinity();
    for (double score : scores_) min_score_ = std::min(min_score_, score);
    for (int32_t id = 0; id < vocab_.id_limit(); ++id) {
      if (const std::string* token = vocab_.token(id)) trie_.insert(*token);
    }
    if (byte_fallback_) {
      for (int b = 0; b < 256; ++b) byte_ids_[b] = vocab_.find(fmt::format("<0x{:02X}>", b));
    }
  }

  void tokenize(std::string_view piece, std::vector<int32_t>& ids) const override {
    for (const auto& token : best_segmentation(piece)) {
      if (auto id = vocab_.find(token)) {
        ids.push_back(*id);
      } else if (byte_fallback_ && all_bytes_known(token)) {
        for (char c : token) ids.push_back(*byte_ids_[static_cast<unsigned char>(c)]);
      } else {
        ids.push_back(*unk_id_);
      }
    }
  }

  std::optional<int32_t> token_to_id(std::string_view token) const override { return vocab_.find(token); }
  const std::string* id_to_token(int32_t id) const override { return vocab_.token(id); }
  int32_t id_limit() const override { return vocab_.id_limit(); }

 private:
  struct Node {
    int32_t id = 0;
    double score = 0.0;
    std::optional<std::size_t> starts_at;
  };

  std::vector<std::string> best_segmentation(std::string_view text) const {
    if (text.empty()) return {};
    std::vector<Node> best(text.size() + 1);
    double unk_score = min_score_ - kUnknownPenalty;
    std::size_t start = 0;
    while (start < text.size()) {
      double score_here = best[start].score;
      std::size_t char_length = std::min(utf8_length(static_cast<unsigned char>(text[start])), text.size() - start);
      bool has_single_char = false;
      trie_.for_each_prefix(text.substr(start), [&](std::size_t length) {
        int32_t id = *vocab_.find(text.substr(start, length));
        double candidate = scores_[id] + score_here;
        Node& target = best[start + length];
        if (!target.starts_at || candidate > target.score) target = {id, candidate, start};
        if (length == char_length) has_single_char = true;
      });
      if (!has_single_char) {
        if (!unk_id_) elephant::fail("Unigram model has no unk_id but the input has a character outside its vocab");
        double candidate = unk_score + score_here;
        Node& target = best[start + char_length];
        if (!target.starts_at || candidate > target.score) target = {*unk_id_, candidate, start};
      }
      start += char_length;
    }
    std::vector<std::string> reversed;
    std::string unknown_run;  // built back to front
    std::size_t end = text.size();
    while (end > 0) {
      const Node& node = best[end];
      std::size_t begin = *node.starts_at;
      std::string token(text.substr(begin, end - begin));
      if (unk_id_ && node.id == *unk_id_) {
        unknown_run.insert(0, token);
      } else {
        if (!unknown_run.empty()) reversed.push_back(std::exchange(unknown_run, {}));
        reversed.push_back(std::move(token));
      }
      end = begin;
    }
    if (!unknown_run.empty()) reversed.push_back(std::move(unknown_run));
    return {reversed.rbegin(), reversed.rend()};
  }

  bool all_bytes_known(std::string_view token) const {
    for (char c : token) {
      if (!byte_ids_[static_cast<unsigned char>(c)]) return false;
    }
    return true;
  }

  Vocabulary vocab_;
  std::vector<double> scores_;
  std::optional<int32_t> unk_id_;
  bool byte_fallback_;
  double min_score_;
  ByteTrie trie_;
  std::array<std::optional<int32_t>, 256> byte_ids_{};
};

}  // namespace

std::unique_ptr<Model> parse_unigram_model(const JsonField& node) {
  JsonField vocab_node = node.at("vocab");
  Vocabulary vocab;
  std::vector<double> scores;
  for (std::size_t i = 0; i < vocab_node.size(); ++i) {
    JsonField entry = vocab_node.at(i);
    if (!entry.is_array() || entry.size() != 2) entry.fail("expected a [piece, score] pair");
    vocab.add(entry.at(0).string(), static_cast<int32_t>(i));
    scores.push_back(entry.at(1).number());
  }
  std::optional<int32_t> unk_id;
  if (auto unk = node.find("unk_id")) {
    std::int64_t id = unk->integer();
    if (id < 0 || static_cast<std::size_t>(id) >= scores.size()) {
      unk->fail("unk_id {} is outside the vocab (size {})", id, scores.size());
    }
    unk_id = static_cast<int32_t>(id);
  }
  return std::make_unique<UnigramModel>(std::move(vocab), std::move(scores), unk_id,
                                        node.boolean_or("byte_fallback", false));
}

}  // namespace elephant::tokenizer
