// Byte-pair-encoding model: GPT-2 byte-level vocabularies (Qwen, DeepSeek, OLMoE, gpt-oss) and
// SentencePiece-style ones with <0xXX> byte fallback (Llama, Mistral, Mixtral).
//
// A piece is split into characters (with continuing_subword_prefix / end_of_word_suffix), unknown
// characters become byte tokens or (fused) unk, then merges are applied lowest rank first, ties
// broken by leftmost position, using a heap over a linked list of symbols so long pieces stay
// O(n log n). Stale heap entries are recognised by re-checking the pair, as Hugging Face does;
// equal behaviour on duplicate merges (the last one wins) keeps ids identical.
#include <array>
#include <queue>
#include <unordered_map>

#include "tokenizer/model.h"
#include "tokenizer/unicode.h"

namespace elephant::tokenizer {

std::unique_ptr<Model> parse_bpe_model(const JsonField& node);

namespace {

struct MergeResult {
  std::uint32_t rank;
  int32_t id;
};

std::uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
}

class BpeModel final : public Model {
 public:
  BpeModel(Vocabulary vocab, std::unordered_map<std::uint64_t, MergeResult> merges, std::optional<int32_t> unk_id,
           std::string continuing_subword_prefix, std::string end_of_word_suffix, bool fuse_unk, bool byte_fallback,
           bool ignore_merges)
      : vocab_(std::move(vocab)),
        merges_(std::move(merges)),
        unk_id_(unk_id),
        prefix_(std::move(continuing_subword_prefix)),
        suffix_(std::move(end_of_word_suffix)),
        fuse_unk_(fuse_unk),
        byte_fallback_(byte_fallback),
        ignore_merges_(ignore_merges) {
    if (byte_fallback_) {
      for (int b = 0; b < 256; ++b) byte_ids_[b] = vocab_.find(fmt::format("<0x{:02X}>", b));
    }
  }

  void tokenize(std::string_view piece, std::vector<int32_t>& ids) const override {
    if (ignore_merges_) {
      if (auto id = vocab_.find(piece)) {
        ids.push_back(*id);
        return;
      }
    }
    std::vector<int32_t> symbols = initial_symbols(piece);
    merge(symbols);
    ids.insert(ids.end(), symbols.begin(), symbols.end());
  }

  std::optional<int32_t> token_to_id(std::string_view token) const override { return vocab_.find(token); }
  const std::string* id_to_token(int32_t id) const override { return vocab_.token(id); }
  int32_t id_limit() const override { return vocab_.id_limit(); }

 private:
  std::vector<int32_t> initial_symbols(std::string_view piece) const {
    std::vector<int32_t> symbols;
    std::optional<int32_t> pending_unk;
    std::size_t pos = 0;
    while (pos < piece.size()) {
      std::size_t start = pos;
      next_code_point(piece, pos);
      std::string_view character = piece.substr(start, pos - start);
      std::string candidate;
      if (start != 0 && !prefix_.empty()) candidate = prefix_;
      candidate.append(character);
      if (pos == piece.size()) candidate.append(suffix_);
      if (auto id = vocab_.find(candidate)) {
        if (pending_unk) symbols.push_back(*std::exchange(pending_unk, std::nullopt));
        symbols.push_back(*id);
        continue;
      }
      if (byte_fallback_ && append_bytes(candidate, symbols)) continue;
      if (unk_id_) {
        // Consecutive unknown characters share one unk when fuse_unk is set.
        if (pending_unk && !fuse_unk_) symbols.push_back(*pending_unk);
        pending_unk = unk_id_;
      }
    }
    if (pending_unk) symbols.push_back(*pending_unk);
    return symbols;
  }

  bool append_bytes(std::string_view text, std::vector<int32_t>& symbols) const {
    for (char c : text) {
      if (!byte_ids_[static_cast<unsigned char>(c)]) return false;
    }
    for (char c : text) symbols.push_back(*byte_ids_[static_cast<unsigned char>(c)]);
    return true;
  }

  const MergeResult* find_merge(int32_t left, int32_t right) const {
    auto it = merges_.find(pair_key(left, right));
    return it == merges_.end() ? nullptr : &it->second;
  }

