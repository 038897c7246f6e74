// Named shapes of well-known MoE models as config.json objects, for random-weight benchmarks
// (`elephant bench --random-model mixtral-4L`) that need no download.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace elephant::models {

// shape = "<name>-<N>L" with name one of random_shape_names(); N = number of layers (1..64).
// Throws Error listing the names when the shape is unknown.
nlohmann::json random_model_config(std::string_view shape);
std::string random_shape_names();

}  // namespace elephant::models
