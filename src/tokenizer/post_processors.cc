// tokenizer.json post-processors for single sequences: TemplateProcessing, RobertaProcessing,
// BertProcessing, ByteLevel (ids unchanged) and Sequence.
//
// Elephant encodes one sequence at a time (prompts, not sentence pairs), so only the "single"
// template is read; the "pair" template is ignored rather than rejected.
#include "tokenizer/post_processors.h"

namespace elephant::tokenizer {
namespace {

class Template final : public PostProcessor {
 public:
  // Each item is either a run of special ids or the sequence itself (nullopt).
  explicit Template(std::vector<std::optional<std::vector<int32_t>>> items) : items_(std::move(items)) {}
  void process(std::vector<int32_t>& ids) const override {
    std::vector<int32_t> out;
    out.reserve(ids.size() + items_.size());
    for (const auto& item : items_) {
      if (item) {
        out.insert(out.end(), item->begin(), item->end());
      } else {
        out.insert(out.end(), ids.begin(), ids.end());
      }
    }
    ids = std::move(out);
  }

 private:
  std::vector<std::optional<std::vector<int32_t>>> items_;
};

class Sequence final : public PostProcessor {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& step : steps_) step->process(ids);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

std::unique_ptr<PostProcessor> parse_template(const JsonField& node) {
  JsonField single = node.at("single");
  std::optional<JsonField> special_tokens = node.find("special_tokens");
  std::vector<std::optional<std::vector<int32_t>>> items;
  for (std::size_t i = 0; i < single.size(); ++i) {
    JsonField item = single.at(i);
    if (auto sequence = item.find("Sequence")) {
      std::string id = sequence->at("id").string();
      // A single-sequence template can only meaningfully refer to the first sequence.
      if (id == "A") items.emplace_back(std::nullopt);
      continue;
    }
    JsonField special = item.at("SpecialToken");
    std::string name = special.at("id").string();
    std::optional<JsonField> entry = special_tokens ? special_tokens->find(name) : std::nullopt;
    if (!entry) special.fail("special token \"{}\" is not listed in the template's special_tokens", name);
    JsonField id_list = entry->at("ids");
    std::vector<int32_t> ids;
    for (std::size_t k = 0; k < id_list.size(); ++k) ids.push_back(id_list.at(k).token_id());
    items.emplace_back(std::move(ids));
  }
  return std::make_unique<Template>(std::move(items));
}

// Roberta/Bert: "cls": [token, id], "sep": [token, id]; a single sequence becomes cls A sep.
std::unique_ptr<PostProcessor> parse_cls_sep(const JsonField& node) {
  auto id_of = [&](std::string_view key) {
    JsonField pair = node.at(key);
    if (pair.size() != 2) pair.fail("expected a [token, id] pair, found {} elements", pair.size());
    return pair.at(1).token_id();
  };
  std::vector<std::optional<std::vector<int32_t>>> items;
  items.emplace_back(std::vector<int32_t>{id_of("cls")});
  items.emplace_back(std::nullopt);
  items.emplace_back(std::vector<int32_t>{id_of("sep")});
  return std::make_unique<Template>(std::move(items));
}

}  // namespace

std::unique_ptr<PostProcessor> parse_post_processor(const JsonField& node) {
  std::string type = node.type();
  if (type == "TemplateProcessing") return parse_template(node);
  if (type == "RobertaProcessing" || type == "BertProcessing") return parse_cls_sep(node);
  if (type == "ByteLevel") return nullptr;
  if (type == "Sequence") {
    JsonField list = node.at("processors");
    std::vector<std::unique_ptr<PostProcessor>> steps;
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (auto step = parse_post_processor(list.at(i))) steps.push_back(std::move(step));
    }
    return std::make_unique<Sequence>(std::move(steps));
  }
  node.fail("unsupported post-processor type \"{}\" (supported: TemplateProcessing, RobertaProcessing, "
            "BertProcessing, ByteLevel, Sequence)", type);
}

}  // namespace elephant::tokenizer
