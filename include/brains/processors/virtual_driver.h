// VirtualDriver: the kinetic Monte Carlo device (physics/) behind the hardware driver
// interface — `processor_type: virtual`. It receives a waveform exactly as a DAQ would
// ((L, E) volts on the activation electrodes) and returns the readout currents ((L, n_out)
// nA) through the same processing as a real setup: averaging of the readouts of each
// sample, the current amplifier's saturation, and the output inversion.
//
// Measurement model (virtual-device.md "As a device behind the driver interface"):
// - Quasi-static: every sample runs kmc.hops_per_sample hops at that sample's voltages and
//   the occupation carries over to the next sample. The waveform is cut into chunks of
//   `chunk_samples` samples; each chunk starts from a fresh occupation and warms up for
//   kmc.warmup_hops hops at its first sample. Chunks are independent, so they run on all
//   threads and the currents are bit-identical for any thread count. The chunk length
//   depends only on the options, never on the thread count.
// - Electrodes: each activation channel drives one device electrode; readout electrodes
//   are held at 0 V (the amplifier's virtual ground) and report the hole current flowing
//   into them; every other electrode is grounded.
// - Averaging: readout_sampling_frequency / activation_sampling_frequency = k readouts per
//   written sample (k · hops_per_sample hops), averaged (average_io_point_difference).
// - Amplifier: the virtual amplifier's gain is the configured amplification (nA per V), so
//   the software correction gives the device current back in nA, up to the op-amp's
//   saturation: inverted_output multiplies the currents by −1 (brains-py's flag), then they
//   are clipped to output_clipping, by default amplification · [−4, 4] nA (a ±4 V swing).
// - Optional effects, each off by default: white Gaussian noise on every sample, a 1/f-like
//   drift of the output (a sum of Ornstein–Uhlenbeck processes with time constants from
//   0.1 s to 1000 s, in device time: L / activation_sampling_frequency per waveform), and
//   a slow random drift of the acceptors' site energies between waveforms.
// - Randomness: measure() call n uses seed (seed, n): a run is reproducible for a seed,
//   while repeated measurements of one waveform differ as they would on a device.
//
// YAML (the processor config's `driver` section; every key optional):
//   instrument_type: virtual
//   seed: 1
//   device: {preset: default}            # physics/device_parameters.h, any parameter
//   kmc: {hops_per_sample: 10000, warmup_hops: 20000}   # physics/kmc.h KmcOptions
//   chunk_samples: 0                     # 0: automatic, at least 10 warm-ups of hops
//   threads: 0                           # 0: every core (brains --threads N sets it)
//   # which device electrode each channel is: brains-py's keys (channel = electrode index)
//   instruments_setup:
//     activation_channels: [0, 1, 2, 3, 4, 5, 6]
//     readout_channels: [7]
//     activation_voltage_ranges: [[-1, 1], ...]   # or one [min, max] for all
//     activation_sampling_frequency: 1000         # Hz; time axis of the drift
//     readout_sampling_frequency: 1000            # a multiple: readouts averaged per sample
//   # ... or the simple spelling (not both):
//   activation_electrodes: [0, 1, 2, 3, 4, 5, 6]
//   readout_electrodes: [7]
//   voltage_ranges: [-1, 1]               # one pair for all, or one per activation electrode
//   amplification: [28.5]                 # nA per V, one per readout
//   inverted_output: false
//   output_clipping: [-114, 114]          # nA; null: no saturation
//   noise: {std_na: 0.5}
//   drift: {output_std_na: 1.0, energy_std_ev: 0.005, energy_time_constant_s: 600}
// Defaults: every device electrode but the last is an activation electrode with range
// [−1, 1] V, the last one is the readout; amplification 28.5 (clipping ±114 nA).
//
// Raises: ConfigError naming the key (bad device parameters, electrodes out of range,
// listed twice or a gate-only readout, ranges outside ±1.6 V or without 0 V, mismatched
// list lengths, a readout rate that is not a multiple of the activation rate),
// ArgumentError (measure() with a waveform of the wrong shape).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "brains/core/config.h"
#include "brains/physics/device_parameters.h"
#include "brains/physics/kmc.h"
#include "brains/processors/driver.h"

