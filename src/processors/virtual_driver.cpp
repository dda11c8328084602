#include "brains/processors/virtual_driver.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "brains/core/error.h"
#include "brains/core/interrupt.h"
#include "brains/physics/electrostatics.h"
#include "brains/physics/layout.h"
#include "brains/physics/model.h"
#include "brains/physics/random.h"
#include "brains/processors/safety.h"

namespace brains::processors {

namespace {

// Time constants of the 1/f-like output drift: equal-variance Ornstein–Uhlenbeck components
// one decade apart give a 1/f spectrum between 1/(2π·1000 s) and 1/(2π·0.1 s).
constexpr double kDriftTimeConstantsS[] = {0.1, 1.0, 10.0, 100.0, 1000.0};
constexpr int kDriftComponents = 5;
// The op-amp swing of a real setup: ±4 V at the ADC, i.e. amplification · [−4, 4] nA.
constexpr double kOpAmpSwingV = 4.0;
constexpr double kDefaultAmplification = 28.5;  // the Brains setup (brains-py §7.7)

std::string join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

std::string number(double value) { return fmt::format("{:g}", value); }

const std::vector<std::string>& driver_keys() {
  static const std::vector<std::string> keys{
      "instrument_type", "seed", "device", "kmc", "chunk_samples", "threads",
      "instruments_setup", "activation_electrodes", "readout_electrodes", "voltage_ranges",
      "amplification", "inverted_output", "output_clipping", "noise", "drift",
      // NI-only keys of brains-py driver sections, accepted and ignored.
      "real_time_rack", "max_ramping_time_seconds", "auto_start", "offset"};
  return keys;
}

const std::vector<std::string>& setup_keys() {
  static const std::vector<std::string> keys{
      "activation_channels", "readout_channels", "activation_voltage_ranges",
      "activation_sampling_frequency", "readout_sampling_frequency",
      "average_io_point_difference", "multiple_devices",
      // NI-only, accepted and ignored.
      "trigger_source", "activation_instrument", "readout_instrument", "activation_channel_mask"};
  return keys;
}

// `[min, max]` for every electrode, or one pair per electrode.
std::vector<std::pair<double, double>> ranges_from(const Config& value) {
  const YAML::Node& node = value.node();
  if (node.IsSequence() && node.size() == 2 && node[0].IsScalar() && node[1].IsScalar()) {
    const auto pair = value.as<std::vector<double>>();
    return {{pair[0], pair[1]}};
  }
  const auto rows = value.as<std::vector<std::vector<double>>>();
  std::vector<std::pair<double, double>> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].size() != 2)
      throw ConfigError(value.key_path() + "[" + std::to_string(i) + "]",
                        "expected a [min, max] pair, got " + std::to_string(rows[i].size()) +
                            " numbers");
    out.emplace_back(rows[i][0], rows[i][1]);
  }
  return out;
}

// A list of numbers, or one number (upstream templates use a scalar amplification).
std::vector<double> numbers_from(const Config& value) {
  if (value.node().IsScalar()) return {value.as<double>()};
  return value.as<std::vector<double>>();
}

// The value under the simple key or under instruments_setup, never both.
std::optional<Config> either(const Config& driver, const std::optional<Config>& setup,
                             const std::string& simple, const std::string& brains_py) {
  const bool in_driver = driver.has(simple);
  const bool in_setup = setup && setup->has(brains_py);
  if (in_driver && in_setup)
    throw ConfigError(driver.key_path(simple),
                      "give either " + simple + " or instruments_setup." + brains_py + ", not both");
  if (in_driver) return driver.at(simple);
  if (in_setup) return setup->at(brains_py);
  return std::nullopt;
}

