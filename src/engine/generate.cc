#include "engine/generate.h"

#include "engine/engine.h"

namespace elephant::engine {

GenerateResult generate(models::Model& model, std::span<const int32_t> prompt, const GenerateOptions& options,
                        const GenerateCallbacks& callbacks, const ForwardFn& forward) {
  EngineOptions engine_options;
  engine_options.forward = forward;
  engine_options.max_sequences = 1;
  engine_options.max_step_rows = std::max<int>(static_cast<int>(prompt.size()), 1);
  Engine engine(model, engine_options);
  GenerateResult result;
  Request request{{prompt.begin(), prompt.end()}, options, callbacks};
  request.callbacks.on_finish = [&](const GenerateResult& finished) {
    result = finished;
    if (callbacks.on_finish) callbacks.on_finish(finished);
  };
  engine.submit(std::move(request));
  engine.run();
  return result;
}

}  // namespace elephant::engine
