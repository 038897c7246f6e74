// Single-sequence generation: a convenience over the Engine with one request (the CLI's
// `generate`); prefill runs the prompt as one batch, then one decode step per token.
#pragma once

#include <span>

#include "engine/engine.h"
#include "engine/request.h"
#include "models/model.h"

namespace elephant::engine {

// forward: where the steps run (EngineOptions::forward); empty: the CPU model.
GenerateResult generate(models::Model& model, std::span<const int32_t> prompt, const GenerateOptions& options,
                        const GenerateCallbacks& callbacks = {}, const ForwardFn& forward = {});

}  // namespace elephant::engine
