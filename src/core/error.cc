#include "core/error.h"

#include <cstdio>

namespace elephant {

void warn(const std::string& message) { std::fprintf(stderr, "warning: %s\n", message.c_str()); }

}  // namespace elephant
