#include "brains/smg/sampling_options.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>
#include <random>
#include <tuple>

#include "brains/core/error.h"
#include "brains/core/log.h"
#include "brains/core/seed.h"

namespace brains::smg {

namespace {

const std::vector<double> kDefaultInputFrequency{2, 3, 5, 7, 13, 17, 19};

at::Tensor doubles(const std::vector<double>& values) {
  return at::tensor(at::ArrayRef<double>(values), at::kDouble);
}

std::vector<double> values_of(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kCPU, at::kDouble).contiguous().reshape({-1});
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

// A list of exactly `count` finite numbers.
std::vector<double> numbers(const Config& value, std::int64_t count, const std::string& what) {
  const auto list = value.as<std::vector<double>>();
  if (static_cast<std::int64_t>(list.size()) != count)
    throw ConfigError(value.key_path(), fmt::format("expected {} values ({}), got {}", count, what,
                                                    list.size()));
  for (const double v : list)
    if (!std::isfinite(v)) throw ConfigError(value.key_path(), "expected finite numbers");
  return list;
}

std::int64_t positive_integer(const Config& parent, const std::string& key) {
  const auto value = parent.get<std::int64_t>(key);
  if (value < 1)
    throw ConfigError(parent.key_path(key), "expected a positive integer, got " + std::to_string(value));
  return value;
}

double positive_number(const Config& parent, const std::string& key, bool zero_allowed) {
  const auto value = parent.get<double>(key);
  if (!std::isfinite(value) || value < 0 || (!zero_allowed && value == 0))
    throw ConfigError(parent.key_path(key), fmt::format("expected a {} number, got {}",
                                                        zero_allowed ? "non-negative" : "positive", value));
  return value;
}

// The electrode count under `key`, or the processor's when absent; they must agree.
std::int64_t electrode_count(const Config& input_data, const std::string& key, std::int64_t device,
                             const char* kind) {
  if (!input_data.has(key)) return device;
  const std::int64_t configured = positive_integer(input_data, key);
  if (configured != device)
    throw ConfigError(input_data.key_path(key),
                      fmt::format("{} {} electrodes configured, but the processor has {}", configured,
                                  kind, device));
  return configured;
}

std::string phase_stream(std::int64_t group) { return "smg.phase." + std::to_string(group); }

// A fresh seed for a run without one (recorded in the resolved config); no global RNG is
// touched here.
std::uint64_t draw_seed() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

}  // namespace

SamplingOptions SamplingOptions::from_config(const Config& configs,
                                             const processors::ProcessorImpl& processor,
                                             std::optional<std::uint64_t> seed) {
  configs.warn_unknown_keys({"data_name", "save_directory", "seed", "plot_interval", "processor_type",
                             "model_dir", "electrode_effects", "driver", "input_data",
                             "setup_insights"});
  SamplingOptions o;
  o.data_name = configs.get<std::string>("data_name", o.data_name);
  if (o.data_name.empty() || o.data_name.find('/') != std::string::npos)
    throw ConfigError(configs.key_path("data_name"), "expected a folder name without '/', got '" + o.data_name + "'");
  o.save_directory = configs.get<std::string>("save_directory", o.save_directory.string());
  o.seed = seed ? *seed : configs.has("seed") ? configs.get<std::uint64_t>("seed") : draw_seed();
  o.plot_interval = configs.get<std::int64_t>("plot_interval", o.plot_interval);
  if (o.plot_interval < 0)
    throw ConfigError(configs.key_path("plot_interval"), "expected an integer >= 0 (0: no plots), got " +
                                                             std::to_string(o.plot_interval));
  o.processor_type = processor.processor_type();

  const Config setup = configs.at("driver").at("instruments_setup");
  o.sampling_frequency_hz = positive_number(setup, "activation_sampling_frequency", false);
  if (setup.has("average_io_point_difference") && !setup.get<bool>("average_io_point_difference"))
    throw ConfigError(setup.key_path("average_io_point_difference"),
                      "surrogate-model sampling needs one readout value per written sample: set it to true");

  const Config input = configs.at("input_data");
  input.warn_unknown_keys({"input_distribution", "activation_electrode_no", "readout_electrode_no",
                           "input_frequency", "factor", "phase", "random_phase_shift_each",
                           "randomise_phase_each", "amplitude", "offset", "batch_time", "ramp_time",
                           "number_batches", "sampling_frequency", "batch_points", "ramp_points"});
  o.shape = wave_shape_from_name(input.get<std::string>("input_distribution"),
                                 input.key_path("input_distribution"));
  o.activation_electrode_no = electrode_count(input, "activation_electrode_no",
                                              processor.activation_electrode_count(), "activation");
  o.readout_electrode_no = electrode_count(input, "readout_electrode_no",
                                           processor.readout_electrode_count(), "readout");
  const std::int64_t d = o.activation_electrode_no;

  // Frequencies: one per electrode; extra entries are ignored, as upstream slices the list.
  std::vector<double> q = kDefaultInputFrequency;
  if (input.has("input_frequency")) {
    q = input.get<std::vector<double>>("input_frequency");
  } else if (d > static_cast<std::int64_t>(q.size())) {
    throw ConfigError(input.key_path("input_frequency"),
                      fmt::format("missing: the default lists 7 values, the device has {} activation electrodes", d));
  }
  if (static_cast<std::int64_t>(q.size()) < d)
    throw ConfigError(input.key_path("input_frequency"),
                      fmt::format("{} frequencies for {} activation electrodes: give one per electrode",
                                  q.size(), d));
  q.resize(static_cast<std::size_t>(d));
  for (const double v : q)
    if (!(v > 0) || !std::isfinite(v))
      throw ConfigError(input.key_path("input_frequency"), fmt::format("expected positive numbers, got {}", v));
  o.input_frequency = q;
  o.factor = input.has("factor") ? positive_number(input, "factor", false) : o.factor;
  o.frequencies_hz = input_frequencies(q, o.factor, o.sampling_frequency_hz);

  // Amplitude and offset: both given, or from the configured ranges, or from the processor.
  const bool has_amplitude = input.has("amplitude"), has_offset = input.has("offset");
  std::string span_key;
  if (has_amplitude != has_offset) {
    throw ConfigError(input.key_path(has_amplitude ? "offset" : "amplitude"),
                      std::string("missing: give both amplitude and offset, or neither (then they "
                                  "follow from driver.instruments_setup.activation_voltage_ranges)"));
  } else if (has_amplitude) {
    o.amplitude_v = doubles(numbers(input.at("amplitude"), d, "one per activation electrode"));
    o.offset_v = doubles(numbers(input.at("offset"), d, "one per activation electrode"));
    if ((o.amplitude_v < 0).any().item<bool>())
      throw ConfigError(input.key_path("amplitude"), "expected non-negative amplitudes");
    span_key = input.key_path("amplitude");
  } else if (setup.has("activation_voltage_ranges")) {
    const Config ranges = setup.at("activation_voltage_ranges");
    const auto rows = ranges.as<std::vector<std::vector<double>>>();
    if (static_cast<std::int64_t>(rows.size()) != d)
      throw ConfigError(ranges.key_path(), fmt::format("{} voltage ranges for {} activation electrodes: give one [min, max] per electrode",
                                                       rows.size(), d));
    std::vector<double> flat;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].size() != 2 || !std::isfinite(rows[i][0]) || !std::isfinite(rows[i][1]) ||
          rows[i][0] > rows[i][1])
        throw ConfigError(ranges.key_path() + "." + std::to_string(i), "expected [min, max] with min <= max");
      flat.insert(flat.end(), rows[i].begin(), rows[i].end());
    }
    std::tie(o.amplitude_v, o.offset_v) = amplitude_and_offset(doubles(flat).view({d, 2}));
    span_key = ranges.key_path();
  } else {
    std::tie(o.amplitude_v, o.offset_v) = amplitude_and_offset(processor.voltage_ranges());
    span_key = input.key_path("amplitude");
  }
  // The signal must stay within what the processor accepts (its safety check would refuse
  // the first batch anyway; this says why before anything is created).
  {
    const at::Tensor device = processor.voltage_ranges().to(at::kCPU, at::kDouble);
    const at::Tensor low = o.offset_v - o.amplitude_v, high = o.offset_v + o.amplitude_v;
    constexpr double tolerance = 1e-6;
    for (std::int64_t i = 0; i < d; ++i) {
      const double lo = low[i].item<double>(), hi = high[i].item<double>();
      const double min = device[i][0].item<double>(), max = device[i][1].item<double>();
      if (lo < min - tolerance || hi > max + tolerance)
        throw ConfigError(span_key, fmt::format("electrode {} would span [{:.6g}, {:.6g}] V, outside the "
                                                "processor's range [{:.6g}, {:.6g}] V",
                                                i, lo, hi, min, max));
    }
  }

  // Phases of group 0, and how often they are redrawn.
  if (!input.has("phase")) {
    o.first_phase = at::zeros({d}, at::kDouble);
  } else if (input.at("phase").node().IsScalar() && input.get<std::string>("phase") == "random") {
    auto rng = make_rng(o.seed, phase_stream(0));
    o.first_phase = random_phase(rng, d);
  } else {
    o.first_phase = doubles(numbers(input.at("phase"), d, "one phase in rad per activation electrode, or 'random'"));
  }
  std::string shift_key = "random_phase_shift_each";
  if (!input.has(shift_key) && input.has("randomise_phase_each")) shift_key = "randomise_phase_each";
  o.random_phase_shift_each = input.get<std::int64_t>(shift_key, 0);
  if (o.random_phase_shift_each < 0)
    throw ConfigError(input.key_path(shift_key), "expected an integer >= 0 (0: never), got " +
                                                     std::to_string(o.random_phase_shift_each));

  o.batch_time_s = positive_number(input, "batch_time", false);
  o.ramp_time_s = positive_number(input, "ramp_time", true);
  o.batch_points = whole_sample_count(o.batch_time_s, o.sampling_frequency_hz, input.key_path("batch_time"));
  o.ramp_points = whole_sample_count(o.ramp_time_s, o.sampling_frequency_hz, input.key_path("ramp_time"));
  if (o.batch_points < 1)
    throw ConfigError(input.key_path("batch_time"), "a batch must hold at least one sample");
  if (o.ramp_points < 1 && processor.is_hardware())
    throw ConfigError(input.key_path("ramp_time"),
                      "a hardware waveform must start and end at 0 V: ramp_time must give at least one sample");
  o.number_batches = positive_integer(input, "number_batches");
  return o;
}

