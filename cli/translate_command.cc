// `elephant translate`: line in, line out, with an encoder–decoder MoE model (Switch
// Transformers, NLLB-MoE). Lines are read on their own thread so an endless pipe is translated as
// it arrives: each batch takes every line already waiting (at least one), sorted by length into
// sub-batches of at most --max-batch-sentences sentences and --max-batch-tokens source tokens ×
// beams, and its translations are written in input order and flushed before the next batch.
// Defaults come from the model's generation_config.json, as transformers' `generate` takes them.
// With --ids no tokenizer is needed (token ids in and out).
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <mutex>
#include <numeric>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "config/json_reader.h"
#include "core/error.h"
#include "core/parallel.h"
#include "engine/translator.h"
#include "ops/ops.h"
#include "tokenizer/tokenizer.h"

namespace elephant::cli {
namespace {

struct TranslateFlags {
  std::string model_dir = ELEPHANT_DEFAULT_TRANSLATION_MODEL_DIR;
  int threads = 0;
  std::string kernels = "auto";
  std::string source_language, target_language;
  std::optional<int> beams, n_best, max_new_tokens, no_repeat_ngram;
  std::optional<float> length_penalty;
  std::optional<std::string> early_stopping;
  float max_length_ratio = 0.0f;
  int max_length_offset = 10;
  engine::SamplingOptions sampling;
  int max_batch_tokens = 8192;
  int max_batch_sentences = 64;
  bool no_prune = false;
  bool scores = false;
  bool ids = false;
};

engine::EarlyStopping parse_early_stopping(const std::string& value, const std::string& where) {
  if (value == "true") return engine::EarlyStopping::kTrue;
  if (value == "false") return engine::EarlyStopping::kFalse;
  if (value == "never") return engine::EarlyStopping::kNever;
  fail("{}: early_stopping: expected true, false or never, found '{}'", where, value);
}

// generation_config.json's decoding defaults (transformers' own defaults where a key is absent,
// except the length limit: transformers falls back to 20 tokens, which cuts translations short,
// so without max_length or max_new_tokens the limit is 256 new tokens).
engine::TranslationOptions defaults_from_generation_config(const std::filesystem::path& dir) {
  engine::TranslationOptions options;
  const auto path = dir / "generation_config.json";
  if (!std::filesystem::exists(path)) return options;
  std::ifstream stream(path);
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(stream);
  } catch (const nlohmann::json::exception& error) {
    fail("{}: not valid JSON ({})", path.string(), error.what());
  }
  if (!json.is_object()) fail("{}: expected a JSON object", path.string());
  const config::JsonReader reader(json, path);
  if (reader.has("max_new_tokens")) {
    options.max_new_tokens = reader.positive_int("max_new_tokens");
  } else if (reader.has("max_length")) {
    options.max_new_tokens = std::max(1, reader.positive_int("max_length") - 1);  // minus the decoder start token
  }
  options.num_beams = reader.positive_int_or("num_beams", 1);
  options.num_return_sequences = 1;
  if (reader.has("length_penalty")) options.length_penalty = reader.raw("length_penalty").get<float>();
  if (reader.has("early_stopping")) {
    const auto& value = reader.raw("early_stopping");
    options.early_stopping = value.is_boolean() ? (value.get<bool>() ? engine::EarlyStopping::kTrue : engine::EarlyStopping::kFalse)
                                                : parse_early_stopping(value.is_string() ? value.get<std::string>() : "", path.string());
  }
  options.no_repeat_ngram_size = reader.int_or("no_repeat_ngram_size", 0);
  options.forced_bos_token_id = reader.int_or("forced_bos_token_id", -1);
  if (reader.has("repetition_penalty")) options.sampling.repetition_penalty = reader.raw("repetition_penalty").get<float>();
  return options;
}

// Reads lines on its own thread; take() returns every line waiting (blocking for the first).
class LineQueue {
 public:
  explicit LineQueue(std::istream& input) : reader_([this, &input] { read(input); }) {}
  ~LineQueue() { reader_.join(); }

