#include "brains/processors/nidaqmx/driver.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>

#include "brains/core/error.h"
#include "brains/core/interrupt.h"
#include "brains/core/log.h"
#include "brains/processors/safety.h"

namespace brains::processors::nidaqmx {

namespace {

// brains-py's synchronisation spike (drivers/nidaq.py).
constexpr double kSpikeV = 1.0;

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

NidaqmxDriver::NidaqmxDriver(NidaqSetup setup) : setup_(std::move(setup)) {
  api_ = load_api(setup_.library);
  // The measurement loop polls the flag; brains-py also installed its handlers here.
  install_interrupt_handlers();
  open();
  log::info("{} (library {})", setup_.describe(), api_->library);
}

std::shared_ptr<NidaqmxDriver> NidaqmxDriver::from_config(const std::string& type,
                                                          const Config& configs) {
  return std::make_shared<NidaqmxDriver>(NidaqSetup::from_config(type, configs.at("driver")));
}

NidaqmxDriver::~NidaqmxDriver() {
  try {
    close();
  } catch (const std::exception& e) {
    log::warn("{} driver did not close cleanly: {}", setup_.type, e.what());
  }
}

std::int64_t NidaqmxDriver::activation_electrode_count() const { return setup_.electrode_count(); }

std::int64_t NidaqmxDriver::readout_electrode_count() const { return setup_.readout_count(); }

at::Tensor NidaqmxDriver::voltage_ranges() const { return setup_.voltage_ranges(); }

at::Tensor NidaqmxDriver::clipping_value() const {
  double low = std::numeric_limits<double>::infinity();
  double high = -low;
  for (double gain : setup_.amplification)
    for (double volts : {setup_.readout_min_v, setup_.readout_max_v}) {
      const double current = volts * gain * (setup_.inverted_output ? -1.0 : 1.0);
      low = std::min(low, current);
      high = std::max(high, current);
    }
  return at::tensor({low, high}, at::kFloat);
}

std::string NidaqmxDriver::next_task_name(const char* kind) const {
  // brains-py names tasks <kind>_task_<UTC time>; a counter keeps names unique in a process.
  static std::atomic<int> counter{0};
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1000000;
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y_%m_%d_%H%M%S", &utc);
  return fmt::format("{}_task_{}_{:06d}_{}", kind, stamp, micros, counter++);
}

void NidaqmxDriver::open() {
  Task activation(api_, next_task_name("activation"));
  const auto names = setup_.activation_channel_names();
  const auto limits = setup_.output_limits();
  for (std::size_t i = 0; i < names.size(); ++i)
    activation.add_ao_voltage_channel(names[i], limits[i].first, limits[i].second);
  if (setup_.uses_sync_spike())
    activation.add_ao_voltage_channel(setup_.sync_activation_channel, -setup_.range_margin_v,
                                      kSpikeV + setup_.range_margin_v);

  Task readout(api_, next_task_name("readout"));
  for (const auto& name : setup_.readout_channel_names())
    readout.add_ai_voltage_channel(name, setup_.readout_terminal_config, setup_.readout_min_v,
                                   setup_.readout_max_v);
  if (setup_.uses_sync_spike())
    readout.add_ai_voltage_channel(setup_.sync_readout_channel, setup_.readout_terminal_config,
                                   setup_.readout_min_v, setup_.readout_max_v);
  if (setup_.uses_start_trigger())
    activation.configure_start_trigger(setup_.start_trigger_terminal());

  activation_ = std::move(activation);
  readout_ = std::move(readout);
  configured_write_ = configured_read_ = -1;
  used_instruments_ = true;
}

void NidaqmxDriver::configure_timing(std::int64_t written, std::int64_t read) {
  if (written == configured_write_ && read == configured_read_) return;
  configured_write_ = configured_read_ = -1;
  activation_.configure_finite_clock(static_cast<double>(setup_.activation_rate_hz),
                                     static_cast<std::uint64_t>(written));
  readout_.configure_finite_clock(static_cast<double>(setup_.readout_rate_hz),
                                  static_cast<std::uint64_t>(read));
  configured_write_ = written;
  configured_read_ = read;
}

at::Tensor NidaqmxDriver::output_buffer(const at::Tensor& waveform) const {
  const std::int64_t electrodes = setup_.electrode_count();
  if (!waveform.defined() || waveform.dim() != 2 || waveform.size(1) != electrodes)
    throw ArgumentError(fmt::format(
        "cannot measure: expected a (samples, {}) waveform, got {}", electrodes,
        waveform.defined() ? fmt::format("{}-d of width {}", waveform.dim(),
                                         waveform.dim() ? waveform.size(-1) : 0)
                           : std::string("an undefined tensor")));
  const at::Tensor volts = waveform.to(at::kCPU, at::kDouble);
  const std::int64_t samples = volts.size(0);
  const std::int64_t preroll = setup_.uses_sync_spike() ? setup_.sync_preroll_samples() : 0;
  const std::int64_t rows = electrodes + (setup_.uses_sync_spike() ? 1 : 0);
  at::Tensor buffer = at::zeros({rows, preroll + samples}, at::kDouble);
  buffer.narrow(0, 0, electrodes).narrow(1, preroll, samples).copy_(volts.t());
  if (setup_.uses_sync_spike()) buffer[electrodes][preroll] = kSpikeV;

  // The one check before the write, on exactly what will be written.
  SafetyLimits limits;
  limits.voltage_ranges = setup_.voltage_ranges();
  limits.absolute_limit_v = setup_.voltage_limit_v;
  limits.zero_at_ends = true;
  limits.max_step_v = setup_.max_step_v;
  check_waveform_safety(buffer.narrow(0, 0, electrodes).t(), limits);
  return buffer.contiguous();
}

at::Tensor NidaqmxDriver::measure(const at::Tensor& waveform) {
  throw_if_interrupted("measurement");
  at::Tensor buffer = output_buffer(waveform);  // SafetyError: nothing written
  const std::int64_t samples = waveform.size(0);
  if (samples == 0) return at::zeros({0, setup_.readout_count()}, at::kDouble);
  try {
    if (!has_open_tasks()) open();
    return setup_.uses_sync_spike() ? measure_sync_spike(buffer, samples)
                                    : measure_start_triggered(buffer, samples);
  } catch (const InterruptedError& e) {
    throw InterruptedError(e.what() + shut_down(buffer));
  } catch (const DaqmxError& e) {
    throw DaqmxError(e.code(), e.what() + shut_down(buffer));
  } catch (const std::exception& e) {
    throw HardwareError(e.what() + shut_down(buffer));
  }
}

at::Tensor NidaqmxDriver::measure_start_triggered(const at::Tensor& buffer,
                                                  std::int64_t samples) {
  const std::int64_t k = setup_.oversampling();
  // The AI task starts the outputs with its start trigger and reads one sample before the
  // first output sample arrives (brains-py drivers/cdaq.py: offset 1).
  const std::int64_t to_read = k * samples + 1;
  configure_timing(samples, to_read);
  const at::Tensor raw = acquire(buffer, to_read);
  const at::Tensor gains = at::tensor(setup_.amplification, at::kDouble).unsqueeze(1);
  at::Tensor currents = (raw * gains).narrow(1, 1, k * samples);
  currents = currents.reshape({raw.size(0), samples, k}).mean(2);
  if (setup_.inverted_output) currents = -currents;
  return currents.t().contiguous();
}

at::Tensor NidaqmxDriver::measure_sync_spike(const at::Tensor& buffer, std::int64_t samples) {
  const std::int64_t k = setup_.oversampling();
  const std::int64_t written = buffer.size(1);  // preroll + samples
  configure_timing(written, k * written);
  const at::Tensor gains = at::tensor(setup_.amplification, at::kDouble).unsqueeze(1);
  const std::int64_t readouts = setup_.readout_count();
  std::string failure;
  for (std::int64_t attempt = 1; attempt <= setup_.sync_attempts; ++attempt) {
    if (attempt > 1) throw_if_interrupted("measurement");
    const at::Tensor raw = acquire(buffer, k * written);
    const at::Tensor averaged = raw.view({raw.size(0), written, k}).mean(2);
    // The spike is found in volts as read: the amplification is for the data rows only
    // (brains-py scaled the sync row too, §15.30).
    const at::Tensor sync = averaged[readouts];
    const std::int64_t cut = sync.argmax().item<std::int64_t>();
    const double peak = sync[cut].item<double>();
    if (peak < setup_.sync_threshold_v) {
      failure = fmt::format("no spike on {} (largest {:.3g} V < {} V)",
                            setup_.sync_readout_channel, peak, setup_.sync_threshold_v);
    } else if (cut + samples > written) {
      failure = fmt::format("the spike on {} came at sample {}, too late to leave {} data "
                            "samples of {}",
                            setup_.sync_readout_channel, cut, samples, written);
    } else {
      last_sync_attempts_ = attempt;
      at::Tensor currents = averaged.narrow(0, 0, readouts).narrow(1, cut, samples) * gains;
      if (setup_.inverted_output) currents = -currents;
      return currents.t().contiguous();
    }
    log::warn("{}: synchronisation attempt {} of {} failed: {}", setup_.type, attempt,
              setup_.sync_attempts, failure);
  }
  last_sync_attempts_ = setup_.sync_attempts;
  throw HardwareError(fmt::format("cannot synchronise the {} readout: {} in each of {} attempts",
                                  setup_.type, failure, setup_.sync_attempts));
}

at::Tensor NidaqmxDriver::acquire(const at::Tensor& buffer, std::int64_t samples_to_read) {
  const std::int64_t written = buffer.size(1);
  const std::int64_t inputs = static_cast<std::int64_t>(readout_.channel_count());
  samples_read_ = 0;
  generating_ = true;  // from the write on, the outputs may move
  activation_.write(buffer.data_ptr<double>(), written, setup_.uses_start_trigger(),
                    setup_.write_timeout_s);
  // cdaq_to_cdaq: the write armed the outputs on the AI start trigger; starting the
  // readout starts both (brains-py relied on the read's auto-start, §15.32).
  if (!setup_.uses_start_trigger()) activation_.start();
  readout_.start();

  // Timeouts in seconds from sample counts and rates (brains-py used sample counts, §15.28).
  const double acquisition_s =
      static_cast<double>(samples_to_read) / static_cast<double>(setup_.readout_rate_hz);
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(acquisition_s + setup_.timeout_margin_s));
  const std::int64_t chunk = std::max<std::int64_t>(
      1, std::llround(setup_.read_chunk_s * static_cast<double>(setup_.readout_rate_hz)));
  at::Tensor data = at::empty({inputs, samples_to_read}, at::kDouble);
  std::vector<double> part(static_cast<std::size_t>(inputs * std::min(chunk, samples_to_read)));
  double* out = data.data_ptr<double>();
  while (samples_read_ < samples_to_read) {
    const std::int64_t wanted = std::min(chunk, samples_to_read - samples_read_);
    const double timeout_s = std::max(0.0, seconds_between(Clock::now(), deadline));
    const std::int64_t got = readout_.read(part.data(), wanted, timeout_s);
    if (got != wanted)
      throw HardwareError(fmt::format(
          "cannot read {} samples per channel (task '{}'): the library returned {} (samples "
          "done: {} of {})",
          wanted, readout_.name(), got, samples_read_, samples_to_read));
    for (std::int64_t c = 0; c < inputs; ++c)
      std::copy_n(part.data() + c * wanted, wanted, out + c * samples_to_read + samples_read_);
    samples_read_ += got;
    // A finished read completes normally; the next measurement sees the interrupt.
    if (samples_read_ < samples_to_read && interrupt_requested())
      throw InterruptedError(fmt::format("measurement interrupted after {} of {} samples",
                                         samples_read_, samples_to_read));
  }
  // The outputs may end a little after the last input sample (cdaq_to_nidaq starts them
  // first); stopping them early would leave the last ramp unfinished.
  activation_.wait_until_done(std::max(1.0, setup_.timeout_margin_s));
  readout_.stop();
  activation_.stop();
  generating_ = false;
  return data;
}

std::vector<double> NidaqmxDriver::output_levels(const at::Tensor& buffer) {
  const std::int64_t rows = buffer.size(0);
  std::vector<double> levels(static_cast<std::size_t>(rows), 0.0);
  if (!generating_ || !activation_.is_open()) return levels;
  const std::int64_t written = buffer.size(1);
  // Where the waveform stopped: the library's count of generated samples when it has one,
  // else the input samples read so far (one output sample per k input samples).
  std::int64_t index;
  if (const auto generated = activation_.samples_generated()) {
    index = static_cast<std::int64_t>(*generated) - 1;
  } else {
    const std::int64_t k = setup_.oversampling();
    index = setup_.uses_start_trigger() ? (samples_read_ - 1) / k : samples_read_ / k;
    if (samples_read_ == 0) index = setup_.uses_start_trigger() ? -1 : 0;
  }
  if (index < 0) return levels;  // nothing generated yet: the outputs rest at 0 V
  index = std::min(index, written - 1);
  const double* data = buffer.data_ptr<double>();
  for (std::int64_t r = 0; r < rows; ++r) levels[static_cast<std::size_t>(r)] = data[r * written + index];
  return levels;
}

void NidaqmxDriver::ramp_to_zero(const std::vector<double>& levels) {
  double largest = 0;
  for (double level : levels) largest = std::max(largest, std::abs(level));
  double step = setup_.shutdown_step_v;
  if (setup_.max_step_v) step = std::min(step, *setup_.max_step_v);
  const auto steps = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(largest / step)));
  // On-demand (untimed) writes of one sample each, on a task of its own.
  Task zero(api_, next_task_name("zero"));
  const auto names = setup_.activation_channel_names();
  const auto limits = setup_.output_limits();
  for (std::size_t i = 0; i < names.size(); ++i)
    zero.add_ao_voltage_channel(names[i], limits[i].first, limits[i].second);
  if (setup_.uses_sync_spike())
    zero.add_ao_voltage_channel(setup_.sync_activation_channel, -setup_.range_margin_v,
                                kSpikeV + setup_.range_margin_v);
  std::vector<double> values(levels.size());
  for (std::int64_t s = 1; s <= steps; ++s) {
    const double fraction = 1.0 - static_cast<double>(s) / static_cast<double>(steps);
    // The last step is exactly 0 V (not -0 V from a negative level times 0).
    for (std::size_t i = 0; i < levels.size(); ++i) values[i] = s == steps ? 0.0 : levels[i] * fraction;
    zero.write(values.data(), 1, /*auto_start=*/true, setup_.write_timeout_s);
  }
  zero.close();
}

