// Uses the installed headers and library: parses a config and prints a typed value.
#include <brains/core/config.h>
#include <brains/version.h>

#include <iostream>

int main() {
  const brains::Config config = brains::Config::parse("waveform:\n  plateau_length: 42\n");
  std::cout << "brains " << BRAINS_VERSION << " plateau_length "
            << config.at("waveform").get<int>("plateau_length") << "\n";
  return 0;
}
