// NidaqSetup: an NI-DAQmx measurement setup read from a processor's `driver` section with
// brains-py's keys (spec brains-py §7.7), validated, without touching any hardware.
//
// Single device (instruments_setup.multiple_devices false): activation_instrument,
// activation_channels (AO numbers in electrode order), activation_voltage_ranges (one
// [min, max] V pair per channel; legacy min_/max_activation_voltages accepted),
// readout_instrument, readout_channels (AI numbers). Several devices on one board
// (multiple_devices true): every mapping under instruments_setup is a device (A, B, …) with
// those keys plus activation_channel_mask; masked channels (0) are not driven, and a device
// with no unmasked channel is left out. Electrode columns follow the config order of the
// devices, then of their unmasked channels; readout columns likewise.
//
// Shared keys: activation_sampling_frequency and readout_sampling_frequency (Hz, integers,
// readout an integer multiple k of activation), average_io_point_difference (must hold when
// k > 1: a processor needs one current per written sample), trigger_source (cdaq_to_cdaq:
// the chassis whose AI start trigger starts the outputs, e.g. cDAQ1, or a full terminal
// such as /cDAQ1/ai/StartTrigger), readout_voltage_range ([-5, 5] V), readout_terminal_config
// (default | rse | nrse | diff | pseudo_diff), activation_sync_channel / readout_sync_channel
// (cdaq_to_nidaq: AO and AI channel of the synchronisation loop, a number on the first
// device's instrument or a full physical name; 7 by default).
//
// driver keys: amplification (nA per V of readout, one value or one per readout channel),
// inverted_output, library (path of libnidaqmx.so), voltage_limit_v (absolute limit, may only
// lower 1.6 V), max_step_v (largest step between written samples), range_margin_v (0.01:
// output channel limits are the ranges widened by this, never beyond the absolute limit),
// timeout_margin_s (2: a read may take the acquisition time plus this), write_timeout_s (10),
// read_chunk_s (0.1: reads are split so an interrupt is seen this often), reset_on_close
// (false: brains-py reset every instrument on close, aborting other tasks on them),
// shutdown_step_v (0.02: ramp step when outputs are brought back to 0 V after an abort),
// sync_preroll_s (0.04), sync_attempts (5), sync_threshold_v (0.05: smallest spike height,
// in volts as read).
//
// Raises: ConfigError naming the key path.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "brains/core/config.h"
#include "brains/processors/nidaqmx/api.h"

namespace brains::processors::nidaqmx {

// One DNPU on the board.
struct DeviceSetup {
  std::string name;  // "" for a single-device setup, else its key (A, B, …)
  std::string activation_instrument;
  std::vector<std::int64_t> activation_channels;               // every listed channel
  std::vector<std::pair<double, double>> voltage_ranges;       // one per listed channel, V
  std::vector<bool> driven;                                    // false: masked, never driven
  std::string readout_instrument;
  std::vector<std::int64_t> readout_channels;
  // Column of each listed channel in the electrode matrix, -1 when masked.
  std::vector<std::int64_t> electrode_columns;
  // Columns of this device's readouts in the output matrix.
  std::vector<std::int64_t> readout_columns;
};

struct NidaqSetup {
  std::string type;                  // cdaq_to_cdaq | cdaq_to_nidaq
  std::vector<DeviceSetup> devices;  // the devices that are driven, in config order
  std::int64_t activation_rate_hz = 0;
  std::int64_t readout_rate_hz = 0;
  std::string trigger_source;         // cdaq_to_cdaq
  std::vector<double> amplification;  // one per readout column
  bool inverted_output = false;
  double voltage_limit_v = 1.6;
  std::optional<double> max_step_v;
  double range_margin_v = 0.01;
  int32 readout_terminal_config = kTerminalDefault;
  double readout_min_v = -5.0;
  double readout_max_v = 5.0;
  double timeout_margin_s = 2.0;
  double write_timeout_s = 10.0;
  double read_chunk_s = 0.1;
  bool reset_on_close = false;
  double shutdown_step_v = 0.02;
  std::string sync_activation_channel;  // cdaq_to_nidaq, physical names
  std::string sync_readout_channel;
  double sync_preroll_s = 0.04;
  std::int64_t sync_attempts = 5;
  double sync_threshold_v = 0.05;
  std::string library;

  // `driver` is the processor config's driver section; `type` the processor type.
  static NidaqSetup from_config(const std::string& type, const Config& driver);

  bool uses_start_trigger() const noexcept { return type == "cdaq_to_cdaq"; }
  bool uses_sync_spike() const noexcept { return type == "cdaq_to_nidaq"; }
  // k: readout samples per written sample.
  std::int64_t oversampling() const noexcept { return readout_rate_hz / activation_rate_hz; }
  // cdaq_to_nidaq: written samples of 0 V before the data, the spike on the first data one.
  std::int64_t sync_preroll_samples() const noexcept;
  // The AO terminal the outputs wait for (cdaq_to_cdaq).
  std::string start_trigger_terminal() const;

  // Driven electrodes in column order: "<instrument>/ao<n>", and their ranges (E, 2).
  std::vector<std::string> activation_channel_names() const;
  std::vector<std::pair<double, double>> electrode_ranges() const;
  at::Tensor voltage_ranges() const;  // (E, 2) float32
  // The output channel limits given to NI-DAQmx: each range widened by range_margin_v and
  // clipped to the absolute limit.
  std::vector<std::pair<double, double>> output_limits() const;
  std::vector<std::string> readout_channel_names() const;
  // Every instrument used (for a device reset), each once.
  std::vector<std::string> instruments() const;
  std::int64_t electrode_count() const;
  std::int64_t readout_count() const;
  // One line for the log.
  std::string describe() const;
};

}  // namespace brains::processors::nidaqmx
