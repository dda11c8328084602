// The training algorithms by config name (brains-py get_algorithm, spec §11.5): "genetic"
// (genetic.h) and "gradient" (gradient_descent.h).
//
// Raises: ConfigError naming the key path and listing the valid names.
#pragma once

#include <string>
#include <vector>

namespace brains::algorithms {

// {"genetic", "gradient"}.
const std::vector<std::string>& algorithm_names();

// ConfigError("<key_path>: unknown algorithm 'x' (valid: genetic, gradient)") unless `name`
// is one of algorithm_names().
void check_algorithm_name(const std::string& name, const std::string& key_path = "algorithm.type");

}  // namespace brains::algorithms
