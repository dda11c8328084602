#include "brains/processors/nidaqmx/setup.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "brains/core/log.h"
#include "brains/processors/safety.h"

namespace brains::processors::nidaqmx {

namespace {

const std::vector<std::string> kDriverKeys{
    "instrument_type", "inverted_output", "amplification", "instruments_setup", "library",
    "voltage_limit_v", "max_step_v", "range_margin_v", "timeout_margin_s", "write_timeout_s",
    "read_chunk_s", "reset_on_close", "shutdown_step_v", "sync_preroll_s", "sync_attempts",
    "sync_threshold_v"};
// Written by brains-py's drivers into saved configs (sampler_configs.json) or kept for
// documentation; they have no effect here.
const std::vector<std::string> kIgnoredDriverKeys{"auto_start", "offset",
                                                  "max_ramping_time_seconds", "gain_info"};

const std::vector<std::string> kSharedSetupKeys{
    "multiple_devices", "trigger_source", "average_io_point_difference",
    "activation_sampling_frequency", "readout_sampling_frequency", "readout_voltage_range",
    "readout_terminal_config", "activation_sync_channel", "readout_sync_channel"};
const std::vector<std::string> kDeviceKeys{
    "activation_instrument", "activation_channels", "activation_voltage_ranges",
    "activation_channel_mask", "readout_instrument", "readout_channels",
    "min_activation_voltages", "max_activation_voltages"};

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::string item_path(const Config& list, std::size_t index) {
  return list.key_path() + "[" + std::to_string(index) + "]";
}

double positive(const Config& driver, const char* key, double fallback) {
  if (!driver.has(key)) return fallback;
  const double value = driver.get<double>(key);
  if (!(value > 0) || !std::isfinite(value))
    throw ConfigError(driver.key_path(key), fmt::format("must be a positive number, got {}", value));
  return value;
}

std::vector<std::int64_t> channel_numbers(const Config& setup, const char* key) {
  const Config list = setup.at(key);
  const auto channels = list.as<std::vector<std::int64_t>>();
  if (channels.empty()) throw ConfigError(list.key_path(), "expected at least one channel");
  std::set<std::int64_t> seen;
  for (std::size_t i = 0; i < channels.size(); ++i) {
    if (channels[i] < 0)
      throw ConfigError(item_path(list, i),
                        fmt::format("channel numbers are non-negative, got {}", channels[i]));
    if (!seen.insert(channels[i]).second)
      throw ConfigError(list.key_path(), fmt::format("channel {} is listed twice", channels[i]));
  }
  return channels;
}

std::vector<std::pair<double, double>> voltage_ranges(const Config& setup, std::size_t count,
                                                      double limit_v) {
  std::vector<std::pair<double, double>> ranges;
  std::string where;
  if (auto list = setup.find("activation_voltage_ranges")) {
    where = list->key_path();
    const auto pairs = list->as<std::vector<std::vector<double>>>();
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      if (pairs[i].size() != 2)
        throw ConfigError(item_path(*list, i),
                          fmt::format("expected a [min, max] pair, got {} numbers", pairs[i].size()));
      ranges.emplace_back(pairs[i][0], pairs[i][1]);
    }
  } else if (setup.has("min_activation_voltages") || setup.has("max_activation_voltages")) {
    // Older brains-py setups (multiple_cdaq.yaml) give the bounds as two lists.
    const auto low = setup.get<std::vector<double>>("min_activation_voltages");
    const auto high = setup.get<std::vector<double>>("max_activation_voltages");
    where = setup.key_path("min_activation_voltages");
    if (low.size() != high.size())
      throw ConfigError(setup.key_path("max_activation_voltages"),
                        fmt::format("has {} values but min_activation_voltages has {}",
                                    high.size(), low.size()));
    for (std::size_t i = 0; i < low.size(); ++i) ranges.emplace_back(low[i], high[i]);
    log::info("{}: voltage ranges read from min_/max_activation_voltages (older brains-py keys)",
              setup.key_path().empty() ? "instruments_setup" : setup.key_path());
  } else {
    throw ConfigError(setup.key_path("activation_voltage_ranges"),
                      "missing required key: every driven electrode needs a [min, max] V range");
  }
  if (ranges.size() != count)
    throw ConfigError(where, fmt::format("has {} ranges but {} activation channels are listed",
                                         ranges.size(), count));
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const auto [low, high] = ranges[i];
    const std::string path = where + "[" + std::to_string(i) + "]";
    if (!std::isfinite(low) || !std::isfinite(high) || low > high)
      throw ConfigError(path, fmt::format("expected min <= max, got [{}, {}]", low, high));
    if (low > 0 || high < 0)
      throw ConfigError(path, fmt::format("the range [{}, {}] V must contain 0 V: hardware "
                                          "waveforms start and end at 0 V",
                                          low, high));
    if (std::abs(low) > limit_v || std::abs(high) > limit_v)
      throw ConfigError(path, fmt::format("the range [{}, {}] V exceeds the absolute limit of "
                                          "{} V",
                                          low, high, limit_v));
  }
  return ranges;
}

