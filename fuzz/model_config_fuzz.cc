// config.json of arbitrary bytes, read as the loaders read it (an encoder-decoder config by
// parse_seq2seq_config, else parse_model_config + validate): accepted, or elephant::Error
// (nlohmann's own exceptions would reach the user without the file or the key).
#include <cstdint>

#include <nlohmann/json.hpp>

#include "config/model_config.h"
#include "config/seq2seq_config.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto json = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return 0;
  try {
    if (elephant::config::is_seq2seq_config(json)) {
      elephant::config::parse_seq2seq_config(json, "config.json");
    } else {
      const auto config = elephant::config::parse_model_config(json, "config.json");
      elephant::config::validate(config, "config.json");
    }
  } catch (const elephant::Error&) {
  }
  return 0;
}