  std::vector<std::string> take(size_t max_lines) {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return !lines_.empty() || finished_; });
    std::vector<std::string> batch;
    while (!lines_.empty() && batch.size() < max_lines) {
      batch.push_back(std::move(lines_.front()));
      lines_.pop_front();
    }
    return batch;
  }

 private:
  void read(std::istream& input) {
    std::string line;
    while (std::getline(input, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::lock_guard lock(mutex_);
      lines_.push_back(std::move(line));
      ready_.notify_one();
    }
    std::lock_guard lock(mutex_);
    finished_ = true;
    ready_.notify_one();
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::string> lines_;
  bool finished_ = false;
  std::thread reader_;
};

class Translator {
 public:
  explicit Translator(TranslateFlags& flags) : flags_(flags) {
    if (flags.threads > 0) set_thread_count(flags.threads);
    ops::select_kernels(flags.kernels);
    model_ = models::Seq2SeqModel::load(flags.model_dir);
    if (!flags.ids || !flags.source_language.empty() || !flags.target_language.empty()) {
      tokenizer_ = tokenizer::Tokenizer::load(flags.model_dir);
    }
    if (tokenizer_ && tokenizer_->vocab_size() > model_->config().vocab_size) {
      fail("{}: the tokenizer has {} ids but the model's vocabulary is {}", flags.model_dir, tokenizer_->vocab_size(),
           model_->config().vocab_size);
    }
    options_ = defaults_from_generation_config(flags.model_dir);
    if (flags.beams) options_.num_beams = *flags.beams;
    options_.num_return_sequences = flags.n_best.value_or(1);
    if (flags.max_new_tokens) options_.max_new_tokens = *flags.max_new_tokens;
    if (flags.no_repeat_ngram) options_.no_repeat_ngram_size = *flags.no_repeat_ngram;
    if (flags.length_penalty) options_.length_penalty = *flags.length_penalty;
    if (flags.early_stopping) options_.early_stopping = parse_early_stopping(*flags.early_stopping, "--early-stopping");
    options_.max_length_ratio = flags.max_length_ratio;
    options_.max_length_offset = flags.max_length_offset;
    const float repetition_penalty = options_.sampling.repetition_penalty;
    options_.sampling = flags.sampling;
    if (flags.sampling.repetition_penalty == 1.0f) options_.sampling.repetition_penalty = repetition_penalty;
    options_.prune_finished = !flags.no_prune;
    setup_languages();
    engine::validate(options_);
  }

  // Translates the lines, writing them in order; returns after flushing.
  void translate(const std::vector<std::string>& lines) {
    std::vector<std::vector<int32_t>> sources;
    for (size_t i = 0; i < lines.size(); ++i) sources.push_back(encode(lines[i], sentences_ + i + 1));
    std::vector<size_t> order(lines.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return sources[a].size() < sources[b].size(); });
    std::vector<engine::Translation> results(lines.size());
    const int64_t budget = flags_.max_batch_tokens;
    for (size_t begin = 0; begin < order.size();) {
      size_t end = begin;
      int64_t tokens = 0;
      while (end < order.size()) {
        const int64_t cost = static_cast<int64_t>(sources[order[end]].size()) * options_.num_beams;
        if (end > begin && (tokens + cost > budget || end - begin >= static_cast<size_t>(flags_.max_batch_sentences))) break;
        tokens += cost;
        ++end;
      }
      std::vector<std::vector<int32_t>> batch;
      for (size_t i = begin; i < end; ++i) batch.push_back(std::move(sources[order[i]]));
      auto translated = engine::translate(*model_, batch, options_, &stats_);
      for (size_t i = begin; i < end; ++i) results[order[i]] = std::move(translated[i - begin]);
      begin = end;
    }
    for (size_t i = 0; i < lines.size(); ++i) write(sentences_ + i, results[i]);
    sentences_ += lines.size();
    std::fflush(stdout);
  }

  void summary(double seconds) const {
    const double rate = seconds > 0 ? 1.0 / seconds : 0.0;
    std::fprintf(stderr,
                 "translate: %zu sentences, %lld source tokens, %lld generated tokens in %.2f s: %.1f sentences/s, "
                 "%.1f source tokens/s, %.1f generated tokens/s (beam %d, %lld decoder rows in %lld steps, pruning %s)\n",
                 sentences_, static_cast<long long>(stats_.source_tokens), static_cast<long long>(stats_.generated_tokens),
                 seconds, static_cast<double>(sentences_) * rate, static_cast<double>(stats_.source_tokens) * rate,
                 static_cast<double>(stats_.generated_tokens) * rate, options_.num_beams,
                 static_cast<long long>(stats_.decoder_rows), static_cast<long long>(stats_.decoder_steps),
                 options_.prune_finished ? "on" : "off");
  }

 private:
  void setup_languages() {
    const bool nllb = model_->config().family == config::Seq2SeqFamily::kNllbMoe;
    if (!nllb) {
      if (!flags_.source_language.empty() || !flags_.target_language.empty()) {
        fail("--src/--tgt: {} ({}) has no language tokens; it translates in the one direction it was trained for",
             flags_.model_dir, model_->config().model_type);
      }
      return;
    }
    if (flags_.source_language.empty() || flags_.target_language.empty()) {
      fail("{} is multilingual (nllb_moe): give --src and --tgt language codes, e.g. --src eng_Latn --tgt spa_Latn",
           flags_.model_dir);
    }
    source_language_id_ = language_id(flags_.source_language, "--src");
    options_.forced_bos_token_id = language_id(flags_.target_language, "--tgt");
  }

  int32_t language_id(const std::string& code, const char* flag) const {
    const auto id = tokenizer_->token_to_id(code);
    if (!id) fail("{} {}: the tokenizer of {} has no language token '{}'", flag, code, flags_.model_dir, code);
    return *id;
  }

  // NLLB sources are "[src_lang] tokens </s>" (NllbTokenizer's non-legacy layout); Switch sources
  // get the tokenizer's own template ("tokens </s>").
  std::vector<int32_t> encode(const std::string& line, size_t line_number) const {
    if (flags_.ids) return parse_ids(line, line_number);
    if (!source_language_id_) return tokenizer_->encode(line, true, false);
    std::vector<int32_t> ids{*source_language_id_};
    const auto text = tokenizer_->encode(line, false, false);
    ids.insert(ids.end(), text.begin(), text.end());
    ids.push_back(model_->config().eos_token_id);
    return ids;
  }

  std::vector<int32_t> parse_ids(const std::string& line, size_t line_number) const {
    std::vector<int32_t> ids;
    std::istringstream stream(line);
    std::string field;
    while (stream >> field) {
      try {
        size_t used = 0;
        const int value = std::stoi(field, &used);
        if (used != field.size()) throw std::invalid_argument(field);
        if (value < 0 || value >= model_->config().vocab_size) throw std::out_of_range(field);
        ids.push_back(value);
      } catch (const std::logic_error&) {
        fail("--ids: line {}: '{}' is not a token id in [0, {})", line_number, field, model_->config().vocab_size);
      }
    }
    if (ids.empty()) fail("--ids: line {} has no token ids", line_number);
    return ids;
  }

  std::string render(const engine::Hypothesis& hypothesis) const {
    if (!flags_.ids) return tokenizer_->decode(hypothesis.tokens, true);
    std::string text;
    for (int32_t id : hypothesis.tokens) {
      if (!text.empty()) text += ' ';
      text += std::to_string(id);
    }
    return text;
  }

  void write(size_t index, const engine::Translation& translation) const {
    if (options_.num_return_sequences == 1 && !flags_.scores) {
      const std::string text = translation.hypotheses.empty() ? "" : render(translation.hypotheses.front());
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fputc('\n', stdout);
      return;
    }
    for (const auto& hypothesis : translation.hypotheses) {
      const std::string text = render(hypothesis);
      std::fprintf(stdout, "%zu ||| ", index);
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fprintf(stdout, " ||| %.6f\n", static_cast<double>(hypothesis.score));
    }
  }

  TranslateFlags& flags_;
  std::unique_ptr<models::Seq2SeqModel> model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  engine::TranslationOptions options_;
  std::optional<int32_t> source_language_id_;
  engine::TranslationStats stats_;
  size_t sentences_ = 0;
};