namespace brains::physics {
class HoppingModel;
}

namespace brains::processors {

struct VirtualDriverOptions {
  physics::DeviceParameters device;  // the "default" preset
  physics::KmcOptions kmc = default_kmc();
  std::int64_t chunk_samples = 0;  // 0: automatic (see chunk_length())
  int threads = 0;                 // 0: every core
  std::uint64_t seed = 0;

  std::vector<int> activation_electrodes;  // device electrode of each activation channel
  std::vector<int> readout_electrodes;     // device electrode of each readout channel
  std::vector<std::pair<double, double>> voltage_ranges;  // per activation electrode, V
  std::vector<double> amplification;       // per readout, nA/V
  bool inverted_output = false;
  // [min, max] nA; unset: no saturation. from_config fills amplification · [−4, 4].
  std::optional<std::pair<double, double>> output_clipping;
  int readouts_per_sample = 1;  // readout_fs / activation_fs
  double activation_sampling_frequency_hz = 1000;

  double noise_std_na = 0;         // white noise per sample
  double drift_output_std_na = 0;  // 1/f-like output drift (stationary std)
  double drift_energy_std_ev = 0;  // site-energy drift (stationary std per acceptor)
  double drift_energy_time_constant_s = 600;

  // The options of a processor config (the whole config; `driver` may be absent). Unknown
  // keys are warned about.
  static VirtualDriverOptions from_config(const Config& processor_configs);
  // Fills the defaults that depend on the device (electrodes, ranges, amplification,
  // clipping) and checks everything; errors name keys under `key_prefix` (e.g. "driver").
  void complete(const std::string& key_prefix = "driver");
  // Samples per independent chunk: chunk_samples, or enough that the warm-up costs at most
  // a tenth of the chunk's hops (at least 16 samples).
  std::int64_t chunk_length() const;

  // hops_per_sample 10000, warmup_hops 20000, blocks 1 (no per-sample standard errors).
  static physics::KmcOptions default_kmc();
};

class VirtualDriver : public Driver {
 public:
  // Builds the device (layout and electrostatics: one Laplace solve per electrode).
  explicit VirtualDriver(VirtualDriverOptions options);
  ~VirtualDriver() override;

  at::Tensor measure(const at::Tensor& waveform) override;
  std::int64_t activation_electrode_count() const override;
  std::int64_t readout_electrode_count() const override;
  at::Tensor voltage_ranges() const override;
  at::Tensor clipping_value() const override;
  std::string name() const override { return "virtual"; }

  const VirtualDriverOptions& options() const noexcept { return options_; }
  // The device as it is now (site energies drift between measurements when enabled).
  std::shared_ptr<const physics::HoppingModel> model() const { return model_; }
  // measure() calls so far.
  std::int64_t measurements() const noexcept { return calls_; }
  // Device time elapsed over all measurements, seconds.
  double device_time_s() const noexcept { return time_s_; }

  // Device currents (L, n_out) nA for a waveform, before noise, drift, clipping and
  // inversion; `call` picks the random stream. Threads as in the options.
  at::Tensor simulate(const at::Tensor& waveform, std::uint64_t call) const;

 private:
  struct Device;  // the layout and electrostatics the model is (re)built from
  void drift_site_energies(double seconds, std::uint64_t call);

  VirtualDriverOptions options_;
  std::unique_ptr<Device> device_;
  std::shared_ptr<const physics::HoppingModel> model_;
  std::vector<double> energy_drift_ev_;  // current offset per acceptor
  std::vector<double> output_drift_state_;  // OU components × readouts
  std::int64_t calls_ = 0;
  double time_s_ = 0;
};

// The Driver of `processor_type: virtual` (driver_factory.cpp).
std::shared_ptr<Driver> make_virtual_driver(const Config& processor_configs);

// Measured sampling rate of the driver: a random waveform of `samples` samples within the
// voltage ranges, timed over one measure() call (real time, all threads). Samples/s.
double measure_sampling_rate(VirtualDriver& driver, std::int64_t samples);

}  // namespace brains::processors
