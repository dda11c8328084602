// ElectrodeInfo: the `info.electrode_info` dict of a surrogate file — how many activation
// and output electrodes the device has, their voltage ranges, the amplification and the
// clipping value of the measurement setup.
//
// Raises: ConfigError naming the key path.
#pragma once

#include <ATen/core/Tensor.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "brains/core/config.h"

namespace brains::processors {

struct ElectrodeInfo {
  std::int64_t electrode_no = 8;
  std::int64_t activation_electrode_no = 7;
  at::Tensor voltage_ranges;  // (activation_electrode_no, 2) float32, volts
  std::int64_t output_electrode_no = 1;
  std::vector<double> amplification;  // one per output electrode
  std::optional<std::pair<double, double>> clipping_value;  // nA; none: no clipping

  static ElectrodeInfo from_config(const Config& electrode_info);
  YAML::Node to_yaml() const;
};

// Validates an (E, 2) voltage-range matrix: finite, min <= max. `key_path` names it in errors.
at::Tensor voltage_ranges_from_config(const Config& ranges, std::int64_t expected_rows);
// A list of `expected_count` finite factors, or one number for all outputs.
std::vector<double> amplification_from_config(const Config& amplification,
                                              std::int64_t expected_count);
// [min, max] with min <= max (±inf allowed, NaN not).
std::pair<double, double> clipping_from_config(const Config& clipping);

}  // namespace brains::processors
