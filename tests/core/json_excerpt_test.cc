// Error messages quote JSON values through json_excerpt: small values exactly as dump() writes
// them, large or deeply nested ones cut short without recursing through every level.
#include <gtest/gtest.h>

#include "core/json_excerpt.h"

namespace elephant {
namespace {

TEST(JsonExcerpt, SmallValuesMatchDump) {
  for (const char* text : {R"([2,"</s>"])", R"({"a":1,"b":[1,2]})", "\"64\"", "64.5", "null", "[]", "{}"}) {
    const auto value = nlohmann::json::parse(text);
    EXPECT_EQ(json_excerpt(value), value.dump()) << text;
  }
}

TEST(JsonExcerpt, LongValuesAreCut) {
  const nlohmann::json big(std::vector<int>(100000, 12345));
  const std::string excerpt = json_excerpt(big);
  EXPECT_LE(excerpt.size(), 130u);
  EXPECT_EQ(excerpt.substr(0, 13), "[12345,12345,");
  EXPECT_EQ(excerpt.substr(excerpt.size() - 3), "...");
}

TEST(JsonExcerpt, DeepNestingStopsAtAFixedDepth) {
  nlohmann::json nested = 1;
  for (int i = 0; i < 10000; ++i) nested = nlohmann::json::array({std::move(nested)});
  EXPECT_EQ(json_excerpt(nested), "[[[[[...]]]]]");
}

}  // namespace
}  // namespace elephant
