// Shared by the model-loading fuzz targets: load the checkpoint directory and run a three-token
// prefill and one decode step; elephant::Error is the only acceptable way to refuse it.
#pragma once

#include <cstdint>
#include <filesystem>

#include "core/error.h"
#include "layers/rows.h"
#include "models/model.h"

namespace elephant::fuzz {

inline void load_and_run(const std::filesystem::path& dir) {
  try {
    models::ModelOptions options;
    options.context_length = 8;
    const auto model = models::Model::load(dir, options);
    auto cache = model->make_kv_cache(1);
    const int32_t vocab = model->config().vocab_size;
    layers::RowBatch prefill;
    for (int32_t position = 0; position < 3; ++position) prefill.add(position % vocab, position, 0);
    model->forward(prefill, cache);
    layers::RowBatch decode;
    decode.add(vocab - 1, 3, 0);
    model->forward(decode, cache);
  } catch (const Error&) {
  }
}

}  // namespace elephant::fuzz
