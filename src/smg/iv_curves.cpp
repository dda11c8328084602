#include "brains/smg/iv_curves.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "brains/core/error.h"
#include "brains/core/log.h"
#include "brains/io/npz.h"
#include "brains/io/plot.h"

namespace brains::smg {

namespace {

constexpr double kPi = 3.141592653589793;

std::vector<double> to_vector(const at::Tensor& tensor) {
  const at::Tensor flat = tensor.detach().to(at::kCPU, at::kDouble).contiguous().flatten();
  return {flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel()};
}

// The point at arc length s along the path 0 → first → second → 0.
double along_triangle(double s, double first, double second) {
  const double a = std::abs(first), b = std::abs(second - first);
  if (s <= a) return first == 0 ? 0.0 : first * s / a;
  if (s <= a + b) return first + (second - first) * (s - a) / b;
  const double c = std::abs(second);
  const double rest = std::min(c, s - a - b);
  return c == 0 ? 0.0 : second * (1 - rest / c);
}

}  // namespace

std::string to_string(SweepDirection direction) { return direction == SweepDirection::up ? "up" : "down"; }
std::string to_string(SweepSignal signal) { return signal == SweepSignal::triangle ? "triangle" : "sine"; }

at::Tensor sweep_signal(double min_v, double max_v, std::int64_t points, SweepDirection direction,
                        SweepSignal signal) {
  if (!(std::isfinite(min_v) && std::isfinite(max_v) && min_v < max_v))
    throw ArgumentError(fmt::format("cannot build a sweep: expected min < max, got [{}, {}] V", min_v, max_v));
  if (min_v > 0 || max_v < 0)
    throw ArgumentError(fmt::format(
        "cannot build a sweep: the range [{}, {}] V does not contain 0 V, where a sweep starts and ends",
        min_v, max_v));
  if (points < 3) throw ArgumentError(fmt::format("cannot build a sweep of {} points: at least 3 are needed", points));
  const double first = direction == SweepDirection::up ? max_v : min_v;
  const double second = direction == SweepDirection::up ? min_v : max_v;
  at::Tensor out = at::empty({points}, at::kDouble);
  double* v = out.data_ptr<double>();
  const double last = static_cast<double>(points - 1);
  const double path = 2 * (max_v - min_v);
  for (std::int64_t i = 0; i < points; ++i) {
    if (signal == SweepSignal::triangle) {
      v[i] = along_triangle(path * static_cast<double>(i) / last, first, second);
    } else {
      const double s = std::sin(2 * kPi * static_cast<double>(i) / last);
      // First half towards `first`, second half towards `second`.
      v[i] = s >= 0 ? first * s : -second * s;
    }
  }
  v[0] = 0;
  v[points - 1] = 0;  // exact ends, whatever the rounding of sin(2π)
  return out;
}

IvOptions IvOptions::from_config(const Config& configs) {
  IvOptions o;
  std::string used;
  if (const auto points = configs.find_any({"shape", "points"}, &used)) {
    o.points = points->as<std::int64_t>();
    if (o.points < 3)
      throw ConfigError(configs.key_path(used), "expected at least 3 points per sweep, got " + std::to_string(o.points));
  }
  if (const auto signal = configs.find("input_signal")) {
    signal->warn_unknown_keys({"input_signal_type", "direction", "time_in_seconds"});
    const auto type = signal->get<std::string>("input_signal_type", "triangle");
    if (type == "triangle" || type == "sawtooth")
      o.signal = SweepSignal::triangle;
    else if (type == "sine")
      o.signal = SweepSignal::sine;
    else
      throw ConfigError(signal->key_path("input_signal_type"),
                        "unknown signal '" + type + "' (expected triangle, sawtooth or sine)");
    const auto direction = signal->get<std::string>("direction", "up");
    if (direction == "up")
      o.direction = SweepDirection::up;
    else if (direction == "down")
      o.direction = SweepDirection::down;
    else
      throw ConfigError(signal->key_path("direction"), "expected up or down, got '" + direction + "'");
  }
  if (configs.has("electrodes")) o.electrodes = configs.get<std::vector<std::int64_t>>("electrodes");
  if (configs.has("voltage_ranges")) {
    const auto rows = configs.get<std::vector<std::vector<double>>>("voltage_ranges");
    at::Tensor ranges = at::empty({static_cast<std::int64_t>(rows.size()), 2}, at::kDouble);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].size() != 2)
        throw ConfigError(configs.key_path("voltage_ranges") + "[" + std::to_string(i) + "]",
                          "expected a [min, max] pair");
      ranges[static_cast<std::int64_t>(i)][0] = rows[i][0];
      ranges[static_cast<std::int64_t>(i)][1] = rows[i][1];
    }
    o.voltage_ranges = ranges;
  }
  return o;
}