std::string NidaqmxDriver::shut_down(const at::Tensor& buffer) noexcept {
  std::string problems;
  const auto note = [&problems](const std::string& what, const std::exception& e) {
    problems += (problems.empty() ? "" : "; ") + what + ": " + e.what();
  };
  std::vector<double> levels(static_cast<std::size_t>(buffer.size(0)), 0.0);
  try {
    if (readout_.is_open()) readout_.stop();
  } catch (const std::exception& e) {
    note("stop readout", e);
  }
  try {
    if (activation_.is_open()) activation_.stop();
  } catch (const std::exception& e) {
    note("stop outputs", e);
  }
  try {
    levels = output_levels(buffer);
  } catch (const std::exception& e) {
    note("find output levels", e);
  }
  generating_ = false;
  configured_write_ = configured_read_ = -1;
  try {
    readout_.close();
  } catch (const std::exception& e) {
    note("clear readout task", e);
  }
  try {
    activation_.close();
  } catch (const std::exception& e) {
    note("clear output task", e);
  }
  try {
    ramp_to_zero(levels);
  } catch (const std::exception& e) {
    note("ramp outputs to 0 V", e);
  }
  if (problems.empty()) return "; outputs ramped to 0 V and tasks cleared";
  return "; outputs may not be at 0 V (" + problems + ")";
}

void NidaqmxDriver::close() {
  std::string problems;
  const auto attempt = [&problems](const std::string& what, auto&& action) {
    try {
      action();
    } catch (const std::exception& e) {
      problems += (problems.empty() ? "" : "; ") + what + ": " + e.what();
    }
  };
  attempt("clear readout task", [this] { readout_.close(); });
  attempt("clear output task", [this] { activation_.close(); });
  configured_write_ = configured_read_ = -1;
  if (setup_.reset_on_close && used_instruments_) {
    for (const auto& instrument : setup_.instruments())
      attempt("reset " + instrument, [this, &instrument] {
        api_->check(api_->ResetDevice(instrument.c_str()), "reset device " + instrument);
      });
    used_instruments_ = false;
  }
  if (!problems.empty())
    throw HardwareError("cannot close " + setup_.type + " driver: " + problems);
}

}  // namespace brains::processors::nidaqmx