  void merge(std::vector<int32_t>& symbols) const {
    if (symbols.size() < 2) return;
    struct Candidate {
      std::uint32_t rank;
      std::size_t position;
      int32_t id;
      bool operator>(const Candidate& other) const {
        return rank != other.rank ? rank > other.rank : position > other.position;
      }
    };
    std::size_t n = symbols.size();
    std::vector<std::ptrdiff_t> prev(n);
    std::vector<std::ptrdiff_t> next(n);
    std::vector<bool> alive(n, true);
    for (std::size_t i = 0; i < n; ++i) {
      prev[i] = static_cast<std::ptrdiff_t>(i) - 1;
      next[i] = i + 1 < n ? static_cast<std::ptrdiff_t>(i + 1) : -1;
    }
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    for (std::size_t i = 0; i + 1 < n; ++i) {
      if (const MergeResult* m = find_merge(symbols[i], symbols[i + 1])) queue.push({m->rank, i, m->id});
    }
    while (!queue.empty()) {
      Candidate top = queue.top();
      queue.pop();
      if (!alive[top.position] || next[top.position] < 0) continue;
      auto right = static_cast<std::size_t>(next[top.position]);
      const MergeResult* current = find_merge(symbols[top.position], symbols[right]);
      if (current == nullptr || current->id != top.id) continue;
      symbols[top.position] = top.id;
      alive[right] = false;
      next[top.position] = next[right];
      if (next[right] >= 0) prev[static_cast<std::size_t>(next[right])] = static_cast<std::ptrdiff_t>(top.position);
      if (prev[top.position] >= 0) {
        auto left = static_cast<std::size_t>(prev[top.position]);
        if (const MergeResult* m = find_merge(symbols[left], symbols[top.position])) queue.push({m->rank, left, m->id});
      }
      if (next[top.position] >= 0) {
        auto after = static_cast<std::size_t>(next[top.position]);
        if (const MergeResult* m = find_merge(symbols[top.position], symbols[after])) {
          queue.push({m->rank, top.position, m->id});
        }
      }
    }
    std::vector<int32_t> merged;
    for (std::size_t i = 0; i < n; ++i) {
      if (alive[i]) merged.push_back(symbols[i]);
    }
    symbols = std::move(merged);
  }

  Vocabulary vocab_;
  std::unordered_map<std::uint64_t, MergeResult> merges_;
  std::optional<int32_t> unk_id_;
  std::string prefix_;
  std::string suffix_;
  bool fuse_unk_;
  bool byte_fallback_;
  bool ignore_merges_;
  std::array<std::optional<int32_t>, 256> byte_ids_{};
};

// Merges are either "left right" strings (older files) or [left, right] pairs.
std::pair<std::string, std::string> parse_merge(const JsonField& entry) {
  if (entry.is_array()) {
    if (entry.size() != 2) entry.fail("expected a [left, right] pair, found {} elements", entry.size());
    return {entry.at(0).string(), entry.at(1).string()};
  }
  std::string line = entry.string();
  std::size_t space = line.find(' ');
  if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
    entry.fail("expected \"left right\" (two tokens separated by one space), found \"{}\"", line);
  }
  return {line.substr(0, space), line.substr(space + 1)};
}

}  // namespace

std::unique_ptr<Model> parse_bpe_model(const JsonField& node) {
  if (auto dropout = node.find("dropout"); dropout && dropout->number() != 0.0) {
    dropout->fail("BPE dropout {} is not supported (it makes encoding random)", dropout->number());
  }
  JsonField vocab_node = node.at("vocab");
  Vocabulary vocab;
  for (const auto& token : vocab_node.keys()) vocab.add(token, vocab_node.at(token).token_id());

  std::string prefix = node.string_or("continuing_subword_prefix", "");
  JsonField merges_node = node.at("merges");
  std::unordered_map<std::uint64_t, MergeResult> merges;
  merges.reserve(merges_node.size());
  for (std::size_t i = 0; i < merges_node.size(); ++i) {
    JsonField entry = merges_node.at(i);
    auto [left, right] = parse_merge(entry);
    auto left_id = vocab.find(left);
    auto right_id = vocab.find(right);
    if (!left_id) entry.fail("merge refers to token \"{}\", which is not in model.vocab", left);
    if (!right_id) entry.fail("merge refers to token \"{}\", which is not in model.vocab", right);
    std::string_view right_tail = right;
    if (!prefix.empty() && right_tail.starts_with(prefix)) right_tail.remove_prefix(prefix.size());
    std::string merged = left + std::string(right_tail);
    auto merged_id = vocab.find(merged);
    if (!merged_id) entry.fail("merged token \"{}\" is not in model.vocab", merged);
    merges[pair_key(*left_id, *right_id)] = {static_cast<std::uint32_t>(i), *merged_id};
  }

  std::optional<int32_t> unk_id;
  if (auto unk = node.find("unk_token")) {
    unk_id = vocab.find(unk->string());
    if (!unk_id) unk->fail("unk_token \"{}\" is not in model.vocab", unk->string());
  }
  return std::make_unique<BpeModel>(std::move(vocab), std::move(merges), unk_id, prefix,
                                    node.string_or("end_of_word_suffix", ""), node.boolean_or("fuse_unk", false),
                                    node.boolean_or("byte_fallback", false), node.boolean_or("ignore_merges", false));
}

}  // namespace elephant::tokenizer