void SamplingOptions::check_batch(std::int64_t batch) const {
  if (batch < 0 || batch >= number_batches)
    throw ArgumentError(fmt::format("batch {} out of range: the gathering has {} batches", batch, number_batches));
}

at::Tensor SamplingOptions::batch_phase(std::int64_t batch) const {
  check_batch(batch);
  const std::int64_t group = random_phase_shift_each > 0 ? batch / random_phase_shift_each : 0;
  if (group == 0) return first_phase;
  auto rng = make_rng(seed, phase_stream(group));
  return random_phase(rng, activation_electrode_no);
}

at::Tensor SamplingOptions::batch_times(std::int64_t batch) const {
  check_batch(batch);
  // numpy: arange(total) / fs, sliced; the same integers divided by the same fs.
  return at::arange(batch * batch_points, (batch + 1) * batch_points, at::kLong).to(at::kDouble) /
         sampling_frequency_hz;
}

at::Tensor SamplingOptions::batch_inputs(std::int64_t batch) const {
  return input_wave(shape, batch_times(batch), frequencies_hz, batch_phase(batch), amplitude_v, offset_v)
      .t()
      .contiguous();
}

YAML::Node SamplingOptions::resolved_config(const Config& configs) const {
  YAML::Node root = YAML::Clone(configs.node());
  root["data_name"] = data_name;
  root["save_directory"] = save_directory.string();
  root["seed"] = seed;
  root["plot_interval"] = plot_interval;
  root["processor_type"] = processor_type;
  YAML::Node input = root["input_data"];
  input["input_distribution"] = wave_shape_name(shape);
  input["activation_electrode_no"] = activation_electrode_no;
  input["readout_electrode_no"] = readout_electrode_no;
  if (!input["input_frequency"]) input["input_frequency"] = input_frequency;
  input["factor"] = factor;
  input["amplitude"] = values_of(amplitude_v);
  input["offset"] = values_of(offset_v);
  input["phase"] = values_of(first_phase);
  input["random_phase_shift_each"] = random_phase_shift_each;
  input.remove("randomise_phase_each");
  input["sampling_frequency"] = sampling_frequency_hz;
  input["batch_points"] = batch_points;
  input["ramp_points"] = ramp_points;
  return root;
}

}  // namespace brains::smg
