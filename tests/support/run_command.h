// Runs a command line through /bin/sh and captures its exit code, stdout and stderr.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "support/temp_dir.h"

namespace brains::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline CommandResult run_command(const std::string& command) {
  TempDir dir;
  const auto out = dir / "stdout";
  const auto err = dir / "stderr";
  const std::string line = command + " >'" + out.string() + "' 2>'" + err.string() + "'";
  const int status = std::system(line.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  const auto slurp = [](const std::filesystem::path& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  result.out = slurp(out);
  result.err = slurp(err);
  return result;
}

// `brains ARGS` with the CLI built alongside the tests.
inline CommandResult run_brains(const std::string& arguments) {
  return run_command(std::string("'") + BRAINS_CLI + "' " + arguments);
}

// Python with numpy and torch (Debian's python3-numpy, python3-torch), to prove that the
// files we write load in the reference stack.
inline CommandResult run_python(const std::string& code) {
  TempDir dir;
  const auto script = dir.write("check.py", code);
  return run_command("/usr/bin/python3 '" + script.string() + "'");
}

}  // namespace brains::testing
