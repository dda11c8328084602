// Run directories: every run writes into a new `<base>/<name>_<YYYY_MM_DD_HHMMSS>`, with
// `_2`, `_3`, … appended when that name is taken. A previous run is never overwritten.
#pragma once

#include <chrono>
#include <filesystem>
#include <string_view>

namespace brains {

// Creates and returns the directory (and `base` if needed). Raises ArgumentError for a
// name with a path separator, Error when the directory cannot be created.
std::filesystem::path create_run_directory(
    const std::filesystem::path& base, std::string_view name,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace brains
