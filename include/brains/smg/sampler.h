// The surrogate-model sampler (brainspy-smg spec §1.3, §2.2): measures a device batch by
// batch through any Processor with a hardware path (simulation_debug, virtual, NI setups)
// and writes a run directory that brainspy-smg's post-processing reads:
//   sampler_configs.json  the resolved config (plain YAML), written once at the start
//   IO.dat                inputs (V) and outputs (nA) per sample, appended and fsync'ed per batch
//   batch_phases.dat      "batch phase_0 … phase_{D−1}" (rad), one line per batch (rebuilt
//                         from the seed on resume, so it is synced at the end only)
//   sampler_state.json    progress, for --resume (sampler_state.h)
//   example_batch.png     the latest plotted batch (every plot_interval batches), with its CSV
//   run.log               the log of every session
//   sampler.lock          locked while a sampler writes into the directory
//
// Each batch is ramped from 0 V to its first sample and from its last sample back to 0 V,
// measured in one driver call, and the ramps are cut off again. A resumed run, or a shard,
// measures exactly the batches an uninterrupted run would, with the same inputs; with a
// deterministic device the data files are byte-identical.
//
// Interrupts (SIGINT/SIGTERM, core/interrupt.h): the batch being measured is finished and
// saved (or dropped, if the driver aborts it), every waveform already ended at 0 V, the
// driver is closed, and InterruptedError says how to resume.
//
// Example:
//   const Config configs = Config::load("smg_sampling_virtual.yaml");
//   SampleResult result = sample(configs, make_sampling_processor(configs));
//
// Raises: ConfigError (sampling_options.h), FormatError (a run directory to resume whose
//         files are missing, corrupted or changed), ArgumentError (bad shard or request,
//         or another sampler is writing the run directory),
//         SafetyError/HardwareError from the processor, InterruptedError, Error (I/O).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "brains/core/config.h"
#include "brains/processors/processor.h"
#include "brains/smg/sampling_options.h"

namespace brains::smg {

// Shard i of n: the contiguous batch indices [i·N/n, (i+1)·N/n), so the IO.dat files of
// shards 0 … n−1 concatenated equal the IO.dat of the whole gathering.
struct Shard {
  std::int64_t index = 0;
  std::int64_t count = 1;

  // "i/n" with 0 <= i < n; ArgumentError otherwise.
  static Shard parse(const std::string& text);
  std::int64_t first_batch(std::int64_t number_batches) const;
  std::int64_t end_batch(std::int64_t number_batches) const;
};

struct SampleRequest {
  std::optional<std::uint64_t> seed;            // overrides the config's seed
  std::optional<std::filesystem::path> out;     // parent of the run directory (else save_directory)
  std::optional<std::int64_t> plot_interval;    // overrides the config's plot_interval
  Shard shard;
  bool progress = true;                         // a progress bar, when stderr is a terminal
  // Called after batch k is on disk (tests raise an interrupt from here).
  std::function<void(std::int64_t batch)> after_batch;
};

struct SampleResult {
  std::filesystem::path run_dir;
  std::int64_t first_batch = 0;       // this run's batches are [first_batch, end_batch)
  std::int64_t end_batch = 0;
  std::int64_t batches_measured = 0;  // in this session
  std::int64_t samples_measured = 0;  // kept samples in this session
  double seconds = 0;                 // wall time of this session's batches
  double samples_per_second() const { return seconds > 0 ? samples_measured / seconds : 0.0; }
};

// The processor a sampling config names: processor_type (default driver.instrument_type)
// with the config's `driver` section, or for simulation_debug the surrogate in model_dir
// with the config's electrode_effects. ConfigError for processor_type simulation, which has
// no hardware path.
processors::Processor make_sampling_processor(const Config& configs);

// Starts a new run directory under request.out (else the config's save_directory) and
// measures all batches of the shard.
SampleResult sample(const Config& configs, processors::Processor processor,
                    const SampleRequest& request = {});

// Continues the run in `run_dir` after its last complete batch. The processor must be the
// one load_sampling_run_config(run_dir) describes. request.seed and request.shard must be
// unset or equal to the run's.
SampleResult resume_sampling(const std::filesystem::path& run_dir, processors::Processor processor,
                             const SampleRequest& request = {});

// The resolved config a run directory was started with (its sampler_configs.json).
Config load_sampling_run_config(const std::filesystem::path& run_dir);

// One batch through the processor: (B, D) volts -> ramped waveform (R + B + R, D) ->
// (B, n_out) nA, float64.
at::Tensor measure_batch(processors::ProcessorImpl& processor, const at::Tensor& batch,
                         std::int64_t ramp_points);

}  // namespace brains::smg
