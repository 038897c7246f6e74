// What a model reads: parameter and byte counts gathered while its tensors are loaded.
#pragma once

#include <cstdint>

namespace elephant::models {

struct ParameterCounts {
  int64_t total = 0;             // every tensor the model reads
  int64_t active_per_token = 0;  // total minus the routed experts a token does not use
  int64_t weight_bytes = 0;      // bytes of all tensors the model reads
  int64_t expert_bytes = 0;      // bytes of all routed experts (read only when rows are routed to them)
  int64_t embedding_bytes = 0;   // bytes of the input embedding table (only a row per token is read)
};

}  // namespace elephant::models
