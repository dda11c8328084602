// NidaqmxDriver: NI-DAQmx hardware behind the Driver interface (brains-py spec §7), for
// `processor_type: cdaq_to_cdaq` and `cdaq_to_nidaq`. Setup keys: see setup.h.
//
// cdaq_to_cdaq: outputs and inputs in one cDAQ chassis. The output task waits for the input
// task's start trigger; the input reads one leading sample more (k·L + 1 for a waveform of
// L samples and oversampling k), which is dropped.
// cdaq_to_nidaq: outputs on a separate board with no shared trigger. The data are written
// after sync_preroll_s of 0 V, with a 1 V spike on a synchronisation output looped back to an
// input on the data's first sample; the readout is cut where the spike arrives, and the
// measurement is repeated (sync_attempts) when the spike is missing or too late.
// Both: readout volts × amplification (nA), averaged over the k samples of each written
// sample, × −1 when inverted_output.
//
// Safety: the waveform passes check_waveform_safety (ranges, absolute limit, 0 V at both
// ends, largest step) right before every write; output channel limits are the ranges
// widened by range_margin_v, never beyond the absolute limit. On an NI-DAQmx error, a
// missing spike, a short read or an interrupt (SIGINT/SIGTERM, checked between read chunks),
// the driver stops the tasks, brings the outputs back to 0 V in steps of shutdown_step_v
// from where the waveform stopped, clears every task and raises; the next measure() opens
// new tasks. Timeouts are seconds: the acquisition time plus timeout_margin_s.
// Not thread-safe: one measurement at a time.
//
// Raises: ConfigError (setup keys), HardwareError (library missing, NI-DAQmx error as
//         DaqmxError, short read, synchronisation failed), SafetyError (nothing was written),
//         InterruptedError (outputs are at 0 V and the tasks cleared), ArgumentError (a
//         waveform that is not (samples, electrodes)).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

#include "brains/core/config.h"
#include "brains/processors/driver.h"
#include "brains/processors/nidaqmx/api.h"
#include "brains/processors/nidaqmx/setup.h"
#include "brains/processors/nidaqmx/task.h"

namespace brains::processors::nidaqmx {

class NidaqmxDriver : public Driver {
 public:
  // Loads the library and creates the tasks (so a wrong channel fails here, not later).
  explicit NidaqmxDriver(NidaqSetup setup);
  // `type` is the processor type; `configs` the processor config (its `driver` section).
  static std::shared_ptr<NidaqmxDriver> from_config(const std::string& type, const Config& configs);
  ~NidaqmxDriver() override;

  // (L, E) float64 volts -> (L, readouts) float64 nA.
  at::Tensor measure(const at::Tensor& waveform) override;
  std::int64_t activation_electrode_count() const override;
  std::int64_t readout_electrode_count() const override;
  at::Tensor voltage_ranges() const override;
  // [min, max] nA the readout can report: its input range times the gain (the widest over
  // readouts with different gains). An output there saturated the input.
  at::Tensor clipping_value() const override;
  double absolute_limit_v() const override { return setup_.voltage_limit_v; }
  std::optional<double> max_step_v() const override { return setup_.max_step_v; }
  // Clears the tasks (outputs at 0 V) and, with reset_on_close, resets the instruments.
  void close() override;
  std::string name() const override { return setup_.type; }

  const NidaqSetup& setup() const noexcept { return setup_; }
  const std::string& library() const noexcept { return api_->library; }
  bool has_open_tasks() const noexcept { return activation_.is_open() || readout_.is_open(); }
  // Acquisitions the last cdaq_to_nidaq measurement took to find the spike.
  std::int64_t last_sync_attempts() const noexcept { return last_sync_attempts_; }

 private:
  void open();
  void configure_timing(std::int64_t written, std::int64_t read);
  // (output channels, written samples) float64, grouped by channel, checked for safety.
  at::Tensor output_buffer(const at::Tensor& waveform) const;
  // One write, start, read and stop: (input channels, read samples) float64 volts.
  at::Tensor acquire(const at::Tensor& buffer, std::int64_t samples_to_read);
  at::Tensor measure_start_triggered(const at::Tensor& buffer, std::int64_t samples);
  at::Tensor measure_sync_spike(const at::Tensor& buffer, std::int64_t samples);
  // After a failure: stop, ramp the outputs to 0 V, clear the tasks. Never throws; returns
  // "" or a note on what could not be done.
  std::string shut_down(const at::Tensor& buffer) noexcept;
  std::vector<double> output_levels(const at::Tensor& buffer);
  void ramp_to_zero(const std::vector<double>& levels);
  std::string next_task_name(const char* kind) const;

  NidaqSetup setup_;
  std::shared_ptr<const Api> api_;
  Task activation_;
  Task readout_;
  std::int64_t configured_write_ = -1;
  std::int64_t configured_read_ = -1;
  // State of the acquisition in flight, for shut_down.
  bool generating_ = false;
  std::int64_t samples_read_ = 0;
  bool used_instruments_ = false;
  std::int64_t last_sync_attempts_ = 0;
};

}  // namespace brains::processors::nidaqmx
