// Config: a YAML tree with brains-py's keys, read with `!include relative/path` resolved,
// and typed access whose errors name the full key path
// (`processor.waveform.slope_length: expected an integer, got 'abc'`).
//
// Raises: FormatError (unreadable file, YAML syntax, missing include, include cycle),
//         ConfigError (missing key, wrong type, out-of-range value).
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "brains/core/error.h"

namespace brains {

// An `!include` names a file that does not exist.
class MissingIncludeError : public FormatError {
 public:
  using FormatError::FormatError;
};

class Config {
 public:
  // An empty mapping at the root.
  Config();
  // A view of `node` found at `key_path` (empty for the root).
  explicit Config(YAML::Node node, std::string key_path = "");

  // Reads a YAML file, resolving `!include` relative to the including file (nested,
  // cycles detected).
  static Config load(const std::filesystem::path& file);
  // Parses YAML text; includes resolve relative to base_dir. origin names the text in errors.
  static Config parse(const std::string& text, const std::string& origin = "<config>",
                      const std::filesystem::path& base_dir = ".");

  const YAML::Node& node() const noexcept { return node_; }
  const std::string& key_path() const noexcept { return key_path_; }
  std::string key_path(std::string_view key) const;

  // True when `key` is present and not null.
  bool has(std::string_view key) const;
  // True when `key` is present, even with a null value (brains-py gives null a meaning of
  // its own for electrode effects: "switch this off").
  bool contains(std::string_view key) const;
  // Child at key (a mapping or any node). Throws ConfigError when missing.
  Config at(std::string_view key) const;
  std::optional<Config> find(std::string_view key) const;
  std::vector<std::string> keys() const;

  // The node itself, converted. Throws ConfigError naming the key path on a type mismatch.
  template <typename T>
  T as() const;
  // Required and optional typed values.
  template <typename T>
  T get(std::string_view key) const {
    return at(key).as<T>();
  }
  template <typename T>
  T get(std::string_view key, const T& fallback) const {
    return has(key) ? at(key).as<T>() : fallback;
  }
  // The first of several accepted spellings that is present (e.g. {"gene_range",
  // "generange"}); its name is returned through `used` when given.
  std::optional<Config> find_any(const std::vector<std::string>& spellings,
                                 std::string* used = nullptr) const;

  template <typename T>
  void set(std::string_view key, const T& value) {
    node_[std::string(key)] = value;
  }

  // Keys of this mapping that are not in `known`, each with the closest known key
  // (empty when nothing is close).
  struct UnknownKey {
    std::string key_path;
    std::string suggestion;
  };
  std::vector<UnknownKey> unknown_keys(const std::vector<std::string>& known) const;
  // Logs one warning per unknown key ("unknown key 'a.b' (did you mean 'a.c'?)").
  void warn_unknown_keys(const std::vector<std::string>& known) const;

  // Writes the resolved tree (includes expanded) as block-style YAML.
  void save(const std::filesystem::path& file) const;
  std::string dump() const;

 private:
  [[noreturn]] void type_error(const char* expected) const;
  YAML::Node node_;
  std::string key_path_;
};

// The candidate closest to `key` by edit distance, or "" when none is within a third of
// the key's length (at least 2 edits).
std::string closest_match(std::string_view key, const std::vector<std::string>& candidates);

}  // namespace brains
