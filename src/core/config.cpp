#include "brains/core/config.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "brains/core/log.h"

namespace brains {

namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw FormatError(file.string(), "", "cannot read file: no such file or not readable");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

YAML::Node parse_yaml(const std::string& text, const std::string& origin) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw FormatError(origin, "line " + std::to_string(e.mark.line + 1) + ", column " +
                                  std::to_string(e.mark.column + 1),
                      "invalid YAML: " + e.msg);
  }
}

// Replaces every `!include path` scalar by the resolved tree of that file. `chain` holds
// the canonical paths of the files being included, to detect cycles.
YAML::Node resolve_includes(const YAML::Node& node, const fs::path& base_dir,
                            const std::string& origin, std::vector<fs::path>& chain);

YAML::Node load_included(const YAML::Node& node, const fs::path& base_dir,
                         const std::string& origin, std::vector<fs::path>& chain) {
  const std::string position = "line " + std::to_string(node.Mark().line + 1);
  if (!node.IsScalar() || node.Scalar().empty())
    throw FormatError(origin, position, "!include needs a file path");
  fs::path target = base_dir / node.Scalar();
  if (!fs::exists(target))
    throw MissingIncludeError(origin, position,
                      "cannot include '" + node.Scalar() + "': no such file " + target.string());
  fs::path canonical = fs::weakly_canonical(target);
  if (std::find(chain.begin(), chain.end(), canonical) != chain.end())
    throw FormatError(origin, position, "include cycle: '" + node.Scalar() + "' includes itself");
  chain.push_back(canonical);
  YAML::Node included = parse_yaml(read_text(target), target.string());
  YAML::Node resolved = resolve_includes(included, target.parent_path(), target.string(), chain);
  chain.pop_back();
  return resolved;
}

YAML::Node resolve_includes(const YAML::Node& node, const fs::path& base_dir,
                            const std::string& origin, std::vector<fs::path>& chain) {
  if (node.Tag() == "!include") return load_included(node, base_dir, origin, chain);
  if (node.IsMap()) {
    YAML::Node out(YAML::NodeType::Map);
    for (const auto& item : node)
      out[item.first.Scalar()] = resolve_includes(item.second, base_dir, origin, chain);
    return out;
  }
  if (node.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (const auto& item : node) out.push_back(resolve_includes(item, base_dir, origin, chain));
    return out;
  }
  return YAML::Clone(node);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string describe(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "nothing";
}

}  // namespace

Config::Config() : node_(YAML::NodeType::Map) {}

Config::Config(YAML::Node node, std::string key_path)
    : node_(std::move(node)), key_path_(std::move(key_path)) {}

Config Config::load(const fs::path& file) {
  std::vector<fs::path> chain{fs::weakly_canonical(file)};
  const std::string text = read_text(file);
  YAML::Node root = parse_yaml(text, file.string());
  return Config(resolve_includes(root, file.parent_path(), file.string(), chain));
}

Config Config::parse(const std::string& text, const std::string& origin, const fs::path& base_dir) {
  std::vector<fs::path> chain;
  return Config(resolve_includes(parse_yaml(text, origin), base_dir, origin, chain));
}

std::string Config::key_path(std::string_view key) const {
  return key_path_.empty() ? std::string(key) : key_path_ + "." + std::string(key);
}

bool Config::has(std::string_view key) const {
  if (!node_.IsMap()) return false;
  const YAML::Node child = node_[std::string(key)];
  return child.IsDefined() && !child.IsNull();
}

bool Config::contains(std::string_view key) const {
  return node_.IsMap() && node_[std::string(key)].IsDefined();
}

std::optional<Config> Config::find(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  return Config(node_[std::string(key)], key_path(key));
}

Config Config::at(std::string_view key) const {
  if (auto child = find(key)) return *child;
  if (!node_.IsMap() && node_.IsDefined() && !node_.IsNull())
    throw ConfigError(key_path_.empty() ? "<root>" : key_path_,
                      "expected a mapping with key '" + std::string(key) + "', got " +
                          describe(node_));
  throw ConfigError(key_path(key), "missing required key");
}

std::optional<Config> Config::find_any(const std::vector<std::string>& spellings,
                                       std::string* used) const {
  for (const auto& spelling : spellings) {
    if (auto child = find(spelling)) {
      if (used) *used = spelling;
      return child;
    }
  }
  return std::nullopt;
}

std::vector<std::string> Config::keys() const {
  std::vector<std::string> out;
  if (node_.IsMap())
    for (const auto& item : node_) out.push_back(item.first.Scalar());
  return out;
}

void Config::type_error(const char* expected) const {
  throw ConfigError(key_path_, std::string("expected ") + expected + ", got " + describe(node_));
}

namespace {
template <typename T>
bool convert_to(const YAML::Node& node, T& out) {
  return YAML::convert<T>::decode(node, out);
}
}  // namespace

#define BRAINS_CONFIG_AS(TYPE, DESCRIPTION)                        \
  template <>                                                      \
  TYPE Config::as<TYPE>() const {                                  \
    TYPE value{};                                                  \
    try {                                                          \
      if (node_.IsDefined() && convert_to(node_, value)) return value; \
    } catch (const YAML::Exception&) {                             \
    }                                                              \
    type_error(DESCRIPTION);                                       \
  }

BRAINS_CONFIG_AS(bool, "true or false")
BRAINS_CONFIG_AS(int, "an integer")
BRAINS_CONFIG_AS(std::int64_t, "an integer")
BRAINS_CONFIG_AS(std::uint64_t, "a non-negative integer")
BRAINS_CONFIG_AS(double, "a number")
BRAINS_CONFIG_AS(float, "a number")
BRAINS_CONFIG_AS(std::string, "a string")
BRAINS_CONFIG_AS(std::vector<double>, "a list of numbers")
BRAINS_CONFIG_AS(std::vector<std::int64_t>, "a list of integers")
BRAINS_CONFIG_AS(std::vector<int>, "a list of integers")
BRAINS_CONFIG_AS(std::vector<std::string>, "a list of strings")
BRAINS_CONFIG_AS(std::vector<std::vector<double>>, "a list of lists of numbers")
BRAINS_CONFIG_AS(std::vector<std::vector<std::int64_t>>, "a list of lists of integers")
#undef BRAINS_CONFIG_AS

std::vector<Config::UnknownKey> Config::unknown_keys(const std::vector<std::string>& known) const {
  std::vector<UnknownKey> out;
  for (const auto& key : keys())
    if (std::find(known.begin(), known.end(), key) == known.end())
      out.push_back({key_path(key), closest_match(key, known)});
  return out;
}

void Config::warn_unknown_keys(const std::vector<std::string>& known) const {
  for (const auto& unknown : unknown_keys(known)) {
    if (unknown.suggestion.empty())
      log::warn("unknown key '{}' (ignored)", unknown.key_path);
    else
      log::warn("unknown key '{}' (ignored; did you mean '{}'?)", unknown.key_path,
                unknown.suggestion);
  }
}

std::string Config::dump() const {
  YAML::Emitter out;
  out << YAML::Block << node_;
  return std::string(out.c_str()) + "\n";
}

void Config::save(const fs::path& file) const {
  std::ofstream out(file, std::ios::binary);
  out << dump();
  if (!out) throw Error("cannot write config " + file.string() + ": write failed");
}

std::string closest_match(std::string_view key, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, key.size() / 3) + 1;
  for (const auto& candidate : candidates) {
    const std::size_t distance = edit_distance(key, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

}  // namespace brains