std::vector<bool> channel_mask(const Config& setup, std::size_t count, bool multiple) {
  std::vector<bool> driven(count, true);
  const auto list = setup.find("activation_channel_mask");
  if (!list) return driven;
  const auto mask = list->as<std::vector<std::int64_t>>();
  if (mask.size() != count)
    throw ConfigError(list->key_path(), fmt::format("has {} entries but {} activation channels "
                                                    "are listed",
                                                    mask.size(), count));
  for (std::size_t i = 0; i < count; ++i) {
    if (mask[i] != 0 && mask[i] != 1)
      throw ConfigError(item_path(*list, i), fmt::format("expected 0 or 1, got {}", mask[i]));
    if (multiple) driven[i] = mask[i] == 1;
  }
  if (!multiple && std::find(mask.begin(), mask.end(), 0) != mask.end())
    log::warn("{}: ignored with multiple_devices false (every listed channel is driven, as in "
              "brains-py)",
              list->key_path());
  return driven;
}

DeviceSetup parse_device(const Config& setup, const std::string& name, bool multiple,
                         double limit_v) {
  DeviceSetup device;
  device.name = name;
  device.activation_instrument = setup.get<std::string>("activation_instrument");
  device.activation_channels = channel_numbers(setup, "activation_channels");
  device.voltage_ranges = voltage_ranges(setup, device.activation_channels.size(), limit_v);
  device.driven = channel_mask(setup, device.activation_channels.size(), multiple);
  device.readout_instrument = setup.get<std::string>("readout_instrument");
  device.readout_channels = channel_numbers(setup, "readout_channels");
  if (device.activation_instrument.empty())
    throw ConfigError(setup.key_path("activation_instrument"), "expected an instrument name");
  if (device.readout_instrument.empty())
    throw ConfigError(setup.key_path("readout_instrument"), "expected an instrument name");
  return device;
}

int32 terminal_config(const Config& setup) {
  static const std::map<std::string, int32> names{{"default", kTerminalDefault},
                                                  {"rse", kTerminalRse},
                                                  {"nrse", kTerminalNrse},
                                                  {"diff", kTerminalDifferential},
                                                  {"pseudo_diff", kTerminalPseudoDifferential}};
  if (!setup.has("readout_terminal_config")) return kTerminalDefault;
  const std::string name = setup.get<std::string>("readout_terminal_config");
  const auto it = names.find(name);
  if (it == names.end())
    throw ConfigError(setup.key_path("readout_terminal_config"),
                      "expected default, rse, nrse, diff or pseudo_diff, got '" + name + "'");
  return it->second;
}

// A synchronisation channel: a number on `instrument`, or a full physical name.
std::string sync_channel(const Config& setup, const char* key, const std::string& instrument,
                         const char* kind) {
  if (!setup.has(key)) return instrument + "/" + kind + "7";
  const Config value = setup.at(key);
  const std::string text = value.as<std::string>();
  if (text.find('/') != std::string::npos) return text;
  const auto number = value.as<std::int64_t>();
  if (number < 0) throw ConfigError(value.key_path(), "channel numbers are non-negative");
  return instrument + "/" + kind + std::to_string(number);
}

void require_unique(const std::vector<std::string>& names, const std::string& key_path,
                    const char* what) {
  std::set<std::string> seen;
  for (const auto& name : names)
    if (!seen.insert(name).second)
      throw ConfigError(key_path, fmt::format("{} channel {} is used twice", what, name));
}

}  // namespace

