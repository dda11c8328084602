// Surrogate training data (brainspy-smg spec §1.5): post-processed npz files loaded as
// float32 inputs (volts) and targets (outputs / amplification, i.e. the op-amp voltage), and
// the training / validation / test splits.
//
// Either 1–3 files (training, validation, test; a null entry leaves that split out), whose
// amplification must equal the training file's, or one file split by `split_percentages`
// (1–3 fractions summing to 1 within 1e-6): training ceil(p0·N), validation floor(p1·N), test
// the rest, as upstream. The split is either per sample (random, upstream) or by time blocks:
// the rows, in recording order, are cut into blocks of `block_size` rows that go whole to one
// split, and the first row of every block that follows a block of another split is dropped,
// so no training row is next to a validation or test row in time (neighbouring samples of a
// smooth input signal are near copies; a per-sample split leaks them into the test set).
//
// Raises: FormatError (unreadable npz, missing entries, bad shapes), ConfigError (bad data.*
// values, fractions not summing to 1, amplification mismatch; with the key path).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "brains/core/config.h"
#include "brains/io/py_value.h"

namespace brains::smg {

struct ModelDataset {
  std::filesystem::path file;
  at::Tensor inputs;   // (N, D) float32, volts
  at::Tensor targets;  // (N, r) float32, outputs / amplification
  std::vector<double> amplification;  // driver.amplification of the file, one per output
  io::PyValue sampling_configs;       // the file's dict (with electrode_info when present)

  std::int64_t size() const { return inputs.defined() ? inputs.size(0) : 0; }

  // Loads a postprocessed npz (key sampling_configs, or the legacy `info`), keeping every
  // `steps`-th row (upstream [::steps]). `key_path` names the path's config key in errors.
  static ModelDataset load(const std::filesystem::path& file, std::int64_t steps = 1,
                           const std::string& key_path = "data.dataset_paths");
};

enum class SplitMode { random, time_blocks };

struct DataOptions {
  // Training, validation, test; nullopt leaves a split out (not the training one).
  std::vector<std::optional<std::filesystem::path>> dataset_paths;
  std::int64_t steps = 1;
  std::int64_t batch_size = 256;
  std::vector<double> split_percentages{0.8, 0.1, 0.1};
  SplitMode split_mode = SplitMode::random;
  // Rows per block for time_blocks (after `steps`); unset: one sampler batch
  // (batch_time × activation_sampling_frequency / steps, from the file's sampling_configs).
  std::optional<std::int64_t> block_size;

  // Reads dataset_paths, steps, batch_size, split_percentages, split_mode, block_size (and
  // ignores brainspy-smg's worker_no, pin_memory). `data` is the config's `data` section.
  static DataOptions from_config(const Config& data);
};

inline constexpr double kSplitSumTolerance = 1e-6;

// Upstream's split sizes of n samples for 1–3 fractions: ceil(p0·n), floor(p1·n), the rest.
std::vector<std::int64_t> split_lengths(std::int64_t n, const std::vector<double>& fractions);

// Row indices of each split (training, validation, test) for a time-block split of n rows;
// blocks are assigned at random (by `seed`) in the proportions of split_lengths over blocks.
std::array<at::Tensor, 3> time_block_split(std::int64_t n, std::int64_t block_size,
                                           const std::vector<double>& fractions,
                                           std::uint64_t seed);

struct DataSplit {
  std::string label;   // TRAINING, VALIDATION, TEST
  at::Tensor inputs;   // (n, D) float32, contiguous
  at::Tensor targets;  // (n, r) float32, contiguous
  std::int64_t size() const { return inputs.size(0); }
};

struct SurrogateData {
  std::array<std::optional<DataSplit>, 3> splits;  // training, validation, test
  std::vector<double> amplification;
  io::PyValue electrode_info;    // from the training file
  io::PyValue sampling_configs;  // the training file's, without electrode_info
  std::optional<io::PyValue> validation_sampling_configs;  // full dicts of separate files
  std::optional<io::PyValue> test_sampling_configs;
};

// Loads and splits as configured; `seed` drives the split (upstream: torch's global RNG).
// Splits that come out empty are left out with a warning.
SurrogateData load_surrogate_data(const DataOptions& options, std::uint64_t seed);

}  // namespace brains::smg
