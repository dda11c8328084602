#include "brains/physics/experiments.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <string>

#include "brains/core/error.h"
#include "brains/io/npz.h"
#include "brains/io/plot.h"
#include "brains/physics/random.h"

namespace brains::physics {

namespace {

void check_electrode(const HoppingModel& model, int electrode, const char* what) {
  if (electrode < 0 || electrode >= model.electrode_count())
    throw ArgumentError(std::string("cannot run ") + what + ": electrode " + std::to_string(electrode) +
                        " does not exist (the device has " + std::to_string(model.electrode_count()) +
                        ")");
}

std::vector<double> base_voltages(const HoppingModel& model, std::vector<double> base_v, const char* what) {
  if (base_v.empty()) base_v.assign(model.electrode_count(), 0.0);
  if (static_cast<int>(base_v.size()) != model.electrode_count())
    throw ArgumentError(std::string("cannot run ") + what + ": expected " +
                        std::to_string(model.electrode_count()) + " base voltages, got " +
                        std::to_string(base_v.size()));
  return base_v;
}

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

std::pair<double, double> range_from(const Config& section, const std::string& key,
                                     std::pair<double, double> fallback) {
  if (!section.has(key)) return fallback;
  const auto pair = section.get<std::vector<double>>(key);
  if (pair.size() != 2 || !std::isfinite(pair[0]) || !std::isfinite(pair[1]) || !(pair[0] < pair[1]))
    throw ConfigError(section.key_path(key), "expected [min, max] volts with min < max");
  return {pair[0], pair[1]};
}

int electrode_from(const Config& value, int electrode_count) {
  const int e = value.as<int>();
  if (e < 0 || e >= electrode_count)
    throw ConfigError(value.key_path(), fmt::format("electrode {} does not exist (the device has {}: 0..{})", e,
                                                    electrode_count, electrode_count - 1));
  return e;
}

std::optional<std::int64_t> hops_from(const Config& section) {
  if (!section.has("hops")) return std::nullopt;
  const auto hops = section.get<std::int64_t>("hops");
  if (hops < 1) throw ConfigError(section.key_path("hops"), "expected a positive number of hops, got " + std::to_string(hops));
  return hops;
}

std::int64_t points_from(const Config& value) {
  const auto points = value.as<std::int64_t>();
  if (points < 2 || points > 100000)
    throw ConfigError(value.key_path(), "expected 2 to 100000 points, got " + std::to_string(points));
  return points;
}

std::vector<double> column(const std::vector<Measurement>& measurements, int electrode, bool errors = false) {
  std::vector<double> out;
  for (const auto& m : measurements)
    out.push_back((errors ? m.current_error_na : m.current_na)[static_cast<std::size_t>(electrode)]);
  return out;
}

// (rows, P) currents or errors of a list of measurements.
at::Tensor currents_tensor(const std::vector<Measurement>& measurements, int electrodes, bool errors) {
  at::Tensor out = at::empty({static_cast<std::int64_t>(measurements.size()), electrodes}, at::kDouble);
  for (std::size_t i = 0; i < measurements.size(); ++i)
    for (int k = 0; k < electrodes; ++k)
      out[static_cast<std::int64_t>(i)][k] =
          (errors ? measurements[i].current_error_na : measurements[i].current_na)[static_cast<std::size_t>(k)];
  return out;
}

}  // namespace

IvSweepOptions IvSweepOptions::from_config(const Config& section, int electrode_count) {
  section.warn_unknown_keys({"electrode", "electrodes", "range", "points", "hops"});
  IvSweepOptions o;
  if (section.has("electrode") && section.has("electrodes"))
    throw ConfigError(section.key_path("electrode"), "give either electrode or electrodes, not both");
  if (section.has("electrode")) o.electrodes = {electrode_from(section.at("electrode"), electrode_count)};
  if (section.has("electrodes")) {
    const Config list = section.at("electrodes");
    if (!list.node().IsSequence() || list.node().size() == 0)
      throw ConfigError(list.key_path(), "expected a non-empty list of electrode indices");
    o.electrodes.clear();
    for (std::size_t i = 0; i < list.node().size(); ++i)
      o.electrodes.push_back(
          electrode_from(Config(list.node()[i], list.key_path() + "[" + std::to_string(i) + "]"), electrode_count));
  }
  std::tie(o.min_v, o.max_v) = range_from(section, "range", {o.min_v, o.max_v});
  if (section.has("points")) o.points = points_from(section.at("points"));
  o.hops = hops_from(section);
  return o;
}

CurrentMapOptions CurrentMapOptions::from_config(const Config& section, int electrode_count) {
  section.warn_unknown_keys({"electrodes", "range", "x_range", "y_range", "points", "readout", "hops"});
  CurrentMapOptions o;
  if (section.has("electrodes")) {
    const Config list = section.at("electrodes");
    if (!list.node().IsSequence() || list.node().size() != 2)
      throw ConfigError(list.key_path(), "expected two electrode indices [x, y]");
    o.electrode_x = electrode_from(Config(list.node()[0], list.key_path() + "[0]"), electrode_count);
    o.electrode_y = electrode_from(Config(list.node()[1], list.key_path() + "[1]"), electrode_count);
    if (o.electrode_x == o.electrode_y)
      throw ConfigError(list.key_path(), "expected two different electrodes");
  }
  o.x_range = o.y_range = range_from(section, "range", o.x_range);
  o.x_range = range_from(section, "x_range", o.x_range);
  o.y_range = range_from(section, "y_range", o.y_range);
  if (section.has("points")) {
    const Config points = section.at("points");
    if (points.node().IsSequence()) {
      if (points.node().size() != 2) throw ConfigError(points.key_path(), "expected one count or [nx, ny]");
      o.points_x = points_from(Config(points.node()[0], points.key_path() + "[0]"));
      o.points_y = points_from(Config(points.node()[1], points.key_path() + "[1]"));
    } else {
      o.points_x = o.points_y = points_from(points);
    }
  }
  o.readout = section.has("readout") ? electrode_from(section.at("readout"), electrode_count) : electrode_count - 1;
  if (o.readout == o.electrode_x || o.readout == o.electrode_y)
    throw ConfigError(section.key_path("readout"), "the readout is one of the swept electrodes");
  o.hops = hops_from(section);
  return o;
}

void write_iv_sweeps(const std::filesystem::path& run_dir, const HoppingModel& model,
                     const std::vector<IvSweep>& sweeps) {
  if (sweeps.empty()) return;
  const int p = model.electrode_count();
  std::vector<at::Tensor> voltages, currents, errors;
  std::vector<std::int64_t> electrodes;
  for (const auto& sweep : sweeps) {
    electrodes.push_back(sweep.electrode);
    voltages.push_back(at::tensor(sweep.voltages_v, at::kDouble));
    currents.push_back(currents_tensor(sweep.measurements, p, false));
    errors.push_back(currents_tensor(sweep.measurements, p, true));
  }
  io::write_npz(run_dir / "iv_sweeps.npz",
                std::vector<std::pair<std::string, at::Tensor>>{{"electrodes", at::tensor(electrodes, at::kLong)},
                                                                {"voltages", at::stack(voltages)},
                                                                {"currents", at::stack(currents)},
                                                                {"errors", at::stack(errors)}});
  std::vector<io::PlotSpec> panels;
  for (const auto& sweep : sweeps) {
    io::PlotSpec panel(fmt::format("sweep of electrode {} ({})", sweep.electrode,
                                   model.layout().electrodes[static_cast<std::size_t>(sweep.electrode)].name));
    panel.xlabel = fmt::format("electrode {} voltage (V)", sweep.electrode);
    panel.ylabel = "current into electrode (nA)";
    for (int k = 0; k < p; ++k)
      if (!model.layout().electrodes[static_cast<std::size_t>(k)].gate_only)
        panel.add({fmt::format("I{}", k), sweep.voltages_v, column(sweep.measurements, k), std::nullopt});
    panels.push_back(std::move(panel));
  }
  if (panels.size() == 1) {
    io::plot(run_dir / "iv_sweeps.png", panels.front());
  } else {
    const int rows = std::max(1, static_cast<int>(std::floor(std::sqrt(static_cast<double>(panels.size())))));
    const int cols = (static_cast<int>(panels.size()) + rows - 1) / rows;
    io::plot_grid(run_dir / "iv_sweeps.png", rows, cols, panels, "IV sweeps", io::PlotSize{480, 360});
  }
}

void write_current_map(const std::filesystem::path& run_dir, const CurrentMap& map, int readout) {
  const auto nx = static_cast<std::int64_t>(map.xs_v.size()), ny = static_cast<std::int64_t>(map.ys_v.size());
  if (map.measurements.empty()) return;
  const int p = static_cast<int>(map.measurements.front().current_na.size());
  if (readout < 0 || readout >= p) throw ArgumentError("cannot write current map: no electrode " + std::to_string(readout));
  io::write_npz(run_dir / "current_map.npz",
                std::vector<std::pair<std::string, at::Tensor>>{
                    {"electrodes", at::tensor(std::vector<std::int64_t>{map.electrode_x, map.electrode_y}, at::kLong)},
                    {"readout", at::tensor(std::vector<std::int64_t>{readout}, at::kLong)},
                    {"xs", at::tensor(map.xs_v, at::kDouble)},
                    {"ys", at::tensor(map.ys_v, at::kDouble)},
                    {"currents", currents_tensor(map.measurements, p, false).view({ny, nx, p})},
                    {"errors", currents_tensor(map.measurements, p, true).view({ny, nx, p})}});
  {
    std::ofstream csv(run_dir / "current_map_grid.csv");
    csv << "v" << map.electrode_x << ",v" << map.electrode_y << ",i" << readout << "_na,error_na\n";
    for (std::int64_t iy = 0; iy < ny; ++iy)
      for (std::int64_t ix = 0; ix < nx; ++ix) {
        const Measurement& m = map.at(static_cast<std::size_t>(iy), static_cast<std::size_t>(ix));
        csv << fmt::format("{},{},{},{}\n", map.xs_v[static_cast<std::size_t>(ix)],
                           map.ys_v[static_cast<std::size_t>(iy)], m.current_na[static_cast<std::size_t>(readout)],
                           m.current_error_na[static_cast<std::size_t>(readout)]);
      }
    if (!csv) throw Error("cannot write " + (run_dir / "current_map_grid.csv").string());
  }
  io::PlotSpec spec(fmt::format("current into electrode {} over electrodes {} and {}", readout, map.electrode_x,
                                map.electrode_y));
  spec.xlabel = fmt::format("electrode {} voltage (V)", map.electrode_x);
  spec.ylabel = fmt::format("I{} (nA)", readout);
  const std::int64_t step = std::max<std::int64_t>(1, (ny + 9) / 10);
  for (std::int64_t iy = 0; iy < ny; iy += step) {
    std::vector<double> y;
    for (std::int64_t ix = 0; ix < nx; ++ix)
      y.push_back(map.at(static_cast<std::size_t>(iy), static_cast<std::size_t>(ix)).current_na[static_cast<std::size_t>(readout)]);
    spec.add({fmt::format("V{} = {:.3g} V", map.electrode_y, map.ys_v[static_cast<std::size_t>(iy)]), map.xs_v, y,
              std::nullopt});
  }
  io::plot(run_dir / "current_map.png", spec);
}

std::vector<double> linear_range(double low, double high, std::int64_t points) {
  if (points < 1) throw ArgumentError("cannot build a voltage range of " + std::to_string(points) + " points");
  std::vector<double> out(static_cast<std::size_t>(points), low);
  for (std::int64_t i = 1; i < points; ++i)
    out[static_cast<std::size_t>(i)] = low + (high - low) * static_cast<double>(i) / static_cast<double>(points - 1);
  return out;
}

IvSweep iv_sweep(std::shared_ptr<const HoppingModel> model, int electrode,
                 const std::vector<double>& voltages_v, std::vector<double> base_v, std::int64_t hops,
                 std::uint64_t seed, int threads, const KmcOptions& options) {
  if (!model) throw ArgumentError("cannot run an IV sweep without a model");
  check_electrode(*model, electrode, "an IV sweep");
  base_v = base_voltages(*model, std::move(base_v), "an IV sweep");
  std::vector<std::vector<double>> sets(voltages_v.size(), base_v);
  for (std::size_t i = 0; i < voltages_v.size(); ++i) sets[i][static_cast<std::size_t>(electrode)] = voltages_v[i];
  IvSweep out;
  out.electrode = electrode;
  out.voltages_v = voltages_v;
  out.measurements = simulate_independent(std::move(model), sets, hops, seed, threads, options);
  return out;
}

CurrentMap current_map(std::shared_ptr<const HoppingModel> model, int electrode_x,
                       const std::vector<double>& xs_v, int electrode_y, const std::vector<double>& ys_v,
                       std::vector<double> base_v, std::int64_t hops, std::uint64_t seed, int threads,
                       const KmcOptions& options) {
  if (!model) throw ArgumentError("cannot run a current map without a model");
  check_electrode(*model, electrode_x, "a current map");
  check_electrode(*model, electrode_y, "a current map");
  if (electrode_x == electrode_y)
    throw ArgumentError("cannot run a current map: both axes are electrode " + std::to_string(electrode_x));
  base_v = base_voltages(*model, std::move(base_v), "a current map");
  std::vector<std::vector<double>> sets;
  sets.reserve(xs_v.size() * ys_v.size());
  for (const double y : ys_v)
    for (const double x : xs_v) {
      auto v = base_v;
      v[static_cast<std::size_t>(electrode_x)] = x;
      v[static_cast<std::size_t>(electrode_y)] = y;
      sets.push_back(std::move(v));
    }
  CurrentMap out;
  out.electrode_x = electrode_x;
  out.electrode_y = electrode_y;
  out.xs_v = xs_v;
  out.ys_v = ys_v;
  out.measurements = simulate_independent(std::move(model), sets, hops, seed, threads, options);
  return out;
}

HopRate measure_hop_rate(std::shared_ptr<const HoppingModel> model, std::int64_t hops, std::uint64_t seed) {
  if (!model) throw ArgumentError("cannot measure the hop rate without a model");
  if (hops < 1) throw ArgumentError("cannot measure the hop rate over " + std::to_string(hops) + " hops");
  Rng rng(seed, "physics.bench.voltages");
  std::vector<double> v(static_cast<std::size_t>(model->electrode_count()), 0.0);
  for (std::size_t k = 0; k + 1 < v.size(); ++k) v[k] = 2 * rng.uniform() - 1;
  KmcOptions options;
  options.blocks = 1;
  KmcSimulation simulation(model, seed, 0, options);
  simulation.simulate(v, 0, hops / 2);
  const double start = thread_cpu_seconds();
  simulation.simulate(v, hops);
  HopRate out;
  out.hops = hops;
  out.seconds = thread_cpu_seconds() - start;
  out.hops_per_s = out.seconds > 0 ? static_cast<double>(hops) / out.seconds : 0.0;
  return out;
}

}  // namespace brains::physics
