#include "brains/algorithms/algorithm.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "brains/core/config.h"
#include "brains/core/error.h"

namespace brains::algorithms {

const std::vector<std::string>& algorithm_names() {
  static const std::vector<std::string> names{"genetic", "gradient"};
  return names;
}

void check_algorithm_name(const std::string& name, const std::string& key_path) {
  const auto& names = algorithm_names();
  if (std::find(names.begin(), names.end(), name) != names.end()) return;
  const std::string suggestion = closest_match(name, names);
  throw ConfigError(key_path,
                    fmt::format("unknown algorithm '{}'{} (valid: {})", name,
                                suggestion.empty() ? "" : " (did you mean '" + suggestion + "'?)",
                                fmt::join(names, ", ")));
}

}  // namespace brains::algorithms
