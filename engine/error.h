// gramgan::Error: a failure the user can act on (bad input file, bad argument, unsupported shape). The CLI's
// main prints what() on one line and exits non-zero; library code only throws.
#pragma once

#include <stdexcept>

#include "kernels/check.h"  // gramgan::CudaError and GG_CUDA_CHECK

namespace gramgan {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace gramgan
