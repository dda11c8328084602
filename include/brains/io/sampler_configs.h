// sampler_configs.json: the sampler's configuration as brainspy-smg writes it (spec §4.2),
// which is YAML despite the name, with numpy arrays dumped as Python-tagged objects
// (`!!python/object/apply:numpy.core.multiarray._reconstruct`, base64 `!!binary` data,
// anchors shared between arrays). Reading turns it into a plain tree: arrays become nested
// sequences of numbers (by shape), numpy scalars numbers, tuples sequences. Writing emits
// plain block-style YAML that both yaml-cpp and PyYAML's safe loader read.
//
// Raises: FormatError (file, key path) for an unreadable file, bad YAML or an unsupported
// tag or dtype; Error when the file cannot be written.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>

namespace brains::io {

// Reads and decodes a sampler_configs.json (plain YAML reads unchanged).
YAML::Node read_sampler_configs(const std::filesystem::path& file);

// Decodes the Python tags of an already parsed tree into a new plain tree. `origin` names the
// source in errors. Supported: numpy arrays (dtype f8 f4 i8 i4 i2 i1 u8 u4 u2 u1 b1, either
// byte order, C or Fortran order, numpy 1 and 2 module names), numpy scalars, tuples.
YAML::Node decode_python_tags(const YAML::Node& node, const std::string& origin = "<yaml>");

// Writes `configs` (decoded first, so a raw tree is accepted) as plain block-style YAML.
// The file is replaced atomically.
void save_sampler_configs(const std::filesystem::path& file, const YAML::Node& configs);

// The text save_sampler_configs writes. Strings that were quoted in the source and would
// otherwise read back as numbers, booleans or null stay quoted.
std::string dump_plain_yaml(const YAML::Node& node);

}  // namespace brains::io
