#include "brains/processors/nidaqmx/task.h"

#include <fmt/format.h>

#include <limits>
#include <utility>

#include "brains/core/log.h"

namespace brains::processors::nidaqmx {

Task::Task(std::shared_ptr<const Api> api, std::string name)
    : api_(std::move(api)), name_(std::move(name)) {
  if (!api_) throw ArgumentError("cannot create task '" + name_ + "': no NI-DAQmx library");
  TaskHandle handle = nullptr;
  api_->check(api_->CreateTask(name_.c_str(), &handle), "create task '" + name_ + "'");
  handle_ = handle;
}

Task::Task(Task&& other) noexcept
    : api_(std::move(other.api_)),
      handle_(std::exchange(other.handle_, nullptr)),
      name_(std::move(other.name_)),
      channels_(std::move(other.channels_)) {}

Task& Task::operator=(Task&& other) noexcept {
  if (this != &other) {
    Task dropped(std::move(*this));  // the old task is cleared (and reported) here
    api_ = std::move(other.api_);
    handle_ = std::exchange(other.handle_, nullptr);
    name_ = std::move(other.name_);
    channels_ = std::move(other.channels_);
  }
  return *this;
}

Task::~Task() {
  if (!handle_) return;
  try {
    close();
  } catch (const std::exception& e) {
    log::warn("task '{}' was not cleared cleanly: {}", name_, e.what());
  }
}

std::string Task::action(const std::string& verb) const {
  return verb + " (task '" + name_ + "')";
}

void Task::require_open(const char* what) const {
  if (!handle_)
    throw ArgumentError(fmt::format("cannot {}: task '{}' is not open", what, name_));
}

void Task::add_ao_voltage_channel(const std::string& physical, double min_v, double max_v) {
  require_open("add an output channel");
  api_->check(api_->CreateAOVoltageChan(handle_, physical.c_str(), "", min_v, max_v, kVolts,
                                        nullptr),
              action(fmt::format("add output channel {} [{}, {}] V", physical, min_v, max_v)));
  channels_.push_back(physical);
}

void Task::add_ai_voltage_channel(const std::string& physical, int32 terminal_config,
                                  double min_v, double max_v) {
  require_open("add an input channel");
  api_->check(api_->CreateAIVoltageChan(handle_, physical.c_str(), "", terminal_config, min_v,
                                        max_v, kVolts, nullptr),
              action(fmt::format("add input channel {} [{}, {}] V", physical, min_v, max_v)));
  channels_.push_back(physical);
}

void Task::configure_finite_clock(double rate_hz, std::uint64_t samples) {
  require_open("configure the sample clock");
  api_->check(api_->CfgSampClkTiming(handle_, "", rate_hz, kRising, kFiniteSamples,
                                     static_cast<uInt64>(samples)),
              action(fmt::format("configure the sample clock ({} Hz, {} samples)", rate_hz,
                                 samples)));
}

void Task::configure_start_trigger(const std::string& terminal) {
  require_open("configure the start trigger");
  api_->check(api_->CfgDigEdgeStartTrig(handle_, terminal.c_str(), kRising),
              action("start on trigger " + terminal));
}

void Task::write(const double* data, std::int64_t samples, bool auto_start, double timeout_s) {
  require_open("write");
  if (samples <= 0 || samples > std::numeric_limits<int32>::max())
    throw ArgumentError(fmt::format("cannot write {} samples per channel (task '{}')", samples,
                                    name_));
  int32 written = 0;
  api_->check(api_->WriteAnalogF64(handle_, static_cast<int32>(samples), auto_start ? 1 : 0,
                                   timeout_s, kGroupByChannel, data, &written, nullptr),
              action(fmt::format("write {} samples per channel", samples)));
  if (written != samples)
    throw HardwareError(fmt::format("cannot write {} samples per channel (task '{}'): only {} "
                                    "were accepted",
                                    samples, name_, written));
}

void Task::start() {
  require_open("start");
  api_->check(api_->StartTask(handle_), action("start"));
}

void Task::stop() {
  require_open("stop");
  api_->check(api_->StopTask(handle_), action("stop"));
}

void Task::wait_until_done(double timeout_s) {
  require_open("wait for the task");
  api_->check(api_->WaitUntilTaskDone(handle_, timeout_s),
              action(fmt::format("wait up to {} s for the end", timeout_s)));
}

std::int64_t Task::read(double* buffer, std::int64_t samples, double timeout_s) {
  require_open("read");
  const std::uint64_t size = static_cast<std::uint64_t>(samples) * channels_.size();
  if (samples <= 0 || samples > std::numeric_limits<int32>::max() ||
      size > std::numeric_limits<uInt32>::max())
    throw ArgumentError(fmt::format("cannot read {} samples per channel (task '{}')", samples,
                                    name_));
  int32 read = 0;
  api_->check(api_->ReadAnalogF64(handle_, static_cast<int32>(samples), timeout_s,
                                  kGroupByChannel, buffer, static_cast<uInt32>(size), &read,
                                  nullptr),
              action(fmt::format("read {} samples per channel within {:.3g} s", samples,
                                 timeout_s)));
  return read;
}

std::optional<std::uint64_t> Task::samples_generated() const {
  if (!handle_ || !api_->GetWriteTotalSampPerChanGenerated) return std::nullopt;
  uInt64 generated = 0;
  if (api_->GetWriteTotalSampPerChanGenerated(handle_, &generated) < 0) return std::nullopt;
  return static_cast<std::uint64_t>(generated);
}

void Task::close() {
  if (!handle_) return;
  TaskHandle handle = std::exchange(handle_, nullptr);
  api_->check(api_->ClearTask(handle), action("clear"));
}

}  // namespace brains::processors::nidaqmx
