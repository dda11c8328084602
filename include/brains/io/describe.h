// What is inside a data file, as a YAML tree: keys, tensor and array shapes and dtypes,
// nested dicts such as a surrogate's `info`. Backs `brains info FILE`.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>

namespace brains::io {

// Recognises .pt/.pth/.pickle (torch), .npz, .npy, IO.dat-style .dat text data,
// sampler_configs.json and YAML configs (.yaml/.yml/.json). Raises FormatError for an
// unknown or unreadable file.
YAML::Node describe_file(const std::filesystem::path& file);

}  // namespace brains::io
