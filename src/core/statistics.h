// Statistics of repeated measurements (benchmarks, the bandwidth meter).
#pragma once

#include <algorithm>
#include <vector>

namespace elephant {

// The middle value (the upper of the two middle ones for an even count): robust to the outliers a
// shared host produces. values must not be empty.
inline double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace elephant