void check_electrodes(const std::vector<int>& list, int electrodes, const std::string& key) {
  std::set<int> seen;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string item = key + "[" + std::to_string(i) + "]";
    if (list[i] < 0 || list[i] >= electrodes)
      throw ConfigError(item, fmt::format("electrode {} does not exist (the device has {}: 0..{})",
                                          list[i], electrodes, electrodes - 1));
    if (!seen.insert(list[i]).second)
      throw ConfigError(item, fmt::format("electrode {} is listed twice", list[i]));
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Options

physics::KmcOptions VirtualDriverOptions::default_kmc() {
  physics::KmcOptions kmc;
  kmc.hops_per_sample = 10000;
  kmc.warmup_hops = 20000;
  kmc.blocks = 1;
  return kmc;
}

VirtualDriverOptions VirtualDriverOptions::from_config(const Config& processor_configs) {
  const Config driver = processor_configs.has("driver")
                            ? processor_configs.at("driver")
                            : Config(YAML::Node(YAML::NodeType::Map), processor_configs.key_path("driver"));
  if (!driver.node().IsMap())
    throw ConfigError(driver.key_path(), "expected a mapping of driver settings");
  driver.warn_unknown_keys(driver_keys());
  if (driver.has("instrument_type")) {
    const auto type = driver.get<std::string>("instrument_type");
    if (type != "virtual")
      throw ConfigError(driver.key_path("instrument_type"),
                        "expected 'virtual' for processor_type virtual, got '" + type + "'");
  }

  VirtualDriverOptions o;
  o.seed = driver.get<std::uint64_t>("seed", o.seed);
  if (driver.has("device")) o.device = physics::DeviceParameters::from_config(driver.at("device"));
  if (driver.has("kmc")) {
    const Config kmc = driver.at("kmc");
    o.kmc = physics::KmcOptions::from_config(kmc);
    // The driver's own defaults where the config is silent.
    const auto defaults = default_kmc();
    if (!kmc.has("hops_per_sample")) o.kmc.hops_per_sample = defaults.hops_per_sample;
    if (!kmc.has("warmup_hops")) o.kmc.warmup_hops = defaults.warmup_hops;
    if (!kmc.has("blocks")) o.kmc.blocks = defaults.blocks;
  }
  o.chunk_samples = driver.get<std::int64_t>("chunk_samples", 0);
  if (o.chunk_samples < 0)
    throw ConfigError(driver.key_path("chunk_samples"),
                      "expected a non-negative integer (0: automatic), got " + std::to_string(o.chunk_samples));
  o.threads = driver.get<int>("threads", 0);
  if (o.threads < 0)
    throw ConfigError(driver.key_path("threads"),
                      "expected a non-negative integer (0: automatic), got " + std::to_string(o.threads));

  const std::optional<Config> setup = driver.find("instruments_setup");
  if (setup) {
    if (!setup->node().IsMap()) throw ConfigError(setup->key_path(), "expected a mapping");
    setup->warn_unknown_keys(setup_keys());
    if (setup->get<bool>("multiple_devices", false))
      throw ConfigError(setup->key_path("multiple_devices"),
                        "the virtual driver simulates one device; set it to false");
    if (!setup->get<bool>("average_io_point_difference", true))
      throw ConfigError(setup->key_path("average_io_point_difference"),
                        "the virtual driver always averages the readouts of a sample "
                        "(one output row per written sample); set it to true");
    const double activation_fs = setup->get<double>("activation_sampling_frequency", o.activation_sampling_frequency_hz);
    if (!(std::isfinite(activation_fs) && activation_fs > 0))
      throw ConfigError(setup->key_path("activation_sampling_frequency"),
                        "expected a positive frequency in Hz, got " + number(activation_fs));
    const double readout_fs = setup->get<double>("readout_sampling_frequency", activation_fs);
    const double ratio = readout_fs / activation_fs;
    if (!(std::isfinite(ratio) && ratio >= 1 && std::abs(ratio - std::round(ratio)) < 1e-9 && ratio <= 1000))
      throw ConfigError(setup->key_path("readout_sampling_frequency"),
                        "expected a multiple (1 to 1000 times) of activation_sampling_frequency (" +
                            number(activation_fs) + " Hz), got " + number(readout_fs));
    o.activation_sampling_frequency_hz = activation_fs;
    o.readouts_per_sample = static_cast<int>(std::lround(ratio));
  }

  if (auto value = either(driver, setup, "activation_electrodes", "activation_channels"))
    o.activation_electrodes = value->as<std::vector<int>>();
  if (auto value = either(driver, setup, "readout_electrodes", "readout_channels"))
    o.readout_electrodes = value->as<std::vector<int>>();
  if (auto value = either(driver, setup, "voltage_ranges", "activation_voltage_ranges"))
    o.voltage_ranges = ranges_from(*value);
  if (driver.has("amplification")) o.amplification = numbers_from(driver.at("amplification"));
  o.inverted_output = driver.get<bool>("inverted_output", false);

  if (const auto noise = driver.find("noise")) {
    noise->warn_unknown_keys({"std_na"});
    o.noise_std_na = noise->get<double>("std_na", 0.0);
  }
  if (const auto drift = driver.find("drift")) {
    drift->warn_unknown_keys({"output_std_na", "energy_std_ev", "energy_time_constant_s"});
    o.drift_output_std_na = drift->get<double>("output_std_na", 0.0);
    o.drift_energy_std_ev = drift->get<double>("energy_std_ev", 0.0);
    o.drift_energy_time_constant_s = drift->get<double>("energy_time_constant_s", o.drift_energy_time_constant_s);
  }

  // Key paths of errors found while completing: the driver section's.
  const std::string prefix = driver.key_path();
  o.complete(prefix);
  if (driver.contains("output_clipping")) {
    if (driver.has("output_clipping")) {
      const auto clip = driver.get<std::vector<double>>("output_clipping");
      if (clip.size() != 2 || !(clip[0] < clip[1]))
        throw ConfigError(driver.key_path("output_clipping"), "expected [min, max] nA with min < max");
      o.output_clipping = std::make_pair(clip[0], clip[1]);
    }  // null: no saturation
  } else {
    const double amplification = *std::min_element(o.amplification.begin(), o.amplification.end());
    o.output_clipping = std::make_pair(-kOpAmpSwingV * amplification, kOpAmpSwingV * amplification);
  }
  return o;
}

void VirtualDriverOptions::complete(const std::string& prefix) {
  const auto key = [&](const std::string& name) { return join(prefix, name); };
  device.validate(key("device"));
  kmc.validate(key("kmc"));
  const int electrodes = static_cast<int>(device.electrodes.size());
  if (electrodes < 2)
    throw ConfigError(key("device.electrodes"),
                      fmt::format("the virtual driver needs at least 2 electrodes, got {}", electrodes));

  // Defaults: the last electrode reads out, the others are driven; when only one list is
  // given, the other one is the rest (the last remaining one for a readout).
  const auto unused = [&](const std::vector<int>& taken) {
    std::vector<int> rest;
    for (int e = 0; e < electrodes; ++e)
      if (std::find(taken.begin(), taken.end(), e) == taken.end()) rest.push_back(e);
    return rest;
  };
  if (activation_electrodes.empty() && readout_electrodes.empty()) readout_electrodes = {electrodes - 1};
  if (activation_electrodes.empty()) activation_electrodes = unused(readout_electrodes);
  if (readout_electrodes.empty()) {
    const auto rest = unused(activation_electrodes);
    if (!rest.empty()) readout_electrodes = {rest.back()};
  }
  check_electrodes(activation_electrodes, electrodes, key("activation_electrodes"));
  check_electrodes(readout_electrodes, electrodes, key("readout_electrodes"));
  if (activation_electrodes.empty())
    throw ConfigError(key("activation_electrodes"), "expected at least one activation electrode");
  if (readout_electrodes.empty())
    throw ConfigError(key("readout_electrodes"),
                      "expected at least one readout electrode (every electrode is an activation electrode)");
  for (std::size_t i = 0; i < readout_electrodes.size(); ++i) {
    const int e = readout_electrodes[i];
    const std::string item = key("readout_electrodes[" + std::to_string(i) + "]");
    if (std::find(activation_electrodes.begin(), activation_electrodes.end(), e) != activation_electrodes.end())
      throw ConfigError(item, fmt::format("electrode {} is also an activation electrode", e));
    if (device.electrodes[static_cast<std::size_t>(e)].gate_only)
      throw ConfigError(item, fmt::format("electrode {} is gate-only and carries no current", e));
  }

  const std::size_t e_count = activation_electrodes.size();
  if (voltage_ranges.empty()) voltage_ranges.assign(1, {-1.0, 1.0});
  if (voltage_ranges.size() == 1) voltage_ranges.assign(e_count, voltage_ranges.front());
  if (voltage_ranges.size() != e_count)
    throw ConfigError(key("voltage_ranges"),
                      fmt::format("expected one [min, max] pair or {} (one per activation electrode), got {}",
                                  e_count, voltage_ranges.size()));
  for (std::size_t i = 0; i < e_count; ++i) {
    const auto [low, high] = voltage_ranges[i];
    const std::string item = key("voltage_ranges[" + std::to_string(i) + "]");
    if (!(std::isfinite(low) && std::isfinite(high) && low < high))
      throw ConfigError(item, "expected [min, max] with min < max, got [" + number(low) + ", " + number(high) + "]");
    if (low < -kAbsoluteLimitV || high > kAbsoluteLimitV)
      throw ConfigError(item, "[" + number(low) + ", " + number(high) + "] V reaches beyond the absolute limit of ±" +
                                  number(kAbsoluteLimitV) + " V");
    if (low > 0 || high < 0)
      throw ConfigError(item, "[" + number(low) + ", " + number(high) +
                                  "] V does not contain 0 V, where every waveform starts and ends");
  }

  if (amplification.empty()) amplification.assign(1, kDefaultAmplification);
  if (amplification.size() == 1) amplification.assign(readout_electrodes.size(), amplification.front());
  if (amplification.size() != readout_electrodes.size())
    throw ConfigError(key("amplification"), fmt::format("expected one value or {} (one per readout), got {}",
                                                        readout_electrodes.size(), amplification.size()));
  for (std::size_t i = 0; i < amplification.size(); ++i)
    if (!(std::isfinite(amplification[i]) && amplification[i] > 0))
      throw ConfigError(key("amplification[" + std::to_string(i) + "]"),
                        "expected a positive gain in nA/V, got " + number(amplification[i]));
  if (output_clipping && !(output_clipping->first < output_clipping->second))
    throw ConfigError(key("output_clipping"), "expected [min, max] nA with min < max");

  if (readouts_per_sample < 1)
    throw ConfigError(key("instruments_setup.readout_sampling_frequency"),
                      "expected at least one readout per sample");
  if (!(std::isfinite(activation_sampling_frequency_hz) && activation_sampling_frequency_hz > 0))
    throw ConfigError(key("instruments_setup.activation_sampling_frequency"), "expected a positive frequency");
  const auto non_negative = [&](double value, const std::string& name) {
    if (!(std::isfinite(value) && value >= 0))
      throw ConfigError(key(name), "expected a non-negative number, got " + number(value));
  };
  non_negative(noise_std_na, "noise.std_na");
  non_negative(drift_output_std_na, "drift.output_std_na");
  non_negative(drift_energy_std_ev, "drift.energy_std_ev");
  if (!(std::isfinite(drift_energy_time_constant_s) && drift_energy_time_constant_s > 0))
    throw ConfigError(key("drift.energy_time_constant_s"),
                      "expected a positive time in seconds, got " + number(drift_energy_time_constant_s));
}

std::int64_t VirtualDriverOptions::chunk_length() const {
  if (chunk_samples > 0) return chunk_samples;
  const std::int64_t per_sample = kmc.hops_per_sample * readouts_per_sample;
  const std::int64_t for_warmup = (10 * kmc.warmup_hops + per_sample - 1) / per_sample;
  return std::max<std::int64_t>(16, for_warmup);
}

// ---------------------------------------------------------------------------------------
// Driver

struct VirtualDriver::Device {
  physics::Layout layout;
  std::shared_ptr<const physics::Electrostatics> electrostatics;
};

VirtualDriver::VirtualDriver(VirtualDriverOptions options) : options_(std::move(options)) {
  options_.complete();
  device_ = std::make_unique<Device>();
  device_->layout = physics::Layout::generate(options_.device, "driver.device");
  device_->electrostatics = std::make_shared<const physics::Electrostatics>(options_.device, device_->layout);
  model_ = std::make_shared<const physics::HoppingModel>(options_.device, device_->layout, device_->electrostatics);
  energy_drift_ev_.assign(device_->layout.disorder_ev.size(), 0.0);
  output_drift_state_.assign(kDriftComponents * options_.readout_electrodes.size(), 0.0);
}

VirtualDriver::~VirtualDriver() = default;

std::int64_t VirtualDriver::activation_electrode_count() const {
  return static_cast<std::int64_t>(options_.activation_electrodes.size());
}

std::int64_t VirtualDriver::readout_electrode_count() const {
  return static_cast<std::int64_t>(options_.readout_electrodes.size());
}

at::Tensor VirtualDriver::voltage_ranges() const {
  at::Tensor ranges = at::empty({activation_electrode_count(), 2}, at::kFloat);
  for (std::size_t i = 0; i < options_.voltage_ranges.size(); ++i) {
    ranges[static_cast<std::int64_t>(i)][0] = options_.voltage_ranges[i].first;
    ranges[static_cast<std::int64_t>(i)][1] = options_.voltage_ranges[i].second;
  }
  return ranges;
}

at::Tensor VirtualDriver::clipping_value() const {
  if (!options_.output_clipping) return Driver::clipping_value();
  return at::tensor({options_.output_clipping->first, options_.output_clipping->second}, at::kFloat);
}

at::Tensor VirtualDriver::simulate(const at::Tensor& waveform, std::uint64_t call) const {
  const std::int64_t e_count = activation_electrode_count();
  if (!waveform.defined() || waveform.dim() != 2 || waveform.size(1) != e_count)
    throw ArgumentError(fmt::format("cannot simulate waveform: expected (samples, {}) volts", e_count));
  const at::Tensor w = waveform.to(at::kCPU, at::kDouble).contiguous();
  const std::int64_t samples = w.size(0);
  const int k = options_.readouts_per_sample;
  const int electrodes = model_->electrode_count();
  const auto& readouts = options_.readout_electrodes;
  const std::int64_t outputs = readout_electrode_count();
  at::Tensor out = at::zeros({samples, outputs}, at::kDouble);
  if (samples == 0) return out;

  // Readouts are consecutive samples at the same voltages (a k-times faster ADC).
  const std::int64_t rows = samples * k;
  const std::int64_t chunk = options_.chunk_length() * k;
  const std::int64_t chunks = (rows + chunk - 1) / chunk;
  const double* voltages = w.data_ptr<double>();
  double* currents = out.data_ptr<double>();
  const std::uint64_t seed = physics::Rng(options_.seed, "processors.virtual.measure", call).next();
  // 0: every core (run_parallel's hardware concurrency).
  const int threads = options_.threads;

  physics::run_parallel(chunks, threads, [&](std::int64_t c) {
    physics::KmcSimulation simulation(model_, seed, static_cast<std::uint64_t>(c), options_.kmc);
    std::vector<double> v(static_cast<std::size_t>(electrodes), 0.0);
    const std::int64_t first = c * chunk, last = std::min(rows, first + chunk);
    for (std::int64_t row = first; row < last; ++row) {
      if (interrupt_requested()) throw InterruptedError("virtual device measurement interrupted");
      const std::int64_t s = row / k;
      for (std::int64_t e = 0; e < e_count; ++e)
        v[static_cast<std::size_t>(options_.activation_electrodes[e])] = voltages[s * e_count + e];
      const physics::Measurement m = simulation.simulate(
          v, options_.kmc.hops_per_sample, row == first ? options_.kmc.warmup_hops : 0);
      // Each row belongs to one chunk, so the sums below never race; the k readouts of a
      // sample are added in row order whatever the thread count.
      for (std::int64_t o = 0; o < outputs; ++o)
        currents[s * outputs + o] += m.current_na[static_cast<std::size_t>(readouts[o])] / k;
    }
  });
  return out;
}

at::Tensor VirtualDriver::measure(const at::Tensor& waveform) {
  const std::uint64_t call = static_cast<std::uint64_t>(calls_);
  at::Tensor currents = simulate(waveform, call);
  ++calls_;
  const std::int64_t samples = currents.size(0), outputs = currents.size(1);
  const double dt = 1.0 / options_.activation_sampling_frequency_hz;
  double* y = currents.data_ptr<double>();

  if (options_.noise_std_na > 0) {
    physics::Rng rng(options_.seed, "processors.virtual.noise", call);
    for (std::int64_t i = 0; i < samples * outputs; ++i) y[i] += options_.noise_std_na * rng.normal();
  }
  if (options_.drift_output_std_na > 0) {
    // Each component relaxes towards 0 with its time constant and is kicked so that its
    // stationary std is output_std / √components.
    physics::Rng rng(options_.seed, "processors.virtual.drift", call);
    const double sigma = options_.drift_output_std_na / std::sqrt(static_cast<double>(kDriftComponents));
    double decay[kDriftComponents], kick[kDriftComponents];
    for (int m = 0; m < kDriftComponents; ++m) {
      decay[m] = std::exp(-dt / kDriftTimeConstantsS[m]);
      kick[m] = sigma * std::sqrt(1 - decay[m] * decay[m]);
    }
    for (std::int64_t s = 0; s < samples; ++s)
      for (std::int64_t o = 0; o < outputs; ++o) {
        double total = 0;
        for (int m = 0; m < kDriftComponents; ++m) {
          double& state = output_drift_state_[static_cast<std::size_t>(o * kDriftComponents + m)];
          state = decay[m] * state + kick[m] * rng.normal();
          total += state;
        }
        y[s * outputs + o] += total;
      }
  }
  if (options_.inverted_output) currents.neg_();
  if (options_.output_clipping) currents.clamp_(options_.output_clipping->first, options_.output_clipping->second);

  time_s_ += static_cast<double>(samples) * dt;
  if (options_.drift_energy_std_ev > 0) drift_site_energies(static_cast<double>(samples) * dt, call);
  return currents;
}

void VirtualDriver::drift_site_energies(double seconds, std::uint64_t call) {
  // Ornstein–Uhlenbeck step of every acceptor's energy offset; the device is rebuilt around
  // the same electrostatics (no new Laplace solve).
  physics::Rng rng(options_.seed, "processors.virtual.energy_drift", call);
  const double decay = std::exp(-seconds / options_.drift_energy_time_constant_s);
  const double kick = options_.drift_energy_std_ev * std::sqrt(1 - decay * decay);
  physics::Layout layout = device_->layout;
  for (std::size_t i = 0; i < energy_drift_ev_.size(); ++i) {
    energy_drift_ev_[i] = decay * energy_drift_ev_[i] + kick * rng.normal();
    layout.disorder_ev[i] += energy_drift_ev_[i];
  }
  model_ = std::make_shared<const physics::HoppingModel>(options_.device, std::move(layout), device_->electrostatics);
}

std::shared_ptr<Driver> make_virtual_driver(const Config& processor_configs) {
  return std::make_shared<VirtualDriver>(VirtualDriverOptions::from_config(processor_configs));
}

double measure_sampling_rate(VirtualDriver& driver, std::int64_t samples) {
  if (samples < 1) throw ArgumentError("cannot measure the sampling rate of fewer than 1 sample");
  const at::Tensor ranges = driver.voltage_ranges().to(at::kDouble);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(1);
  const at::Tensor waveform =
      ranges.select(1, 0) + (ranges.select(1, 1) - ranges.select(1, 0)) *
                                at::rand({samples, ranges.size(0)}, generator, at::kDouble);
  const auto start = std::chrono::steady_clock::now();
  driver.simulate(waveform, 0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(samples) / seconds;
}

}  // namespace brains::processors
