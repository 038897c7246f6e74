// A request body of arbitrary bytes: parse_generation_request accepts it or throws ApiError (the
// server's 400 naming the field); no other exception and no crash.
#include <cstdint>

#include "server/openai_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto body = elephant::server::Json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return 0;
  for (const auto endpoint : {elephant::server::Endpoint::kCompletions, elephant::server::Endpoint::kChatCompletions}) {
    try {
      elephant::server::parse_generation_request(body, endpoint, {});
    } catch (const elephant::server::ApiError&) {
    }
  }
  return 0;
}
