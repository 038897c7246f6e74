// A config.json of arbitrary bytes next to a real checkpoint's tensors (the mixtral fixture): the
// model loads or throws elephant::Error (a config that disagrees with its tensors must be named,
// not crash a kernel), and a model that loads runs a three-token prefill and a decode step.
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "fuzz/fuzz_input.h"
#include "layers/rows.h"
#include "models/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  elephant::fuzz::write_scratch_file("config.json", data, size);
  const auto dir =
      elephant::fuzz::scratch_dir_with_link("model.safetensors", ELEPHANT_FIXTURES_DIR "/mixtral/model.safetensors");
  try {
    elephant::models::ModelOptions options;
    options.context_length = 8;
    const auto model = elephant::models::Model::load(dir, options);
    auto cache = model->make_kv_cache(1);
    const int32_t vocab = model->config().vocab_size;
    elephant::layers::RowBatch prefill;
    for (int32_t position = 0; position < 3; ++position) prefill.add(position % vocab, position, 0);
    model->forward(prefill, cache);
    elephant::layers::RowBatch decode;
    decode.add(vocab - 1, 3, 0);
    model->forward(decode, cache);
  } catch (const elephant::Error&) {
  }
  return 0;
}
