// Model dispatch by "type" and the shared Vocabulary table.
#include "tokenizer/model.h"

namespace elephant::tokenizer {

std::unique_ptr<Model> parse_bpe_model(const JsonField& node);
std::unique_ptr<Model> parse_unigram_model(const JsonField& node);

void Vocabulary::add(std::string token, int32_t id) {
  if (static_cast<std::size_t>(id) >= tokens_.size()) tokens_.resize(static_cast<std::size_t>(id) + 1);
  tokens_[id] = token;
  ids_[std::move(token)] = id;
}

std::optional<int32_t> Vocabulary::find(std::string_view token) const {
  auto it = ids_.find(token);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

const std::string* Vocabulary::token(int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size() || !tokens_[id]) return nullptr;
  return &*tokens_[id];
}

std::unique_ptr<Model> parse_model(const JsonField& node) {
  // Older files omit "type"; the members then tell BPE (merges) from Unigram (scored vocab list).
  std::string type = node.find("type") ? node.type() : (node.find("merges") ? "BPE" : "");
  if (type == "BPE") return parse_bpe_model(node);
  if (type == "Unigram") return parse_unigram_model(node);
  if (type.empty()) node.fail("missing required field \"type\" and no \"merges\" to recognise a BPE model");
  node.fail("unsupported model type \"{}\" (supported: BPE, Unigram)", type);
}

}  // namespace elephant::tokenizer
