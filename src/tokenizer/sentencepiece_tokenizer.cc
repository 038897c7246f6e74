// SentencePiece-backed Tokenizer (see sentencepiece_tokenizer.h).
//
// libsentencepiece never matches control pieces such as "<s>" or "[INST]" in text, and renders
// them as nothing when decoding. To behave like the tokenizer.json path, encode cuts control
// pieces out of the text first (leftmost, longest) and encodes the stretches between them
// separately (each gets SentencePiece's dummy-prefix space, as Hugging Face's Llama tokenizer in
// legacy mode does); decode writes control pieces as their text unless special tokens are skipped,
// and keeps the leading space of a stretch that follows one.
#include "tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include <algorithm>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace elephant::tokenizer {

namespace {
constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581, SentencePiece's space
}

SentencePieceTokenizer::SentencePieceTokenizer()
    : processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}
SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::from_file(const std::filesystem::path& path,
                                                                          bool add_bos, bool add_eos) {
  auto tokenizer = std::unique_ptr<SentencePieceTokenizer>(new SentencePieceTokenizer());
  auto status = tokenizer->processor_->Load(path.string());
  if (!status.ok()) fail("{}: cannot load SentencePiece model: {}", path.string(), status.ToString());
  tokenizer->path_ = path;
  tokenizer->add_bos_ = add_bos;
  tokenizer->add_eos_ = add_eos;
  const auto& processor = *tokenizer->processor_;
  for (int id = 0; id < processor.GetPieceSize(); ++id) {
    if (processor.IsControl(id) && !processor.IdToPiece(id).empty()) {
      tokenizer->control_pieces_.emplace_back(processor.IdToPiece(id), id);
    }
  }
  std::stable_sort(tokenizer->control_pieces_.begin(), tokenizer->control_pieces_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  if (processor.bos_id() >= 0) tokenizer->bos_id_ = processor.bos_id();
  if (processor.eos_id() >= 0) tokenizer->eos_id_ = processor.eos_id();
  return tokenizer;
}

void SentencePieceTokenizer::encode_text(std::string_view text, std::vector<int32_t>& ids) const {
  if (text.empty()) return;
  std::vector<int> pieces;
  auto status = processor_->Encode(text, &pieces);
  if (!status.ok()) fail("{}: SentencePiece encode failed: {}", path_.string(), status.ToString());
  ids.insert(ids.end(), pieces.begin(), pieces.end());
}

std::vector<int32_t> SentencePieceTokenizer::encode_impl(std::string_view text, bool add_special_tokens,
                                                         bool parse_special_tokens) const {
  std::string input = sanitize_utf8(text);
  std::vector<int32_t> ids;
  if (add_special_tokens && add_bos_ && bos_id_) ids.push_back(*bos_id_);
  std::string_view rest = input;
  std::size_t stretch_start = 0;
  std::size_t pos = 0;
  while (parse_special_tokens && pos < rest.size()) {
    auto match = std::find_if(control_pieces_.begin(), control_pieces_.end(),
                              [&](const auto& piece) { return rest.substr(pos).starts_with(piece.first); });
    if (match == control_pieces_.end()) {
      ++pos;
      continue;
    }
    encode_text(rest.substr(stretch_start, pos - stretch_start), ids);
    ids.push_back(match->second);
    pos += match->first.size();
    stretch_start = pos;
  }
  encode_text(rest.substr(stretch_start), ids);
  if (add_special_tokens && add_eos_ && eos_id_) ids.push_back(*eos_id_);
  return ids;
}

bool SentencePieceTokenizer::strips_leading_space(int id) const {
  std::string piece = processor_->IdToPiece(id);
  if (!piece.starts_with(kSpaceMarker)) return false;
  std::string alone;
  if (!processor_->Decode(std::vector<int>{id}, &alone).ok()) return false;
  std::string spaced;
  for (std::size_t pos = 0; pos < piece.size();) {
    if (std::string_view(piece).substr(pos).starts_with(kSpaceMarker)) {
      spaced.push_back(' ');
      pos += kSpaceMarker.size();
    } else {
      spaced.push_back(piece[pos++]);
    }
  }
  return alone == spaced.substr(1);
}

std::string SentencePieceTokenizer::decode_impl(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string text;
  std::vector<int> stretch;
  auto flush = [&] {
    if (stretch.empty()) return;
    std::string decoded;
    auto status = processor_->Decode(stretch, &decoded);
    if (!status.ok()) fail("{}: SentencePiece decode failed: {}", path_.string(), status.ToString());
    // SentencePiece drops the dummy-prefix space of a decode's first piece; only the text start
    // should lose it, so put it back after a control piece. Decoding the first piece alone shows
    // whether this model strips (it does not without add_dummy_prefix).
    if (!text.empty() && strips_leading_space(stretch.front())) decoded = " " + decoded;
    text.append(decoded);
    stretch.clear();
  };
  for (int32_t id : ids) {
    if (id < 0 || id >= processor_->GetPieceSize()) continue;
    if (processor_->IsControl(id)) {
      // Skipped control pieces do not split the text: SentencePiece decodes around them itself.
      if (skip_special_tokens) continue;
      flush();
      text.append(processor_->IdToPiece(id));
      continue;
    }
    stretch.push_back(id);
  }
  flush();
  return text;
}

int32_t SentencePieceTokenizer::vocab_size() const { return processor_->GetPieceSize(); }

std::optional<int32_t> SentencePieceTokenizer::token_to_id(std::string_view token) const {
  int id = processor_->PieceToId(token);
  // PieceToId answers the unk id for unknown pieces; only a round trip proves a real match.
  if (id < 0 || processor_->IdToPiece(id) != token) return std::nullopt;
  return id;
}

std::optional<std::string> SentencePieceTokenizer::id_to_token(int32_t id) const {
  if (id < 0 || id >= processor_->GetPieceSize()) return std::nullopt;
  return processor_->IdToPiece(id);
}

bool SentencePieceTokenizer::is_special(int32_t id) const {
  return id >= 0 && id < processor_->GetPieceSize() && processor_->IsControl(id);
}

}  // namespace elephant::tokenizer