IvResult measure_iv_curves(processors::ProcessorImpl& processor, const IvOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const std::int64_t e_count = processor.activation_electrode_count();
  const at::Tensor own = processor.voltage_ranges().detach().to(at::kCPU, at::kDouble).reshape({e_count, 2});
  at::Tensor ranges = own;
  if (options.voltage_ranges) {
    ranges = options.voltage_ranges->to(at::kCPU, at::kDouble);
    if (ranges.dim() != 2 || ranges.size(0) != e_count || ranges.size(1) != 2)
      throw ConfigError("voltage_ranges", fmt::format("expected {} [min, max] pairs (one per activation electrode), got {}",
                                                      e_count, ranges.dim() == 2 ? ranges.size(0) : ranges.numel()));
    for (std::int64_t e = 0; e < e_count; ++e) {
      const double low = ranges[e][0].item<double>(), high = ranges[e][1].item<double>();
      if (low < own[e][0].item<double>() - 1e-6 || high > own[e][1].item<double>() + 1e-6)
        throw ConfigError(fmt::format("voltage_ranges[{}]", e),
                          fmt::format("[{}, {}] V reaches outside the processor's range [{}, {}] V", low, high,
                                      own[e][0].item<double>(), own[e][1].item<double>()));
    }
  }
  std::vector<std::int64_t> electrodes = options.electrodes;
  if (electrodes.empty())
    for (std::int64_t e = 0; e < e_count; ++e) electrodes.push_back(e);
  for (std::size_t i = 0; i < electrodes.size(); ++i)
    if (electrodes[i] < 0 || electrodes[i] >= e_count)
      throw ConfigError(fmt::format("electrodes[{}]", i),
                        fmt::format("activation electrode {} does not exist (the processor has {}: 0..{})",
                                    electrodes[i], e_count, e_count - 1));
  for (const std::int64_t e : electrodes) {
    const double low = ranges[e][0].item<double>(), high = ranges[e][1].item<double>();
    if (low > 0 || high < 0 || !(low < high))
      throw ConfigError(fmt::format("voltage_ranges[{}]", e),
                        fmt::format("[{}, {}] V does not contain 0 V, where a sweep starts and ends", low, high));
  }

  IvResult result;
  result.electrodes = electrodes;
  result.voltage_ranges = ranges;
  result.direction = options.direction;
  result.signal = options.signal;
  const auto sweeps = static_cast<std::int64_t>(electrodes.size());
  result.inputs = at::zeros({sweeps, options.points, e_count}, at::kDouble);
  std::vector<at::Tensor> outputs;
  at::NoGradGuard no_grad;
  for (std::int64_t s = 0; s < sweeps; ++s) {
    const std::int64_t e = electrodes[static_cast<std::size_t>(s)];
    const at::Tensor sweep = sweep_signal(ranges[e][0].item<double>(), ranges[e][1].item<double>(),
                                          options.points, options.direction, options.signal);
    result.inputs[s].select(1, e).copy_(sweep);
    // The processor works in float32 (brains-py); the applied values are recorded as sent.
    const at::Tensor x = result.inputs[s].to(at::kFloat);
    result.inputs[s].copy_(x.to(at::kDouble));
    outputs.push_back(processor.forward(x).detach().to(at::kCPU, at::kDouble));
    log::info("IV curve of activation electrode {}: output {:.4g} to {:.4g} nA", e,
              outputs.back().min().item<double>(), outputs.back().max().item<double>());
  }
  result.outputs = at::stack(outputs);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

std::pair<int, int> grid_shape(int panels) {
  if (panels < 1) return {1, 1};
  const int rows = std::max(1, static_cast<int>(std::floor(std::sqrt(static_cast<double>(panels)))));
  return {rows, (panels + rows - 1) / rows};
}

void write_iv_result(const std::filesystem::path& run_dir, const IvResult& result,
                     const std::optional<Config>& config) {
  std::vector<std::int64_t> swept(result.electrodes);
  io::write_npz(run_dir / "iv_curves.npz",
                std::vector<std::pair<std::string, at::Tensor>>{
                    {"inputs", result.inputs},
                    {"outputs", result.outputs},
                    {"electrodes", at::tensor(swept, at::kLong)},
                    {"voltage_ranges", result.voltage_ranges}});

  const std::int64_t n_out = result.outputs.size(2);
  std::vector<io::PlotSpec> panels;
  io::PlotSpec all("input sweeps");
  all.xlabel = "sample";
  all.ylabel = "voltage (V)";
  for (std::size_t s = 0; s < result.electrodes.size(); ++s) {
    const std::int64_t e = result.electrodes[s];
    const auto index = static_cast<std::int64_t>(s);
    io::PlotSpec panel(fmt::format("IV curve, activation electrode {}", e));
    panel.xlabel = fmt::format("electrode {} voltage (V)", e);
    panel.ylabel = "output current (nA)";
    const std::vector<double> x = to_vector(result.inputs[index].select(1, e));
    for (std::int64_t o = 0; o < n_out; ++o)
      panel.add({n_out == 1 ? "output" : fmt::format("output {}", o), x,
                 to_vector(result.outputs[index].select(1, o)), std::nullopt});
    panels.push_back(std::move(panel));
    all.add({fmt::format("electrode {}", e), {}, x, std::nullopt});
  }
  panels.push_back(std::move(all));
  const auto [rows, cols] = grid_shape(static_cast<int>(panels.size()));
  io::plot_grid(run_dir / "iv_curves.png", rows, cols, panels,
                fmt::format("IV curves ({} sweep, direction {})", to_string(result.signal), to_string(result.direction)),
                io::PlotSize{480, 360});

  nlohmann::json summary;
  summary["electrodes"] = result.electrodes;
  summary["points"] = result.inputs.size(1);
  summary["direction"] = to_string(result.direction);
  summary["signal"] = to_string(result.signal);
  summary["seconds"] = result.seconds;
  nlohmann::json per_electrode = nlohmann::json::array();
  for (std::size_t s = 0; s < result.electrodes.size(); ++s) {
    const at::Tensor out = result.outputs[static_cast<std::int64_t>(s)];
    per_electrode.push_back({{"electrode", result.electrodes[s]},
                             {"min_na", out.min().item<double>()},
                             {"max_na", out.max().item<double>()}});
  }
  summary["sweeps"] = per_electrode;
  summary["files"] = {"iv_curves.npz", "iv_curves.png", "iv_curves.csv"};
  std::ofstream(run_dir / "summary.json") << summary.dump(2) << "\n";
  if (config) config->save(run_dir / "config.yaml");
}

}  // namespace brains::smg
