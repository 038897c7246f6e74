// A config.json of arbitrary bytes (its quantization_config included) next to a quantized
// checkpoint's packed tensors: the mixtral fixture quantized once per process by `elephant quantize`
// (int4, groups of 32, scope all, so attention and lm_head are packed too). The model loads or
// throws elephant::Error, and a model that loads runs a three-token prefill and a decode step.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "fuzz/fuzz_input.h"
#include "fuzz/load_and_run.h"

namespace {

// The quantized tensors, written by the CLI on first use (the quantizer lives in the CLI).
std::filesystem::path quantized_tensors() {
  static const std::filesystem::path path = [] {
    const auto dir = elephant::fuzz::scratch_dir() / "quantized";
    const std::string command = std::string("'") + ELEPHANT_CLI_PATH + "' quantize -m '" + ELEPHANT_FIXTURES_DIR +
                                "/mixtral' -o '" + dir.string() + "' --bits 4 --group 32 --scope all --force >/dev/null 2>&1";
    if (std::system(command.c_str()) != 0) {
      std::fprintf(stderr, "quantized_model_load_fuzz: '%s' failed\n", command.c_str());
      std::abort();
    }
    return dir / "model.safetensors";
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto tensors = quantized_tensors();
  elephant::fuzz::write_scratch_file("config.json", data, size);
  const auto dir = elephant::fuzz::scratch_dir_with_link("model.safetensors", tensors);
  elephant::fuzz::load_and_run(dir);
  return 0;
}
