// Tests that need a GPU skip (with the reason) when none can be used, so the suite runs anywhere;
// ctest counts them as skipped, not passed.
#pragma once

#include <gtest/gtest.h>

#include "kernels/cuda/device.h"

#define ELEPHANT_REQUIRE_CUDA_DEVICE()                                                  \
  do {                                                                                  \
    static const ::elephant::cuda::Availability cuda_availability = ::elephant::cuda::probe(); \
    if (!cuda_availability.usable) GTEST_SKIP() << "no CUDA device: " << cuda_availability.reason; \
  } while (false)
