#include "brains/core/run_directory.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>

#include "brains/core/error.h"

namespace brains {

namespace fs = std::filesystem;

namespace {
std::string timestamp(std::chrono::system_clock::time_point now) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  std::strftime(text, sizeof text, "%Y_%m_%d_%H%M%S", &local);
  return text;
}
}  // namespace

fs::path create_run_directory(const fs::path& base, std::string_view name,
                              std::chrono::system_clock::time_point now) {
  if (name.empty() || name.find('/') != std::string_view::npos || name == "." || name == "..")
    throw ArgumentError("cannot create run directory: invalid run name '" + std::string(name) +
                        "'");
  std::error_code error;
  fs::create_directories(base, error);
  if (error)
    throw Error("cannot create results directory " + base.string() + ": " + error.message());
  const std::string stem = std::string(name) + "_" + timestamp(now);
  for (int attempt = 1;; ++attempt) {
    const fs::path candidate = base / (attempt == 1 ? stem : stem + "_" + std::to_string(attempt));
    // mkdir is atomic: exactly one of two concurrent runs gets each name.
    if (::mkdir(candidate.c_str(), 0777) == 0) return candidate;
    if (errno != EEXIST)
      throw Error("cannot create run directory " + candidate.string() + ": " +
                  std::strerror(errno));
  }
}

}  // namespace brains
