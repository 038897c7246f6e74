// UTF-8 repair rule used for invalid input: each maximal ill-formed subpart becomes one U+FFFD,
// matching Python's errors="replace" (the golden tests rely on this for their invalid-UTF-8 texts).
#include <gtest/gtest.h>

#include "tokenizer/unicode.h"

namespace elephant::tokenizer {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(SanitizeUtf8, KeepsValidText) {
  std::string text = "abc \xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80";
  EXPECT_EQ(sanitize_utf8(text), text);
  EXPECT_TRUE(is_valid_utf8(text));
}

TEST(SanitizeUtf8, ReplacesMaximalSubparts) {
  EXPECT_EQ(sanitize_utf8("a\xFF" "b"), "a" + kFffd + "b");
  EXPECT_EQ(sanitize_utf8("\xE4\xB8"), kFffd);                      // truncated 3-byte sequence
  EXPECT_EQ(sanitize_utf8("\xE4\xB8x"), kFffd + "x");
  EXPECT_EQ(sanitize_utf8("\xC0\xAF"), kFffd + kFffd);              // overlong: two bad bytes
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80"), kFffd + kFffd + kFffd);  // surrogate
  EXPECT_EQ(sanitize_utf8("\xF0\x9F\x98"), kFffd);
  EXPECT_EQ(sanitize_utf8("\x80\x80"), kFffd + kFffd);
  EXPECT_EQ(sanitize_utf8("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xC3"));
}

TEST(Lowercase, UsesFullMapping) {
  EXPECT_EQ(to_lowercase("ABC \xC3\x84"), "abc \xC3\xA4");
  EXPECT_EQ(to_lowercase("\xC4\xB0"), "i\xCC\x87");  // U+0130
}

}  // namespace
}  // namespace elephant::tokenizer