void run(TranslateFlags& flags) {
  Translator translator(flags);
  const auto start = std::chrono::steady_clock::now();
  LineQueue queue(std::cin);
  while (true) {
    // A few batches' worth at a time: enough to sort by length, little enough to keep output flowing.
    const std::vector<std::string> lines = queue.take(4 * static_cast<size_t>(flags.max_batch_sentences));
    if (lines.empty()) break;
    translator.translate(lines);
  }
  translator.summary(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

}  // namespace

void register_translate(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers) {
  auto flags = std::make_shared<TranslateFlags>();
  auto* command = app.add_subcommand("translate", "translate stdin to stdout, one line per sentence (Switch, NLLB-MoE)");
  command->add_option("-m,--model", flags->model_dir,
                      "encoder-decoder model directory (default: the embedded " ELEPHANT_DEFAULT_TRANSLATION_MODEL_DIR ")");
  command->add_option("-t,--threads", flags->threads, "worker threads (default: all cores)")->check(CLI::Range(1, 4096));
  command->add_option("--kernels", flags->kernels, "kernel set: auto (the best with fp32 activations), avx512, avx2, reference; avx512_bf16: BF16 weights take bf16-rounded activations (faster, 2^-9 relative error per activation)");
  command->add_option("--src", flags->source_language, "source language code (NLLB-MoE, e.g. eng_Latn)");
  command->add_option("--tgt", flags->target_language, "target language code (NLLB-MoE, e.g. spa_Latn)");
  command->add_option("--beam", flags->beams, "beam width (default: generation_config.json's num_beams, else 1 = greedy)")
      ->check(CLI::PositiveNumber);
  command->add_option("--n-best", flags->n_best, "hypotheses per sentence, printed as 'i ||| text ||| score' (<= beam)")
      ->check(CLI::PositiveNumber);
  command->add_option("--length-penalty", flags->length_penalty, "beam score = log-prob sum / length^penalty (default 1)");
  command->add_option("--early-stopping", flags->early_stopping, "true, false (default) or never, as transformers")
      ->check(CLI::IsMember({"true", "false", "never"}));
  command->add_option("--max-new-tokens", flags->max_new_tokens, "longest translation in tokens, eos included")
      ->check(CLI::PositiveNumber);
  command->add_option("--max-length-ratio", flags->max_length_ratio,
                      "also at most ratio × source tokens + --max-length-offset new tokens (0 = off)")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--max-length-offset", flags->max_length_offset, "see --max-length-ratio (default 10)");
  command->add_option("--no-repeat-ngram", flags->no_repeat_ngram, "never repeat an n-gram of this size (0 = off)")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--repetition-penalty", flags->sampling.repetition_penalty, "> 1 discourages repeated tokens");
  command->add_option("--temperature", flags->sampling.temperature, "sample at this temperature (beam 1 only); 0 = greedy");
  command->add_option("--top-k", flags->sampling.top_k, "sampling: keep the k most likely tokens (0 = off)");
  command->add_option("--top-p", flags->sampling.top_p, "sampling: nucleus threshold (1 = off)");
  command->add_option("--seed", flags->sampling.seed, "sampling seed");
  command->add_option("--max-batch-tokens", flags->max_batch_tokens,
                      "source tokens × beams per batch; sentences are batched by length (default 8192)")
      ->check(CLI::PositiveNumber);
  command->add_option("--max-batch-sentences", flags->max_batch_sentences, "sentences per batch (default 64)")
      ->check(CLI::PositiveNumber);
  command->add_flag("--no-prune", flags->no_prune, "keep finished sentences in the batch (to measure batch pruning)");
  command->add_flag("--scores", flags->scores, "print 'i ||| text ||| score' lines");
  command->add_flag("--ids", flags->ids, "read and write token ids (space-separated) instead of text");
  handlers.emplace_back(command, [flags] { run(*flags); });
}

}  // namespace elephant::cli