NidaqSetup NidaqSetup::from_config(const std::string& type, const Config& driver) {
  if (type != "cdaq_to_cdaq" && type != "cdaq_to_nidaq")
    throw ConfigError(driver.key_path("instrument_type"),
                      "'" + type + "' is not an NI-DAQmx setup (cdaq_to_cdaq or cdaq_to_nidaq)");
  NidaqSetup out;
  out.type = type;
  driver.warn_unknown_keys(concat(kDriverKeys, kIgnoredDriverKeys));
  if (driver.has("instrument_type") && driver.get<std::string>("instrument_type") != type)
    log::warn("{} is '{}' but the processor type is '{}'; using '{}'",
              driver.key_path("instrument_type"), driver.get<std::string>("instrument_type"),
              type, type);

  if (driver.has("voltage_limit_v")) {
    out.voltage_limit_v = positive(driver, "voltage_limit_v", kAbsoluteLimitV);
    if (out.voltage_limit_v > kAbsoluteLimitV)
      throw ConfigError(driver.key_path("voltage_limit_v"),
                        fmt::format("may only lower the absolute limit of {} V, got {}",
                                    kAbsoluteLimitV, out.voltage_limit_v));
  }
  if (driver.has("max_step_v")) out.max_step_v = positive(driver, "max_step_v", 1.0);
  if (driver.has("range_margin_v")) {
    out.range_margin_v = driver.get<double>("range_margin_v");
    if (!(out.range_margin_v >= 0 && out.range_margin_v <= 0.1))
      throw ConfigError(driver.key_path("range_margin_v"),
                        fmt::format("expected 0 to 0.1 V, got {}", out.range_margin_v));
  }
  if (driver.has("timeout_margin_s")) {
    out.timeout_margin_s = driver.get<double>("timeout_margin_s");
    if (!(out.timeout_margin_s >= 0) || !std::isfinite(out.timeout_margin_s))
      throw ConfigError(driver.key_path("timeout_margin_s"), "expected a non-negative number of seconds");
  }
  out.write_timeout_s = positive(driver, "write_timeout_s", out.write_timeout_s);
  out.read_chunk_s = positive(driver, "read_chunk_s", out.read_chunk_s);
  out.shutdown_step_v = positive(driver, "shutdown_step_v", out.shutdown_step_v);
  out.sync_preroll_s = positive(driver, "sync_preroll_s", out.sync_preroll_s);
  out.sync_threshold_v = positive(driver, "sync_threshold_v", out.sync_threshold_v);
  out.sync_attempts = driver.get<std::int64_t>("sync_attempts", out.sync_attempts);
  if (out.sync_attempts < 1)
    throw ConfigError(driver.key_path("sync_attempts"), "expected at least 1 attempt");
  out.reset_on_close = driver.get<bool>("reset_on_close", false);
  out.inverted_output = driver.get<bool>("inverted_output", false);
  out.library = driver.get<std::string>("library", "");

  const Config setup = driver.at("instruments_setup");
  const bool multiple = setup.get<bool>("multiple_devices", false);
  out.activation_rate_hz = setup.get<std::int64_t>("activation_sampling_frequency");
  out.readout_rate_hz = setup.get<std::int64_t>("readout_sampling_frequency");
  if (out.activation_rate_hz <= 0)
    throw ConfigError(setup.key_path("activation_sampling_frequency"), "must be positive");
  if (out.readout_rate_hz <= 0 || out.readout_rate_hz % out.activation_rate_hz != 0)
    throw ConfigError(setup.key_path("readout_sampling_frequency"),
                      fmt::format("must be a positive integer multiple of "
                                  "activation_sampling_frequency ({} Hz), got {} Hz",
                                  out.activation_rate_hz, out.readout_rate_hz));
  if (out.oversampling() > 1 && !setup.get<bool>("average_io_point_difference", true))
    throw ConfigError(setup.key_path("average_io_point_difference"),
                      fmt::format("must be true when the readout oversamples (k = {}): a "
                                  "processor needs one current per written sample",
                                  out.oversampling()));
  if (out.uses_start_trigger()) {
    out.trigger_source = setup.get<std::string>("trigger_source");
    if (out.trigger_source.empty())
      throw ConfigError(setup.key_path("trigger_source"), "expected a chassis or terminal name");
  }
  if (setup.has("readout_voltage_range")) {
    const Config range = setup.at("readout_voltage_range");
    const auto pair = range.as<std::vector<double>>();
    if (pair.size() != 2 || !(pair[0] < pair[1]))
      throw ConfigError(range.key_path(), "expected [min, max] with min < max");
    out.readout_min_v = pair[0];
    out.readout_max_v = pair[1];
  }
  out.readout_terminal_config = terminal_config(setup);

  if (multiple) {
    std::vector<std::string> device_keys;
    for (const auto& key : setup.keys()) {
      const auto child = setup.find(key);
      if (child && child->node().IsMap())
        device_keys.push_back(key);
      else if (std::find(kSharedSetupKeys.begin(), kSharedSetupKeys.end(), key) ==
               kSharedSetupKeys.end())
        log::warn("unknown key '{}' (ignored; with multiple_devices true, devices are "
                  "mappings{})",
                  setup.key_path(key),
                  closest_match(key, kSharedSetupKeys).empty()
                      ? std::string()
                      : "; did you mean '" + closest_match(key, kSharedSetupKeys) + "'?");
    }
    if (device_keys.empty())
      throw ConfigError(setup.key_path(),
                        "multiple_devices is true but no device (a mapping such as A: {...}) "
                        "is listed");
    for (const auto& key : device_keys) {
      const Config device_config = setup.at(key);
      device_config.warn_unknown_keys(kDeviceKeys);
      DeviceSetup device = parse_device(device_config, key, true, out.voltage_limit_v);
      if (std::find(device.driven.begin(), device.driven.end(), true) == device.driven.end()) {
        log::info("device {}: every channel is masked; it is not used", key);
        continue;
      }
      out.devices.push_back(std::move(device));
    }
    if (out.devices.empty())
      throw ConfigError(setup.key_path(),
                        "every device's activation_channel_mask is all 0: nothing to drive");
  } else {
    setup.warn_unknown_keys(concat(kSharedSetupKeys, kDeviceKeys));
    out.devices.push_back(parse_device(setup, "", false, out.voltage_limit_v));
  }

  std::int64_t column = 0, readout_column = 0;
  for (auto& device : out.devices) {
    for (bool driven : device.driven) device.electrode_columns.push_back(driven ? column++ : -1);
    for (std::size_t i = 0; i < device.readout_channels.size(); ++i)
      device.readout_columns.push_back(readout_column++);
  }

  if (out.uses_sync_spike()) {
    out.sync_activation_channel = sync_channel(setup, "activation_sync_channel",
                                               out.devices.front().activation_instrument, "ao");
    out.sync_readout_channel = sync_channel(setup, "readout_sync_channel",
                                            out.devices.front().readout_instrument, "ai");
    if (out.sync_preroll_samples() < 1)
      throw ConfigError(driver.key_path("sync_preroll_s"),
                        fmt::format("{} s is less than one sample at {} Hz", out.sync_preroll_s,
                                    out.activation_rate_hz));
    if (out.sync_preroll_s < 0.02)
      log::warn("{} = {} s: brains-py advises at least 0.02 s for the spike to be found",
                driver.key_path("sync_preroll_s"), out.sync_preroll_s);
  }
  std::vector<std::string> outputs = out.activation_channel_names();
  std::vector<std::string> inputs = out.readout_channel_names();
  if (out.uses_sync_spike()) {
    outputs.push_back(out.sync_activation_channel);
    inputs.push_back(out.sync_readout_channel);
  }
  require_unique(outputs, setup.key_path("activation_channels"), "output");
  require_unique(inputs, setup.key_path("readout_channels"), "input");

  const Config amplification = driver.at("amplification");
  std::vector<double> gains = amplification.node().IsSequence()
                                  ? amplification.as<std::vector<double>>()
                                  : std::vector<double>{amplification.as<double>()};
  const auto readouts = static_cast<std::size_t>(out.readout_count());
  if (gains.size() == 1) gains.assign(readouts, gains.front());
  if (gains.size() != readouts)
    throw ConfigError(amplification.key_path(),
                      fmt::format("has {} values; expected 1 or one per readout channel ({})",
                                  gains.size(), readouts));
  for (std::size_t i = 0; i < gains.size(); ++i)
    if (!std::isfinite(gains[i]) || gains[i] == 0)
      throw ConfigError(amplification.key_path(),
                        fmt::format("expected finite non-zero gains, got {}", gains[i]));
  out.amplification = std::move(gains);
  return out;
}

