#include "apps/cli/outputs.h"

#include "engine/error.h"
#include "engine/io/atomic_file.h"

namespace gramgan::cli {

void check_file_output(const std::string& out, const std::vector<std::string>& inputs) {
  for (const std::string& input : inputs)
    if (same_file(out, input))
      throw Error(out + ": would overwrite the input " + input + " (the same file); choose another --out");
  gramgan::check_output_file(out);
}

}  // namespace gramgan::cli
