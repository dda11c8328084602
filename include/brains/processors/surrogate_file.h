// Surrogate model files in the brainspy-smg layout (`training_data.pt`): a dict with `info`
// (model_structure, electrode_info, training and sampling configs) and `model_state_dict`
// (raw_model.N.weight/bias), plus optional training extras.
//
// Raises: FormatError (unreadable file, missing `info` or `model_state_dict`),
//         ConfigError (bad values inside `info`, with the key path from `info`).
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "brains/io/py_value.h"

namespace brains::processors {

struct SurrogateFile {
  YAML::Node info;                // numpy arrays become plain lists
  io::PyValue model_state_dict;   // OrderedDict of tensors
  io::PyValue extras;             // every other top-level entry (epoch, losses, …); a dict

  static SurrogateFile load(const std::filesystem::path& file);
  // Writes the same layout; `info` is stored with plain lists (brains-py accepts them).
  void save(const std::filesystem::path& file) const;
};

}  // namespace brains::processors
