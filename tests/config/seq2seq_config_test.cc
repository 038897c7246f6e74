// parse_seq2seq_config on the encoder-decoder fixtures with one key broken: layer counts are
// bounded before the per-layer tables are sized from them.
#include "config/seq2seq_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "support/fixtures.h"

namespace elephant::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

TEST(Seq2SeqConfig, LayerCountsBeyondAnyModelAreRefusedBeforeAllocating) {
  for (const auto& [family, key] : {std::pair{"switch", "num_layers"}, std::pair{"switch", "num_decoder_layers"},
                                    std::pair{"nllb_moe", "encoder_layers"}, std::pair{"nllb_moe", "decoder_layers"}}) {
    SCOPED_TRACE(std::string(family) + " " + key);
    auto json = testing::fixture_json(family, "config.json");
    ASSERT_NO_THROW(parse_seq2seq_config(json, "config.json"));
    json[key] = 1 << 30;
    EXPECT_THAT([&] { parse_seq2seq_config(json, "config.json"); },
                ThrowsMessage<Error>(AllOf(HasSubstr(std::string("config.json: key '") + key + "'"),
                                           HasSubstr("expected a number of layers no larger than 4096"),
                                           HasSubstr("found 1073741824"))));
  }
}

}  // namespace
}  // namespace elephant::config