std::int64_t NidaqSetup::sync_preroll_samples() const noexcept {
  // brains-py: int(activation_fs · 0.04); the small epsilon keeps 0.04 · 500 at 20.
  return static_cast<std::int64_t>(std::floor(static_cast<double>(activation_rate_hz) *
                                              sync_preroll_s + 1e-9));
}

std::string NidaqSetup::start_trigger_terminal() const {
  if (!trigger_source.empty() && trigger_source.front() == '/') return trigger_source;
  return "/" + trigger_source + "/ai/StartTrigger";
}

std::vector<std::string> NidaqSetup::activation_channel_names() const {
  std::vector<std::string> names;
  for (const auto& device : devices)
    for (std::size_t i = 0; i < device.activation_channels.size(); ++i)
      if (device.driven[i])
        names.push_back(device.activation_instrument + "/ao" +
                        std::to_string(device.activation_channels[i]));
  return names;
}

std::vector<std::pair<double, double>> NidaqSetup::electrode_ranges() const {
  std::vector<std::pair<double, double>> ranges;
  for (const auto& device : devices)
    for (std::size_t i = 0; i < device.voltage_ranges.size(); ++i)
      if (device.driven[i]) ranges.push_back(device.voltage_ranges[i]);
  return ranges;
}

at::Tensor NidaqSetup::voltage_ranges() const {
  const auto ranges = electrode_ranges();
  at::Tensor out = at::empty({static_cast<std::int64_t>(ranges.size()), 2}, at::kFloat);
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    out[static_cast<std::int64_t>(i)][0] = ranges[i].first;
    out[static_cast<std::int64_t>(i)][1] = ranges[i].second;
  }
  return out;
}

