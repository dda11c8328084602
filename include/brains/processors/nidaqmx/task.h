// Task: an NI-DAQmx task handle owned the RAII way (move-only, with an empty state). close()
// clears the task and throws on failure; the destructor clears a task still open and only
// reports a failure. Every call goes through Api::check, so an error names the task.
//
// Example:
//   Task ao(api, "activation_task");
//   ao.add_ao_voltage_channel("cDAQ1Mod3/ao0", -1.21, 0.61);
//   ao.configure_finite_clock(5000.0, samples);
//   ao.write(data, samples, /*auto_start=*/true, 10.0);  // data grouped by channel
//
// Raises: DaqmxError (any failing call), ArgumentError (a call on an empty task).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "brains/processors/nidaqmx/api.h"

namespace brains::processors::nidaqmx {

class Task {
 public:
  Task() = default;
  // DAQmxCreateTask(name).
  Task(std::shared_ptr<const Api> api, std::string name);
  Task(Task&& other) noexcept;
  Task& operator=(Task&& other) noexcept;
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task();

  bool is_open() const noexcept { return handle_ != nullptr; }
  const std::string& name() const noexcept { return name_; }
  // Physical channel names, in the order they were added (the row order of data).
  const std::vector<std::string>& channels() const noexcept { return channels_; }
  std::size_t channel_count() const noexcept { return channels_.size(); }

  void add_ao_voltage_channel(const std::string& physical, double min_v, double max_v);
  void add_ai_voltage_channel(const std::string& physical, int32 terminal_config, double min_v,
                              double max_v);
  // Onboard clock, rising edge, finite acquisition/generation of `samples` per channel.
  void configure_finite_clock(double rate_hz, std::uint64_t samples);
  // Start on the rising edge of `terminal` (e.g. "/cDAQ1/ai/StartTrigger").
  void configure_start_trigger(const std::string& terminal);
  // Writes `samples` per channel of `data` (channels × samples, grouped by channel).
  void write(const double* data, std::int64_t samples, bool auto_start, double timeout_s);
  void start();
  void stop();
  void wait_until_done(double timeout_s);
  // Reads up to `samples` per channel into `buffer` (channels × samples, grouped by
  // channel); returns the samples per channel actually read.
  std::int64_t read(double* buffer, std::int64_t samples, double timeout_s);
  // Samples per channel an output task has generated, when the library can tell.
  std::optional<std::uint64_t> samples_generated() const;
  // DAQmxClearTask; idempotent. The task is empty afterwards even when clearing failed.
  void close();

 private:
  void require_open(const char* action) const;
  std::string action(const std::string& verb) const;

  std::shared_ptr<const Api> api_;
  TaskHandle handle_ = nullptr;
  std::string name_;
  std::vector<std::string> channels_;
};

}  // namespace brains::processors::nidaqmx
