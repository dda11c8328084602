#include "brains/core/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>

namespace brains::log {

namespace {

// The process has one stderr; the logger that writes to it is necessarily shared.
struct Logger {
  std::mutex mutex;
  std::shared_ptr<spdlog::sinks::stderr_sink_mt> console =
      std::make_shared<spdlog::sinks::stderr_sink_mt>();
  std::shared_ptr<spdlog::sinks::basic_file_sink_mt> file;
  std::atomic<Level> level{Level::info};
  std::atomic<bool> quiet{false};

  Logger() { console->set_pattern("brains: %l: %v"); }
};

Logger& logger() {
  static Logger instance;
  return instance;
}

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::debug: return spdlog::level::debug;
    case Level::info: return spdlog::level::info;
    case Level::warn: return spdlog::level::warn;
    case Level::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

void set_level(Level level) { logger().level = level; }
void set_quiet(bool quiet) { logger().quiet = quiet; }
bool quiet() { return logger().quiet; }

void write(Level level, std::string_view message) {
  Logger& state = logger();
  const spdlog::details::log_msg record("brains", to_spdlog(level),
                                        spdlog::string_view_t(message.data(), message.size()));
  const Level threshold = state.quiet ? Level::warn : state.level.load();
  std::lock_guard<std::mutex> lock(state.mutex);
  if (level >= threshold) {
    state.console->log(record);
    state.console->flush();
  }
  if (state.file && level >= Level::info) {
    state.file->log(record);
    state.file->flush();
  }
}

FileSink::FileSink(const std::filesystem::path& file) {
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.string());
  sink->set_pattern("%Y-%m-%d %H:%M:%S.%e %l: %v");
  std::lock_guard<std::mutex> lock(logger().mutex);
  logger().file = std::move(sink);
}

FileSink::~FileSink() {
  std::lock_guard<std::mutex> lock(logger().mutex);
  logger().file.reset();
}

}  // namespace brains::log
