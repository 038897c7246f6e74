#include "engine/translator.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <span>

#include "core/error.h"

namespace elephant::engine {
namespace {

using models::DecoderCache;
using models::EncodedSource;

void log_softmax(std::span<float> x) {
  const float max_value = *std::max_element(x.begin(), x.end());
  double total = 0.0;
  for (float value : x) total += std::exp(static_cast<double>(value) - max_value);
  const auto normaliser = static_cast<float>(max_value + std::log(total));
  for (float& value : x) value -= normaliser;
}

// transformers' logits processors, in its order: repetition penalty, no-repeat n-grams, forced
// first token. `context` is the decoder input so far (decoder start token first). They act on raw
// logits for greedy and sampling and on log-probabilities for beam search, as in `generate`.
void apply_processors(std::span<float> scores, std::span<const int32_t> context, const TranslationOptions& options) {
  const float penalty = options.sampling.repetition_penalty;
  if (penalty != 1.0f) {
    std::vector<int32_t> seen(context.begin(), context.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int32_t token : seen) {
      float& score = scores[static_cast<size_t>(token)];
      score = score < 0.0f ? score * penalty : score / penalty;
    }
  }
  const auto n = static_cast<size_t>(options.no_repeat_ngram_size);
  if (n > 0 && context.size() + 1 >= n) {
    const std::span<const int32_t> prefix = context.subspan(context.size() + 1 - n);
    for (size_t start = 0; start + n <= context.size(); ++start) {
      if (std::equal(prefix.begin(), prefix.end(), context.begin() + static_cast<std::ptrdiff_t>(start))) {
        scores[static_cast<size_t>(context[start + n - 1])] = -INFINITY;
      }
    }
  }
  if (options.forced_bos_token_id >= 0 && context.size() == 1) {
    std::fill(scores.begin(), scores.end(), -INFINITY);
    scores[static_cast<size_t>(options.forced_bos_token_id)] = 0.0f;
  }
}

int max_new_tokens_for(const TranslationOptions& options, size_t source_length) {
  int limit = options.max_new_tokens;
  if (options.max_length_ratio > 0.0f) {
    const auto relative = static_cast<int>(options.max_length_ratio * static_cast<float>(source_length)) + options.max_length_offset;
    limit = std::min(limit, std::max(relative, 1));
  }
  return limit;
}

// One decoder step over the given rows.
struct StepRows {
  std::vector<int32_t> tokens;
  std::vector<DecoderCache*> caches;
  std::vector<const EncodedSource*> sources;

