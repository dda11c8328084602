// Consistency check (brainspy-smg spec §1.7, §2.5): replays stored inputs on the device to see
// whether it still behaves as when it was sampled. Optionally it first replays the charging
// signal (the device "charges up" or settles), then measures the reference batches
// `repetitions` times and compares with the stored outputs; optionally also with a surrogate.
//
// Every metric is per output electrode (upstream correlated output 0 with output 1 when there
// were several, and compared the model with the device instead of the reference):
//   deviations[t, j]          RMSE (nA) of repetition t vs the reference, output j
//   correlation[t, j]         Pearson r of repetition t vs the reference
//   deviation_chargeup[b, j]  RMSE of charging batch b vs its stored outputs
//   model_deviations[j], model_correlation[j]                 surrogate vs the reference
//   device_model_deviations[t, j], device_model_correlation[t, j]  device vs surrogate
//   model_deviation_chargeup[b, j]                            device vs surrogate while charging
//
// Files, in <results_dir>/consistency_check_<timestamp>/: consistency_results.npz (all of the
// above, plus results (reps, N, r) and model_results (N, r)), consistency_summary.json,
// consistency_check.png, deviations_histogram.png, and when charging first_batch.png and
// deviations_while_charging_up.png (each plot with its CSV), config.yaml and run.log.
//
// Config keys (`brains consistency --config FILE`):
//   data_dir (or main_dir)   the sampling run: sampler_configs.json and the npz files
//   results_dir              parent of the run directory (default: data_dir)
//   repetitions              1
//   charge_device            true
//   sampler_configs_name, reference_batch_name, charging_signal_name   upstream's defaults
//   model                    a surrogate file (training_data.pt) to compare with; optional
//
// Raises: ConfigError (keys), FormatError (missing or malformed npz files; reference data
//         that is not a whole number of batches or has the wrong width), errors of the
//         processor and the sampler (SafetyError, HardwareError, InterruptedError).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "brains/core/config.h"
#include "brains/processors/processor.h"

namespace brains::smg {

struct ConsistencyOptions {
  std::filesystem::path data_dir;
  std::filesystem::path results_dir;  // empty: data_dir
  std::int64_t repetitions = 1;
  bool charge_device = true;
  std::string sampler_configs_name = "sampler_configs.json";
  std::string reference_batch_name = "reference_batch.npz";
  std::string charging_signal_name = "charging_signal.npz";
  std::optional<std::filesystem::path> model;

  static ConsistencyOptions from_config(const Config& configs);
};

struct ConsistencyResult {
  std::filesystem::path run_dir;
  at::Tensor results;                   // (reps, N, r) nA
  at::Tensor deviations;                // (reps, r)
  at::Tensor correlation;               // (reps, r)
  at::Tensor deviation_chargeup;        // (charging batches, r); empty without charging
  // With a model (undefined otherwise):
  at::Tensor model_results;             // (N, r)
  at::Tensor model_deviations;          // (r,)
  at::Tensor model_correlation;         // (r,)
  at::Tensor device_model_deviations;   // (reps, r)
  at::Tensor device_model_correlation;  // (reps, r)
  at::Tensor model_deviation_chargeup;  // (charging batches, r)
};

// RMSE and Pearson r of each column of two (N, r) matrices: (r,) each. r is NaN for a
// constant column.
at::Tensor rmse_per_output(const at::Tensor& a, const at::Tensor& b);
at::Tensor pearson_per_output(const at::Tensor& a, const at::Tensor& b);

// Runs the check on `device` (built with make_sampling_processor from the run's
// sampler_configs.json) and, when given, compares with `model` (a simulation Processor whose
// outputs are in nA). The driver is closed at the end.
ConsistencyResult check_consistency(const ConsistencyOptions& options, processors::Processor device,
                                    std::optional<processors::Processor> model = std::nullopt,
                                    const std::optional<Config>& config = std::nullopt);

}  // namespace brains::smg
