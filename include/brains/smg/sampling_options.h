// SamplingOptions: a sampling config (brainspy-smg's sampler keys, spec §3.1) read, checked
// against the Processor that will measure it, and resolved into everything the sampler
// needs: frequencies, amplitude, offset, sample counts and the phase of every batch.
//
// Keys (top level):
//   data_name                     prefix of the run directory ("sampling")
//   save_directory                parent folder of run directories ("results")
//   seed                          random phases; drawn and recorded when absent
//   plot_interval                 example_batch.png every K batches (100; 0: never)
//   processor_type                simulation_debug, virtual, cdaq_to_cdaq, … (default:
//                                 driver.instrument_type)
//   model_dir                     surrogate file (simulation_debug only)
//   electrode_effects             surrogate effects (simulation_debug only)
//   driver.instruments_setup.activation_sampling_frequency   fs, Hz (required)
//   driver.instruments_setup.activation_voltage_ranges       (D, 2) V, for amplitude/offset
//   driver.instruments_setup.average_io_point_difference     must not be false
//   input_data.input_distribution sine | sawtooth (triangle)
//   input_data.activation_electrode_no, readout_electrode_no  (default: the processor's)
//   input_data.input_frequency    q_i, f_i = √q_i · factor · fs ([2, 3, 5, 7, 13, 17, 19])
//   input_data.factor             0.001 (brainspy-smg hard-codes it)
//   input_data.phase              first phases, rad: a list, `random` (seeded) or absent (0)
//   input_data.random_phase_shift_each  new random phases every N batches (0: never)
//   input_data.amplitude, offset  V, both or neither (default: from the voltage ranges,
//                                 else from the processor's ranges)
//   input_data.batch_time, ramp_time  s; × fs must be whole sample counts
//   input_data.number_batches     batches of the whole gathering
//
// Batch k (0-based) covers samples k·B … k·B + B − 1 of one global time axis t_n = n / fs,
// and its phases depend only on the seed and k (phase group k / N), so any subset of batches
// — a resumed run, a shard — reproduces exactly what a complete run measures.
//
// Raises: ConfigError naming the key path (missing or wrong value, lists of the wrong
//         length, durations that are not whole sample counts, a signal outside the
//         processor's voltage ranges), ArgumentError (a batch index out of range).
#pragma once

#include <ATen/core/Tensor.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "brains/core/config.h"
#include "brains/processors/processor.h"
#include "brains/smg/input_signals.h"

namespace brains::smg {

struct SamplingOptions {
  std::string data_name = "sampling";
  std::filesystem::path save_directory = "results";
  std::uint64_t seed = 0;
  std::int64_t plot_interval = 100;
  std::string processor_type;

  WaveShape shape = WaveShape::triangle;
  std::int64_t activation_electrode_no = 0;  // D
  std::int64_t readout_electrode_no = 0;     // r
  double sampling_frequency_hz = 0;          // fs
  std::vector<double> input_frequency;       // q, D values
  double factor = 0.001;
  at::Tensor frequencies_hz;  // (D,)
  at::Tensor amplitude_v;     // (D,)
  at::Tensor offset_v;        // (D,)
  at::Tensor first_phase;     // (D,) rad: phase group 0
  std::int64_t random_phase_shift_each = 0;
  double batch_time_s = 0;
  double ramp_time_s = 0;
  std::int64_t batch_points = 0;  // B
  std::int64_t ramp_points = 0;   // R
  std::int64_t number_batches = 0;

  // Reads `configs` and checks it against `processor` (electrode counts, voltage ranges, 0 V
  // ramps on hardware). `seed` overrides the config's seed.
  static SamplingOptions from_config(const Config& configs, const processors::ProcessorImpl& processor,
                                     std::optional<std::uint64_t> seed = std::nullopt);

  std::int64_t total_samples() const { return number_batches * batch_points; }
  // (D,) phases of batch k.
  at::Tensor batch_phase(std::int64_t batch) const;
  // (B,) times of batch k: (k·B + j) / fs.
  at::Tensor batch_times(std::int64_t batch) const;
  // (B, D) input voltages of batch k.
  at::Tensor batch_inputs(std::int64_t batch) const;

  // `configs` with every resolved value written in (seed, processor_type, electrode counts,
  // amplitude, offset, first phases, factor, derived sample counts), as plain YAML.
  YAML::Node resolved_config(const Config& configs) const;

 private:
  void check_batch(std::int64_t batch) const;
};

}  // namespace brains::smg
