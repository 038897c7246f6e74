// Translation with an encoder–decoder model: greedy, sampling and beam search, with the semantics
// of transformers 5.23's `generate` (docs/translation.md lists them and the few extensions).
//
// A batch of sources is encoded once; then every step runs the decoder over the live hypotheses
// of all unfinished sentences at once. Batch pruning: when a sentence is done (its beams can no
// longer change its n-best list) its rows leave the batch, and with them their routing, at once.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/sampler.h"
#include "models/seq2seq_model.h"

namespace elephant::engine {

// When beam search stops for a sentence (transformers' `early_stopping`).
enum class EarlyStopping : uint8_t {
  kFalse,  // stop when the best running beam, scored at the current length, cannot beat the worst finished one
  kTrue,   // stop as soon as num_beams hypotheses are finished
  kNever,  // as kFalse, but a positive length penalty scores the running beam at the maximum length
};

struct TranslationOptions {
  int num_beams = 1;
  int num_return_sequences = 1;  // n-best list size, <= num_beams
  float length_penalty = 1.0f;   // finished score = sum of log-probs / generated_length^length_penalty
  EarlyStopping early_stopping = EarlyStopping::kFalse;
  int max_new_tokens = 256;      // generated tokens including the final eos
  // When > 0, also at most max_length_ratio × source length + max_length_offset new tokens per
  // sentence (an extension: transformers has one absolute limit for the whole batch).
  float max_length_ratio = 0.0f;
  int max_length_offset = 0;
  int no_repeat_ngram_size = 0;  // > 0: never repeat an n-gram of the hypothesis
  int forced_bos_token_id = -1;  // >= 0: the first generated token (NLLB's target language)
  SamplingOptions sampling;      // num_beams 1: temperature 0 is greedy; repetition_penalty applies to beams too
  bool prune_finished = true;    // false keeps finished sentences' rows in the batch (to measure pruning)
};

void validate(const TranslationOptions& options);

struct Hypothesis {
  std::vector<int32_t> tokens;  // generated ids (forced bos included, decoder start excluded), ending in eos if finished
  // Sum of the (processed) log-probs of the generated tokens / generated_length^length_penalty:
  // transformers' sequences_scores for beams; the same formula for greedy and sampling.
  float score = 0.0f;
};

struct Translation {
  std::vector<Hypothesis> hypotheses;  // best first, num_return_sequences of them (one without beams)
};

struct TranslationStats {
  int64_t source_tokens = 0;
  int64_t generated_tokens = 0;  // of the best hypotheses
  int64_t decoder_steps = 0;
  int64_t decoder_rows = 0;      // hypothesis-steps the decoder ran (what pruning reduces)
};

std::vector<Translation> translate(models::Seq2SeqModel& model, const std::vector<std::vector<int32_t>>& sources,
                                   const TranslationOptions& options, TranslationStats* stats = nullptr);

}  // namespace elephant::engine
