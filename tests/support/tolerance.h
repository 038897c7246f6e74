// Derived tolerances and worst-element reporting shared by the numeric tests.
//
// A length-K fp32 dot product carries a rounding error of about eps · sqrt(K) · (magnitude of the
// result) when rounding errors are independent; a model's output passes through `depth` such
// reductions in sequence, each adding its share. So a logit is trusted to
//   c · eps · sqrt(K_max) · depth · max|reference|
// with c a small safety factor. A wrong routing decision or a wrong formula moves logits by
// orders of magnitude more.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

namespace elephant::testing {

inline constexpr double kEpsF32 = 1.1920928955078125e-07;  // 2^-23
inline constexpr double kEpsBF16 = 0.0078125;              // 2^-7: bf16 keeps 8 significant bits

inline double reduction_tolerance(double eps, int64_t reduction_length, int64_t depth, double magnitude,
                                  double safety = 4.0) {
  return safety * eps * std::sqrt(static_cast<double>(reduction_length)) * static_cast<double>(depth) * magnitude;
}

inline double max_abs(std::span<const float> values) {
  double m = 0.0;
  for (float v : values) m = std::max(m, static_cast<double>(std::fabs(v)));
  return m;
}

struct Comparison {
  double max_error = 0.0;
  int64_t worst_index = -1;
};

inline Comparison compare(std::span<const float> expected, std::span<const float> actual) {
  Comparison result;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double error = std::fabs(static_cast<double>(expected[i]) - static_cast<double>(actual[i]));
    if (!(error <= result.max_error)) {  // also catches NaN
      result.max_error = std::isnan(error) ? std::numeric_limits<double>::infinity() : error;
      result.worst_index = static_cast<int64_t>(i);
    }
  }
  return result;
}

// Fails with the worst element (index, expected, actual) when the max error exceeds tolerance.
inline void expect_close(std::span<const float> expected, std::span<const float> actual, double tolerance,
                         const std::string& what) {
  ASSERT_EQ(expected.size(), actual.size()) << what;
  const Comparison c = compare(expected, actual);
  std::printf("[ compare  ] %s: max abs error %.3g (tolerance %.3g)\n", what.c_str(), c.max_error, tolerance);
  if (c.max_error > tolerance) {
    ADD_FAILURE() << what << ": max abs error " << c.max_error << " > tolerance " << tolerance << " at index "
                  << c.worst_index << " (expected " << expected[static_cast<size_t>(c.worst_index)] << ", got "
                  << actual[static_cast<size_t>(c.worst_index)] << ")";
  }
}

}  // namespace elephant::testing