  void add(int32_t token, DecoderCache* cache, const EncodedSource* source) {
    tokens.push_back(token);
    caches.push_back(cache);
    sources.push_back(source);
  }
};

std::vector<float> run_step(models::Seq2SeqModel& model, const StepRows& rows, TranslationStats& stats) {
  ++stats.decoder_steps;
  stats.decoder_rows += static_cast<int64_t>(rows.tokens.size());
  return model.decode(rows.tokens, rows.caches, rows.sources);
}

std::vector<Translation> translate_single(models::Seq2SeqModel& model, const std::vector<EncodedSource>& encoded,
                                          const std::vector<int>& limits, const TranslationOptions& options,
                                          TranslationStats& stats) {
  const auto& c = model.config();
  struct Live {
    std::vector<int32_t> context;  // decoder start + generated
    DecoderCache cache;
    float score = 0.0f;
    bool done = false;
    Sampler sampler;
  };
  SamplingOptions sampling = options.sampling;
  sampling.repetition_penalty = 1.0f;  // applied with the other processors
  std::vector<Live> live;
  live.reserve(encoded.size());
  for (size_t s = 0; s < encoded.size(); ++s) live.push_back({{c.decoder_start_token_id}, {}, 0.0f, false, Sampler(sampling)});

  const auto vocab = static_cast<size_t>(c.vocab_size);
  std::vector<float> scores(vocab);
  while (std::any_of(live.begin(), live.end(), [](const Live& l) { return !l.done; })) {
    StepRows rows;
    std::vector<size_t> owners;
    for (size_t s = 0; s < live.size(); ++s) {
      if (live[s].done && options.prune_finished) continue;
      rows.add(live[s].done ? c.pad_token_id : live[s].context.back(), &live[s].cache, &encoded[s]);
      owners.push_back(s);
    }
    const std::vector<float> logits = run_step(model, rows, stats);
    for (size_t r = 0; r < owners.size(); ++r) {
      Live& l = live[owners[r]];
      if (l.done) continue;
      const std::span<const float> row(logits.data() + r * vocab, vocab);
      std::copy(row.begin(), row.end(), scores.begin());
      apply_processors(scores, l.context, options);
      std::vector<float> log_probs(scores);
      log_softmax(log_probs);
      const int32_t token = l.sampler.sample(scores, l.context);
      l.score += log_probs[static_cast<size_t>(token)];
      l.context.push_back(token);
      const auto generated = static_cast<int>(l.context.size()) - 1;
      l.done = token == c.eos_token_id || generated >= limits[owners[r]];
    }
  }
  std::vector<Translation> result(live.size());
  for (size_t s = 0; s < live.size(); ++s) {
    const auto generated = static_cast<float>(live[s].context.size() - 1);
    result[s].hypotheses.push_back({std::vector<int32_t>(live[s].context.begin() + 1, live[s].context.end()),
                                    live[s].score / std::pow(generated, options.length_penalty)});
  }
  return result;
}

struct Beam {
  std::vector<int32_t> context;  // decoder start + generated
  float score = 0.0f;            // sum of processed log-probs
  DecoderCache cache;
};

struct BeamSentence {
  std::vector<Beam> running;
  std::vector<Hypothesis> finished;  // best first, at most num_beams
  bool improvable = true;            // transformers' is_early_stop_heuristic_unsatisfied (sticky)
  bool done = false;
};

struct Candidate {
  float score;
  int beam;
  int32_t token;
};

// Adds a finished hypothesis, keeping the num_beams best (an equal score does not displace an
// earlier one, as in transformers' merge of old and new finished beams).
void add_finished(BeamSentence& sentence, Hypothesis hypothesis, int num_beams) {
  auto position = std::upper_bound(sentence.finished.begin(), sentence.finished.end(), hypothesis.score,
                                   [](float score, const Hypothesis& h) { return score > h.score; });
  sentence.finished.insert(position, std::move(hypothesis));
  if (static_cast<int>(sentence.finished.size()) > num_beams) sentence.finished.pop_back();
}

std::vector<Translation> translate_beams(models::Seq2SeqModel& model, const std::vector<EncodedSource>& encoded,
                                         const std::vector<int>& limits, const TranslationOptions& options,
                                         TranslationStats& stats) {
  const auto& c = model.config();
  const int num_beams = options.num_beams;
  const int n_candidates = 2 * num_beams;  // transformers keeps max(2, 1 + n_eos) × num_beams
  const auto vocab = static_cast<size_t>(c.vocab_size);
  std::vector<BeamSentence> sentences(encoded.size());
  for (BeamSentence& sentence : sentences) {
    sentence.running.resize(static_cast<size_t>(num_beams));
    for (int b = 0; b < num_beams; ++b) {
      // Every beam starts from the decoder start token; all but the first are masked so the
      // first step's candidates come from one beam.
      sentence.running[static_cast<size_t>(b)].context = {c.decoder_start_token_id};
      sentence.running[static_cast<size_t>(b)].score = b == 0 ? 0.0f : -1e9f;
    }
  }

  std::vector<float> scores(vocab);
  std::vector<int32_t> order(vocab);
  for (int64_t step = 0; std::any_of(sentences.begin(), sentences.end(), [](const BeamSentence& s) { return !s.done; });
       ++step) {
    StepRows rows;
    std::vector<size_t> owners;
    for (size_t s = 0; s < sentences.size(); ++s) {
      if (sentences[s].done && options.prune_finished) continue;
      for (Beam& beam : sentences[s].running) rows.add(beam.context.back(), &beam.cache, &encoded[s]);
      owners.push_back(s);
    }
    const std::vector<float> logits = run_step(model, rows, stats);

    for (size_t o = 0; o < owners.size(); ++o) {
      BeamSentence& sentence = sentences[owners[o]];
      if (sentence.done) continue;
      // Each beam's best n_candidates continuations contain the sentence's best n_candidates.
      std::vector<Candidate> candidates;
      for (int b = 0; b < num_beams; ++b) {
        const Beam& beam = sentence.running[static_cast<size_t>(b)];
        const float* row = logits.data() + (o * static_cast<size_t>(num_beams) + static_cast<size_t>(b)) * vocab;
        std::copy(row, row + vocab, scores.begin());
        log_softmax(scores);
        apply_processors(scores, beam.context, options);
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + n_candidates, order.end(), [&](int32_t x, int32_t y) {
          return scores[static_cast<size_t>(x)] != scores[static_cast<size_t>(y)] ? scores[static_cast<size_t>(x)] > scores[static_cast<size_t>(y)] : x < y;
        });
        for (int j = 0; j < n_candidates; ++j) {
          const int32_t token = order[static_cast<size_t>(j)];
          candidates.push_back({beam.score + scores[static_cast<size_t>(token)], b, token});
        }
      }
      std::stable_sort(candidates.begin(), candidates.end(),
                       [](const Candidate& x, const Candidate& y) { return x.score > y.score; });
      candidates.resize(static_cast<size_t>(n_candidates));

      const int generated = static_cast<int>(step) + 1;
      const bool at_limit = generated >= limits[owners[o]];
      const auto hits = [&](const Candidate& candidate) { return candidate.token == c.eos_token_id || at_limit; };
      const bool full = options.early_stopping == EarlyStopping::kTrue &&
                        static_cast<int>(sentence.finished.size()) == num_beams;
      if (sentence.improvable && !full) {
        const float length_norm = std::pow(static_cast<float>(generated), options.length_penalty);
        for (int j = 0; j < num_beams; ++j) {
          const Candidate& candidate = candidates[static_cast<size_t>(j)];
          if (!hits(candidate) || !std::isfinite(candidate.score)) continue;
          Hypothesis hypothesis;
          hypothesis.tokens.assign(sentence.running[static_cast<size_t>(candidate.beam)].context.begin() + 1,
                                   sentence.running[static_cast<size_t>(candidate.beam)].context.end());
          hypothesis.tokens.push_back(candidate.token);
          hypothesis.score = candidate.score / length_norm;
          add_finished(sentence, std::move(hypothesis), num_beams);
        }
      }

      std::vector<Beam> next;
      std::vector<int> uses(static_cast<size_t>(num_beams), 0);
      std::vector<const Candidate*> chosen;
      for (const Candidate& candidate : candidates) {
        if (static_cast<int>(chosen.size()) == num_beams) break;
        if (!hits(candidate)) chosen.push_back(&candidate);
      }
      for (const Candidate* candidate : chosen) ++uses[static_cast<size_t>(candidate->beam)];
      for (const Candidate* candidate : chosen) {
        Beam& parent = sentence.running[static_cast<size_t>(candidate->beam)];
        Beam child;
        // The last child of a parent takes its cache; the others copy it.
        child.cache = --uses[static_cast<size_t>(candidate->beam)] == 0 ? std::move(parent.cache) : parent.cache;
        child.context = parent.context;
        child.context.push_back(candidate->token);
        child.score = candidate->score;
        next.push_back(std::move(child));
      }
      const bool all_hit = chosen.empty();
      if (!all_hit) sentence.running = std::move(next);

      if (static_cast<int>(sentence.finished.size()) == num_beams && !all_hit) {
        const int best_length = options.early_stopping == EarlyStopping::kNever && options.length_penalty > 0.0f
                                    ? limits[owners[o]]
                                    : generated;
        const float best_possible = sentence.running.front().score /
                                    std::pow(static_cast<float>(best_length), options.length_penalty);
        sentence.improvable = sentence.improvable && best_possible > sentence.finished.back().score;
      }
      const bool now_full = options.early_stopping == EarlyStopping::kTrue &&
                            static_cast<int>(sentence.finished.size()) == num_beams;
      sentence.done = all_hit || !sentence.improvable || now_full;
    }
  }

