// brains kmc: direct simulation of the virtual device — IV sweeps, current maps, --bench.
//
// Config (every section optional):
//   device: {preset: small}              # physics/device_parameters.h
//   kmc: {hops_per_sample: 100000, warmup_hops: 20000, blocks: 10}   # hops per point
//   seed: 1
//   voltages: [0, 0, 0, 0, 0, 0, 0, 0]   # every electrode's voltage when not swept
//   iv: {electrodes: [0], range: [-1, 1], points: 41}
//   map: {electrodes: [0, 1], range: [-1, 1], points: 21, readout: 7}
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <thread>

#include "brains/core/config.h"
#include "brains/core/error.h"
#include "brains/core/log.h"
#include "brains/core/run_directory.h"
#include "brains/core/seed.h"
#include "brains/physics/experiments.h"
#include "brains/processors/virtual_driver.h"
#include "commands.h"

namespace brains::cli {

namespace {

struct KmcFlags {
  bool bench = false;
  std::int64_t bench_hops = 2000000;
  std::int64_t bench_samples = 0;  // 0: 8 chunks per thread
};

int thread_count(const CommonOptions& common) {
  return common.threads > 0 ? common.threads : 0;  // 0: every core
}

void run_bench(const KmcFlags& flags, const CommonOptions& common) {
  std::cout << "KMC speed, one core each (CPU time of the simulating thread):\n";
  for (const char* preset : {"small", "default"}) {
    const auto parameters = physics::DeviceParameters::preset(preset);
    const auto model = physics::HoppingModel::create(parameters);
    const auto rate = physics::measure_hop_rate(model, flags.bench_hops);
    std::cout << fmt::format("  {:<8} ({:3} acceptors)  {:.3g} hops/s  ({} hops in {:.2f} s)\n", preset,
                             parameters.acceptor_count(), rate.hops_per_s, rate.hops, rate.seconds);
  }
  processors::VirtualDriverOptions options;
  options.threads = thread_count(common);
  processors::VirtualDriver driver(options);
  const int threads = options.threads > 0 ? options.threads
                                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::int64_t samples =
      flags.bench_samples > 0 ? flags.bench_samples : 8 * threads * driver.options().chunk_length();
  const double rate = processors::measure_sampling_rate(driver, samples);
  std::cout << fmt::format(
      "virtual driver (default device, {} hops per sample, {} warm-up hops per {}-sample chunk, {} threads):\n"
      "  {:.1f} samples/s ({} random samples)\n",
      driver.options().kmc.hops_per_sample, driver.options().kmc.warmup_hops, driver.options().chunk_length(),
      threads, rate, samples);
}

void run_kmc(const KmcFlags& flags, const CommonOptions& common) {
  apply_common_flags(common);
  if (flags.bench) {
    run_bench(flags, common);
    return;
  }
  if (common.config.empty()) throw ArgumentError("brains kmc needs --config FILE (or --bench)");
  Config configs = Config::load(common.config);
  configs.warn_unknown_keys({"device", "kmc", "seed", "voltages", "iv", "map", "results_dir"});
  const std::uint64_t seed = common.seed ? *common.seed : configs.get<std::uint64_t>("seed", 1);
  configs.set("seed", seed);
  seed_everything(seed);
  const physics::DeviceParameters parameters =
      configs.has("device") ? physics::DeviceParameters::from_config(configs.at("device"))
                            : physics::DeviceParameters::preset("default");
  physics::KmcOptions options;
  if (configs.has("kmc")) options = physics::KmcOptions::from_config(configs.at("kmc"));
  const int electrodes = static_cast<int>(parameters.electrodes.size());
  std::vector<double> base(static_cast<std::size_t>(electrodes), 0.0);
  if (configs.has("voltages")) {
    base = configs.get<std::vector<double>>("voltages");
    if (static_cast<int>(base.size()) != electrodes)
      throw ConfigError(configs.key_path("voltages"),
                        fmt::format("expected {} voltages (one per electrode), got {}", electrodes, base.size()));
  }
  if (!configs.has("iv") && !configs.has("map"))
    throw ConfigError("iv", "nothing to simulate: give an `iv` or a `map` section (or run --bench)");

  const auto model = physics::HoppingModel::create(parameters);
  const auto run_dir = create_run_directory(common.out, "kmc");
  log::FileSink sink(run_dir / "run.log");
  configs.save(run_dir / "config.yaml");
  const int threads = thread_count(common);

  if (configs.has("iv")) {
    const auto iv = physics::IvSweepOptions::from_config(configs.at("iv"), electrodes);
    const auto voltages = physics::linear_range(iv.min_v, iv.max_v, iv.points);
    std::vector<physics::IvSweep> sweeps;
    for (const int e : iv.electrodes) {
      sweeps.push_back(physics::iv_sweep(model, e, voltages, base, iv.hops.value_or(options.hops_per_sample),
                                         seed + static_cast<std::uint64_t>(e), threads, options));
      const auto& first = sweeps.back().measurements.front();
      const auto& last = sweeps.back().measurements.back();
      std::cout << fmt::format("IV sweep of electrode {}: {} points, {} to {} V\n", e, iv.points, iv.min_v, iv.max_v);
      for (int k = 0; k < electrodes; ++k)
        if (!model->layout().electrodes[static_cast<std::size_t>(k)].gate_only)
          std::cout << fmt::format("  I{} {:+9.3f} ± {:.3f} nA at {:+.2f} V,  {:+9.3f} ± {:.3f} nA at {:+.2f} V\n", k,
                                   first.current_na[k], first.current_error_na[k], iv.min_v, last.current_na[k],
                                   last.current_error_na[k], iv.max_v);
    }
    physics::write_iv_sweeps(run_dir, *model, sweeps);
  }
  if (configs.has("map")) {
    const auto m = physics::CurrentMapOptions::from_config(configs.at("map"), electrodes);
    const auto map = physics::current_map(
        model, m.electrode_x, physics::linear_range(m.x_range.first, m.x_range.second, m.points_x), m.electrode_y,
        physics::linear_range(m.y_range.first, m.y_range.second, m.points_y), base,
        m.hops.value_or(options.hops_per_sample), seed + 1000, threads, options);
    double lo = 1e300, hi = -1e300;
    for (const auto& point : map.measurements) {
      lo = std::min(lo, point.current_na[static_cast<std::size_t>(m.readout)]);
      hi = std::max(hi, point.current_na[static_cast<std::size_t>(m.readout)]);
    }
    std::cout << fmt::format("current map over electrodes {} and {} ({} × {} points): I{} from {:.3f} to {:.3f} nA\n",
                             m.electrode_x, m.electrode_y, m.points_x, m.points_y, m.readout, lo, hi);
    physics::write_current_map(run_dir, map, m.readout);
  }
  std::cout << "results: " << run_dir.string() << "\n";
}

}  // namespace

void register_kmc(CLI::App& app, CommonOptions& common) {
  auto flags = std::make_shared<KmcFlags>();
  auto* kmc = app.add_subcommand("kmc", "Simulate the virtual device directly: IV sweeps, current maps, --bench");
  kmc->add_flag("--bench", flags->bench, "print hops/s per core for both presets and the virtual driver's samples/s");
  kmc->add_option("--bench-hops", flags->bench_hops, "hops timed per preset")
      ->check(CLI::Range(std::int64_t{1000}, std::int64_t{1000000000}))
      ->capture_default_str();
  kmc->add_option("--bench-samples", flags->bench_samples, "samples of the driver benchmark (0: 8 chunks per thread)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{10000000}));
  add_common_flags(*kmc, common);
  kmc->callback([flags, &common] { run_kmc(*flags, common); });
}

}  // namespace brains::cli