std::vector<std::pair<double, double>> NidaqSetup::output_limits() const {
  std::vector<std::pair<double, double>> limits;
  for (const auto& [low, high] : electrode_ranges())
    limits.emplace_back(std::max(low - range_margin_v, -voltage_limit_v),
                        std::min(high + range_margin_v, voltage_limit_v));
  return limits;
}

std::vector<std::string> NidaqSetup::readout_channel_names() const {
  std::vector<std::string> names;
  for (const auto& device : devices)
    for (auto channel : device.readout_channels)
      names.push_back(device.readout_instrument + "/ai" + std::to_string(channel));
  return names;
}

std::vector<std::string> NidaqSetup::instruments() const {
  std::vector<std::string> names;
  const auto add = [&names](const std::string& name) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  };
  for (const auto& device : devices) {
    add(device.activation_instrument);
    add(device.readout_instrument);
  }
  if (uses_sync_spike()) {
    add(sync_activation_channel.substr(0, sync_activation_channel.rfind('/')));
    add(sync_readout_channel.substr(0, sync_readout_channel.rfind('/')));
  }
  return names;
}

std::int64_t NidaqSetup::electrode_count() const {
  std::int64_t count = 0;
  for (const auto& device : devices) count += std::count(device.driven.begin(), device.driven.end(), true);
  return count;
}

std::int64_t NidaqSetup::readout_count() const {
  std::int64_t count = 0;
  for (const auto& device : devices) count += static_cast<std::int64_t>(device.readout_channels.size());
  return count;
}

std::string NidaqSetup::describe() const {
  const auto outputs = activation_channel_names();
  const auto inputs = readout_channel_names();
  std::string text = fmt::format("{}: {} electrode(s) {} -> {} readout(s) {}, AO {} Hz, AI {} Hz "
                                 "(k = {})",
                                 type, outputs.size(), fmt::join(outputs, ","), inputs.size(),
                                 fmt::join(inputs, ","), activation_rate_hz, readout_rate_hz,
                                 oversampling());
  if (devices.size() > 1 || !devices.front().name.empty()) {
    std::vector<std::string> names;
    for (const auto& device : devices) names.push_back(device.name);
    text += fmt::format(", devices {}", fmt::join(names, ","));
  }
  if (uses_start_trigger()) text += ", start trigger " + start_trigger_terminal();
  if (uses_sync_spike())
    text += fmt::format(", sync {} -> {} after {} samples", sync_activation_channel,
                        sync_readout_channel, sync_preroll_samples());
  return text;
}

}  // namespace brains::processors::nidaqmx