  std::vector<Translation> result(sentences.size());
  for (size_t s = 0; s < sentences.size(); ++s) {
    auto& hypotheses = sentences[s].finished;
    hypotheses.resize(std::min(hypotheses.size(), static_cast<size_t>(options.num_return_sequences)));
    result[s].hypotheses = std::move(hypotheses);
  }
  return result;
}

}  // namespace

void validate(const TranslationOptions& options) {
  if (options.num_beams < 1) fail("--beam {}: expected at least 1", options.num_beams);
  if (options.num_return_sequences < 1 || options.num_return_sequences > options.num_beams) {
    fail("--n-best {}: expected 1..{} (the beam width)", options.num_return_sequences, options.num_beams);
  }
  if (options.max_new_tokens < 1) fail("--max-new-tokens {}: expected at least 1", options.max_new_tokens);
  if (options.max_length_ratio < 0.0f) fail("--max-length-ratio {}: expected >= 0", options.max_length_ratio);
  if (options.no_repeat_ngram_size < 0) fail("--no-repeat-ngram {}: expected >= 0", options.no_repeat_ngram_size);
  if (!std::isfinite(options.length_penalty)) fail("--length-penalty {}: expected a finite number", options.length_penalty);
  if (options.num_beams > 1 && options.sampling.temperature > 0.0f) {
    fail("--temperature {} with --beam {}: beam sampling is not implemented (use --beam 1 to sample)",
         options.sampling.temperature, options.num_beams);
  }
  validate(options.sampling);
}

std::vector<Translation> translate(models::Seq2SeqModel& model, const std::vector<std::vector<int32_t>>& sources,
                                   const TranslationOptions& options, TranslationStats* stats) {
  validate(options);
  const auto& c = model.config();
  if (options.forced_bos_token_id >= c.vocab_size) {
    fail("forced first token {}: outside the vocabulary [0, {})", options.forced_bos_token_id, c.vocab_size);
  }
  TranslationStats local;
  TranslationStats& s = stats ? *stats : local;
  std::vector<int> limits;
  for (const auto& source : sources) {
    s.source_tokens += static_cast<int64_t>(source.size());
    limits.push_back(max_new_tokens_for(options, source.size()));
  }
  if (sources.empty()) return {};
  const std::vector<EncodedSource> encoded = model.encode(sources);
  std::vector<Translation> result = options.num_beams == 1 ? translate_single(model, encoded, limits, options, s)
                                                           : translate_beams(model, encoded, limits, options, s);
  for (const Translation& translation : result) {
    if (!translation.hypotheses.empty()) s.generated_tokens += static_cast<int64_t>(translation.hypotheses.front().tokens.size());
  }
  return result;
}

}  // namespace elephant::engine
