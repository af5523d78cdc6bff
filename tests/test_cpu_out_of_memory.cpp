// Issue 16, point 8: out of memory on the cpu device names what was being allocated (the phase's label), the size,
// the machine's memory and what to try, not the simulator call that failed.
#include <gtest/gtest.h>

#include <string>

#include "engine/allocator.h"
#include "engine/error.h"
#include "engine/memory.h"

namespace {

TEST(CpuOutOfMemory, NamesThePhaseTheSizeAndTheAdvice) {
  const gramgan::AllocationScope scope("activations: G");
  try {
    gramgan::allocator(gramgan::Device::cpu()).allocate(std::size_t{1} << 62);
    FAIL() << "an allocation of 4 EiB succeeded";
  } catch (const gramgan::Error& e) {
    const std::string text = e.what();
    for (const char* part :
         {"cpu (host memory): out of memory", "activations: G", "4611686018427387904 bytes", "--size", "--batch"})
      EXPECT_NE(text.find(part), std::string::npos) << part << " missing in: " << text;
    EXPECT_EQ(text.find("cudaMalloc"), std::string::npos) << text;
    EXPECT_EQ(text.find("allocator.cpp"), std::string::npos) << text;
  }
}

TEST(CpuOutOfMemory, AdviceFollowsTheCommand) {
  const std::string before = gramgan::out_of_memory_advice();
  gramgan::set_out_of_memory_advice("try smaller images");
  const std::string text = gramgan::out_of_memory_message("cpu (host memory)", "stylize", 10, 1, 2, 0);
  gramgan::set_out_of_memory_advice(before);
  EXPECT_NE(text.find("try smaller images"), std::string::npos) << text;
}

}  // namespace
