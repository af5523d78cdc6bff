// The output checks every subcommand makes before its work: what --out names can be written (as
// engine/io/atomic_file.h writes it) and is none of the command's inputs. Inputs are compared as files, not as
// spellings, so a relative path, a symbolic link or a hard link to an input is caught too.
#pragma once

#include <string>
#include <vector>

namespace gramgan::cli {

// A file output: throws gramgan::Error (one line naming `out` and what to do) when it cannot be written or is
// the same file as one of `inputs`.
void check_file_output(const std::string& out, const std::vector<std::string>& inputs);

}  // namespace gramgan::cli
