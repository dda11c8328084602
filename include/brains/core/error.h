// The one error hierarchy of brains-cpp. Every failure a user can cause surfaces as one of
// these, with enough context (key path, file and position) to fix it from the message alone.
#pragma once

#include <stdexcept>
#include <string>

namespace brains {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A configuration value is missing, has the wrong type or is out of range.
// what() reads "<key.path>: <message>".
class ConfigError : public Error {
 public:
  ConfigError(std::string key_path, const std::string& message);
  const std::string& key_path() const noexcept { return key_path_; }

 private:
  std::string key_path_;
};

// A file cannot be parsed. what() reads "<file>: <position>: <message>" (position may be
// empty, e.g. "line 12", "byte 4096", "entry data.pkl").
class FormatError : public Error {
 public:
  FormatError(std::string file, std::string position, const std::string& message);
  const std::string& file() const noexcept { return file_; }
  const std::string& position() const noexcept { return position_; }

 private:
  std::string file_;
  std::string position_;
};

// A voltage or waveform would leave the safe envelope; nothing was sent to the device.
class SafetyError : public Error {
 public:
  using Error::Error;
};

// A driver or instrument failed (library missing, device error, timeout).
class HardwareError : public Error {
 public:
  using Error::Error;
};

// The user interrupted a long operation (SIGINT/SIGTERM); state on disk is consistent.
class InterruptedError : public Error {
 public:
  using Error::Error;
};

// An argument to a library call is invalid (the C++ counterpart of a usage error).
class ArgumentError : public Error {
 public:
  using Error::Error;
};

// Exit codes of the command line (DESIGN.md): usage/config/format 2, other failures 1,
// safety refusal 3, interrupted 130.
int exit_code_for(const std::exception& error) noexcept;

}  // namespace brains
