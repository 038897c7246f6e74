// Malformed or unsupported tokenizer files must raise elephant::Error naming the file and the
// field, never crash (this suite also runs under AddressSanitizer + UBSan).
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

#include "core/error.h"
#include "golden.h"
#include "tokenizer/tokenizer.h"

namespace elephant::tokenizer::testing {
namespace {

namespace fs = std::filesystem;

class MalformedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = fs::temp_directory_path() /
                 fmt::format("elephant_tokenizer_{}_{}", ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                             static_cast<long>(::getpid()));
    fs::create_directories(directory_);
  }
  void TearDown() override { fs::remove_all(directory_); }

  fs::path write(const std::string& name, const std::string& content) {
    fs::path path = directory_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  // Loads `json` as tokenizer.json and returns the error message (fails the test if none).
  std::string error_for(const std::string& json) {
    fs::path path = write("tokenizer.json", json);
    try {
      Tokenizer::load(path);
    } catch (const Error& e) {
      std::string message = e.what();
      EXPECT_NE(message.find(path.string()), std::string::npos) << message;
      return message;
    }
    ADD_FAILURE() << "no error for " << json;
    return {};
  }

  fs::path directory_;
};

constexpr const char* kValidBpe =
    R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}})";

TEST_F(MalformedTest, ValidMinimalFileLoads) {
  fs::path path = write("tokenizer.json", kValidBpe);
  auto tokenizer = Tokenizer::load(path);
  EXPECT_EQ(tokenizer->encode("abab"), (std::vector<int32_t>{2, 2}));
}

TEST_F(MalformedTest, BadJson) {
  std::string message = error_for(R"({"model": {"type": "BPE", "vocab": {)");
  EXPECT_NE(message.find("not valid JSON"), std::string::npos) << message;
}

TEST_F(MalformedTest, NotAnObject) {
  std::string message = error_for("[1, 2, 3]");
  EXPECT_NE(message.find("expected a JSON object"), std::string::npos) << message;
}

TEST_F(MalformedTest, MissingModel) {
  std::string message = error_for(R"({"normalizer": null})");
  EXPECT_NE(message.find("missing required field \"model\""), std::string::npos) << message;
}

TEST_F(MalformedTest, UnknownModelType) {
  std::string message = error_for(R"({"model": {"type": "Transformer", "vocab": {}}})");
  EXPECT_NE(message.find("model: unsupported model type \"Transformer\""), std::string::npos) << message;
}

TEST_F(MalformedTest, MissingVocab) {
  std::string message = error_for(R"({"model": {"type": "BPE", "merges": []}})");
  EXPECT_NE(message.find("model: missing required field \"vocab\""), std::string::npos) << message;
}

TEST_F(MalformedTest, VocabWithWrongTypes) {
  std::string message = error_for(R"({"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}})");
  EXPECT_NE(message.find("model.vocab.a: expected an integer, found string"), std::string::npos) << message;
  message = error_for(R"({"model": {"type": "BPE", "vocab": {"a": -3}, "merges": []}})");
  EXPECT_NE(message.find("token id -3 is out of range"), std::string::npos) << message;
}

TEST_F(MalformedTest, MergeWithUnknownToken) {
  std::string message = error_for(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a c"]}})");
  EXPECT_NE(message.find("model.merges[0]: merge refers to token \"c\", which is not in model.vocab"),
            std::string::npos) << message;
  message = error_for(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]}})");
  EXPECT_NE(message.find("merged token \"ab\" is not in model.vocab"), std::string::npos) << message;
  message = error_for(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a"]}})");
  EXPECT_NE(message.find("expected \"left right\""), std::string::npos) << message;
}

TEST_F(MalformedTest, UnknownUnkToken) {
  std::string message = error_for(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": "<unk>"}})");
  EXPECT_NE(message.find("model.unk_token: unk_token \"<unk>\" is not in model.vocab"), std::string::npos) << message;
}

TEST_F(MalformedTest, UnigramProblems) {
  std::string message = error_for(R"({"model": {"type": "Unigram", "vocab": [["a", -1.0], ["b"]]}})");
  EXPECT_NE(message.find("model.vocab[1]: expected a [piece, score] pair"), std::string::npos) << message;
  message = error_for(R"({"model": {"type": "Unigram", "vocab": [["a", -1.0]], "unk_id": 5}})");
  EXPECT_NE(message.find("unk_id 5 is outside the vocab"), std::string::npos) << message;
}

TEST_F(MalformedTest, InvalidRegex) {
  std::string message = error_for(std::string(R"({"model": )") + R"({"type": "BPE", "vocab": {"a": 0}, "merges": []},)" +
                                  R"("pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"},)" +
                                  R"("behavior": "Isolated", "invert": false}})");
  EXPECT_NE(message.find("pre_tokenizer: invalid regex \"(unclosed\""), std::string::npos) << message;
}

TEST_F(MalformedTest, UnsupportedComponents) {
  auto with = [](const std::string& member) {
    return std::string(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, )") + member + "}";
  };
  EXPECT_NE(error_for(with(R"("normalizer": {"type": "BertNormalizer"})")).find("unsupported normalizer type \"BertNormalizer\""),
            std::string::npos);
  EXPECT_NE(error_for(with(R"("pre_tokenizer": {"type": "UnicodeScripts"})")).find("unsupported pre-tokenizer type"),
            std::string::npos);
  EXPECT_NE(error_for(with(R"("decoder": {"type": "CTC"})")).find("unsupported decoder type \"CTC\""), std::string::npos);
  EXPECT_NE(error_for(with(R"("post_processor": {"type": "Nope"})")).find("unsupported post-processor type"),
            std::string::npos);
  EXPECT_NE(error_for(with(R"("pre_tokenizer": {"type": "Split", "pattern": {"Regex": "x"}, "behavior": "Sideways"})"))
                .find("unknown split behavior \"Sideways\""),
            std::string::npos);
  EXPECT_NE(error_for(with(R"("normalizer": {"type": "Precompiled", "precompiled_charsmap": "AAAA"})"))
                .find("precompiled_charsmap"),
            std::string::npos);
}

TEST_F(MalformedTest, AddedTokenAndTemplateProblems) {
  std::string base = R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, )";
  std::string message = error_for(base + R"("added_tokens": [{"id": 5}]})");
  EXPECT_NE(message.find("added_tokens[0]: missing required field \"content\""), std::string::npos) << message;
  message = error_for(base + R"("post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}], "special_tokens": {}}})");
  EXPECT_NE(message.find("special token \"<s>\" is not listed"), std::string::npos) << message;
}

TEST_F(MalformedTest, BadSentencePieceModelAndMissingFiles) {
  fs::path model = write("tokenizer.model", "this is not a protobuf");
  try {
    Tokenizer::load(directory_);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(model.string()), std::string::npos) << e.what();
  }
  fs::remove(model);
  EXPECT_THROW(Tokenizer::load(directory_), Error);
  EXPECT_THROW(Tokenizer::load(directory_ / "missing.json"), Error);
}

TEST_F(MalformedTest, ConfigNamesUnknownEos) {
  write("tokenizer.json", kValidBpe);
  fs::path config = write("tokenizer_config.json", R"({"eos_token": {"content": "</s>"}})");
  try {
    Tokenizer::load(directory_);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find(config.string()), std::string::npos) << message;
    EXPECT_NE(message.find("eos_token: token \"</s>\" is not in the tokenizer's vocabulary"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace elephant::tokenizer::testing
