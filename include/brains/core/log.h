// Logging to stderr and, while a run is active, to `<run dir>/run.log`.
// Messages are one line each; format with fmt syntax: log::info("epoch {} loss {:.4f}", e, l).
#pragma once

#include <fmt/format.h>

#include <filesystem>
#include <string_view>

namespace brains::log {

enum class Level { debug, info, warn, error };

// Messages below `level` are dropped on stderr (the log file always gets info and above).
void set_level(Level level);
// Quiet mode: stderr shows warnings and errors only.
void set_quiet(bool quiet);
bool quiet();

void write(Level level, std::string_view message);

// Also write to `file` (appending) until the returned guard is destroyed.
class FileSink {
 public:
  explicit FileSink(const std::filesystem::path& file);
  ~FileSink();
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;
};

template <typename... Args>
void debug(fmt::format_string<Args...> format, Args&&... args) {
  write(Level::debug, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
  write(Level::info, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
  write(Level::warn, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> format, Args&&... args) {
  write(Level::error, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace brains::log
