// The one check for CUDA runtime calls (real or simulated): on failure it throws gramgan::CudaError naming
// the call, the file and line, and the runtime's error. Works in nvcc and simulator translation units alike:
// cudaGetErrorName/String resolve to whichever runtime the call's error type belongs to.
#pragma once

#include <stdexcept>
#include <string>

namespace gramgan {

class CudaError : public std::runtime_error {
 public:
  CudaError(const char* expression, const char* file, int line, const char* name, const char* description)
      : std::runtime_error(std::string(expression) + " failed at " + file + ":" + std::to_string(line) + ": " + name +
                           ": " + description) {}
};

}  // namespace gramgan

#define GG_CUDA_CHECK(expression)                                                               \
  do {                                                                                          \
    const auto gg_status_ = (expression);                                                       \
    if (gg_status_ != decltype(gg_status_){})                                                   \
      throw ::gramgan::CudaError(#expression, __FILE__, __LINE__, cudaGetErrorName(gg_status_), \
                                 cudaGetErrorString(gg_status_));                               \
  } while (0)
