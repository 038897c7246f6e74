// A config.json of arbitrary bytes next to a real checkpoint's tensors (the mixtral fixture): the
// model loads or throws elephant::Error (a config that disagrees with its tensors must be named,
// not crash a kernel), and a model that loads runs a three-token prefill and a decode step.
#include <cstdint>

#include "fuzz/fuzz_input.h"
#include "fuzz/load_and_run.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  elephant::fuzz::write_scratch_file("config.json", data, size);
  const auto dir =
      elephant::fuzz::scratch_dir_with_link("model.safetensors", ELEPHANT_FIXTURES_DIR "/mixtral/model.safetensors");
  elephant::fuzz::load_and_run(dir);
  return 0;
}
