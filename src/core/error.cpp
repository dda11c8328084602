#include "brains/core/error.h"

namespace brains {

namespace {
std::string join_position(const std::string& file, const std::string& position,
                          const std::string& message) {
  std::string text = file;
  if (!position.empty()) text += ": " + position;
  return text + ": " + message;
}
}  // namespace

ConfigError::ConfigError(std::string key_path, const std::string& message)
    : Error(key_path.empty() ? message : key_path + ": " + message),
      key_path_(std::move(key_path)) {}

FormatError::FormatError(std::string file, std::string position, const std::string& message)
    : Error(join_position(file, position, message)),
      file_(std::move(file)),
      position_(std::move(position)) {}

int exit_code_for(const std::exception& error) noexcept {
  if (dynamic_cast<const InterruptedError*>(&error)) return 130;
  if (dynamic_cast<const SafetyError*>(&error)) return 3;
  if (dynamic_cast<const ConfigError*>(&error) || dynamic_cast<const FormatError*>(&error) ||
      dynamic_cast<const ArgumentError*>(&error))
    return 2;
  return 1;
}

}  // namespace brains
