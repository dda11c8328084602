// Post-processing of sampled device data (brainspy-smg spec §1.4, §2.3): turns one or more
// gatherings (folders holding IO.dat and sampler_configs.json) into the training file
// `postprocessed_data.npz` that brainspy-smg and brains-cpp both read.
//
// Per gathering: the sample count is checked against input_data.number_batches × the batch
// length (batch_time × activation_sampling_frequency); a file cut short after whole batches
// (an interrupted sampling run) is accepted with a warning, a trailing partial batch dropped
// with a warning. The last `charging_signal_batch_no` batches are saved as
// charging_signal.npz and the last `reference_signal_batch_no` as reference_batch.npz (for the
// consistency check), both unclipped, in the gathering's folder. The reference batches can be
// kept out of the training data. Rows whose mean output lies outside the clipping window
// (strictly) are dropped. Several gatherings are merged into one file (same electrode counts
// and amplification required).
//
// The npz holds inputs (N, D) float64 volts, outputs (N, r) float64 nA, and
// sampling_configs: the gathering's configs plus electrode_info (voltage ranges as a float32
// numpy array computed in float32 from offset ± amplitude, as upstream), read by numpy with
// allow_pickle=True. output_distribution.png is a histogram of every third raw output.
//
// Raises: FormatError (unreadable IO.dat or sampler_configs.json, missing or bad keys in it,
// more rows than the configs allow, no complete batch), ConfigError (bad options, with the
// key path), ArgumentError (no data folder, gatherings that cannot be merged), Error (a file
// cannot be written).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "brains/core/config.h"
#include "brains/io/py_value.h"

namespace brains::smg {

// Which outputs count as saturated: upstream's "default" window (±4 V of the op-amp, i.e.
// ±4 · amplification nA), none (keep everything), or an explicit [low, high] in nA.
struct ClippingValue {
  enum class Kind { default_window, none, window };
  Kind kind = Kind::default_window;
  double low = 0.0;
  double high = 0.0;

  static ClippingValue none() { return {Kind::none, 0.0, 0.0}; }
  static ClippingValue window(double low, double high);  // ConfigError unless low < high
  // "default", null, or a [low, high] list (a tuple in Python); `value` names the key path.
  static ClippingValue from_config(const Config& value);
  // The window in nA for outputs with `amplification`; nullopt for none. With several
  // outputs the default window uses the largest amplification.
  std::optional<std::pair<double, double>> resolve(const std::vector<double>& amplification) const;
};

struct PostprocessOptions {
  ClippingValue clipping_value;                 // default: ±4 · amplification
  std::int64_t charging_signal_batch_no = 40;   // last batches saved as charging_signal.npz
  std::int64_t reference_signal_batch_no = 15;  // last batches saved as reference_batch.npz
  bool exclude_reference_batches = false;       // keep the reference batches out of training
  std::string filename = "postprocessed_data";  // ".npz" appended
  bool plot = true;                             // output_distribution.png

  // Keys: clipping_value, charging_signal_batch_no, reference_signal_batch_no,
  // exclude_reference_batches, filename, plot (others are the caller's: data_dir(s),
  // output_dir). Unknown keys are warned about by the caller.
  static PostprocessOptions from_config(const Config& configs);
};

// One sampled gathering as found on disk.
struct Gathering {
  std::filesystem::path dir;
  YAML::Node configs;               // sampler_configs.json, numpy tags decoded
  at::Tensor inputs;                // (N, D) float64 V, whole batches only
  at::Tensor outputs;               // (N, r) float64 nA
  std::int64_t raw_samples = 0;     // rows in IO.dat
  std::int64_t batch_length = 0;    // samples per batch
  std::int64_t batches = 0;         // complete batches in `inputs`
  std::int64_t expected_batches = 0;  // input_data.number_batches
  std::vector<double> amplification;  // driver.amplification, one per output
  std::vector<double> amplitude;      // input_data.amplitude (or from the voltage ranges)
  std::vector<double> offset;
};

// Reads dir/sampler_configs.json and dir/IO.dat and checks the sample count (see above).
Gathering load_gathering(const std::filesystem::path& dir);

// Voltage ranges [offset − amplitude, offset + amplitude] computed in float32, (D, 2).
at::Tensor voltage_ranges_float32(const std::vector<double>& offset,
                                  const std::vector<double>& amplitude);

struct PostprocessResult {
  at::Tensor inputs;                 // (N, D) float64 V, the training rows kept
  at::Tensor outputs;                // (N, r) float64 nA
  io::PyValue sampling_configs;      // as written, with electrode_info
  std::int64_t raw_samples = 0;      // rows read, over all gatherings
  std::int64_t candidate_samples = 0;  // rows offered to clipping (reference excluded)
  std::int64_t kept_samples = 0;
  double cropped_percent = 0.0;      // (1 − kept / candidates) · 100
  std::filesystem::path file;        // the npz written
};

// Post-processes `data_dirs` (one or more gatherings) and writes `<output_dir>/<filename>.npz`
// and output_distribution.png; an empty output_dir means the single data folder (upstream's
// layout) and is an ArgumentError for several.
PostprocessResult postprocess(const std::vector<std::filesystem::path>& data_dirs,
                              const PostprocessOptions& options,
                              const std::filesystem::path& output_dir = {});

}  // namespace brains::smg
