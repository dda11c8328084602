// Experiments on the simulated device (`brains kmc`): IV sweeps, current maps, hop rate.
#include "brains/physics/experiments.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "brains/core/error.h"
#include "brains/io/npz.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace brains::physics {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const HoppingModel> small_model() {
  static const auto model = HoppingModel::create(DeviceParameters::preset("small"));
  return model;
}

KmcOptions quick_options() {
  KmcOptions options;
  options.warmup_hops = 5000;
  options.blocks = 10;
  return options;
}

TEST(Experiments, LinearRangeIncludesBothEnds) {
  EXPECT_EQ(linear_range(-1, 1, 5), (std::vector<double>{-1, -0.5, 0, 0.5, 1}));
  EXPECT_EQ(linear_range(0.3, 0.7, 1), (std::vector<double>{0.3}));
  EXPECT_THROW(linear_range(0, 1, 0), ArgumentError);
}

TEST(Experiments, IvSweepCurrentVanishesAtZeroBiasFollowsTheVoltageAndIsConserved) {
  const auto model = small_model();
  const auto sweep = iv_sweep(model, 0, linear_range(-0.6, 0.6, 5), {}, 40000, 7, 2, quick_options());
  ASSERT_EQ(sweep.measurements.size(), 5u);
  const int readout = 7;
  // All electrodes at 0 V: no current beyond its error.
  const Measurement& zero = sweep.measurements[2];
  EXPECT_LT(std::abs(zero.current_na[readout]), 4 * zero.current_error_na[readout] + 1e-3);
  // Driving electrode 0 positive pushes holes into the grounded readout, negative pulls them.
  EXPECT_GT(sweep.measurements[4].current_na[readout], 0.0);
  EXPECT_LT(sweep.measurements[0].current_na[readout], 0.0);
  EXPECT_GT(sweep.measurements[4].current_na[readout], sweep.measurements[3].current_na[readout]);
  // What enters the device leaves it: Σ_k I_k ≈ 0.
  for (const auto& m : sweep.measurements) {
    double sum = 0, error = 0, scale = 0;
    for (std::size_t k = 0; k < m.current_na.size(); ++k) {
      sum += m.current_na[k];
      error += m.current_error_na[k] * m.current_error_na[k];
      scale = std::max(scale, std::abs(m.current_na[k]));
    }
    EXPECT_LT(std::abs(sum), 4 * std::sqrt(error) + 1e-3 * scale);
  }
}

TEST(Experiments, SweepsAndMapsAreBitIdenticalForAnyThreadCount) {
  const auto model = small_model();
  const auto voltages = linear_range(-1, 1, 6);
  const auto one = iv_sweep(model, 3, voltages, {}, 3000, 9, 1, quick_options());
  const auto two = iv_sweep(model, 3, voltages, {}, 3000, 9, 2, quick_options());
  for (std::size_t i = 0; i < voltages.size(); ++i)
    EXPECT_EQ(std::memcmp(one.measurements[i].current_na.data(), two.measurements[i].current_na.data(),
                          one.measurements[i].current_na.size() * sizeof(double)),
              0);
  const auto map1 = current_map(model, 0, linear_range(-1, 1, 3), 1, linear_range(-1, 1, 2), {}, 2000, 4, 1,
                                quick_options());
  const auto map2 = current_map(model, 0, linear_range(-1, 1, 3), 1, linear_range(-1, 1, 2), {}, 2000, 4, 2,
                                quick_options());
  ASSERT_EQ(map1.measurements.size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(map1.measurements[i].current_na, map2.measurements[i].current_na);
}

TEST(Experiments, CurrentMapIsRowMajorOverTheGrid) {
  const auto model = small_model();
  const std::vector<double> base{0, 0, 0, 0, 0, 0, 0.2, 0};
  const auto map = current_map(model, 0, linear_range(-1, 1, 3), 2, linear_range(-0.5, 0.5, 2), base, 20000, 5, 2,
                               quick_options());
  ASSERT_EQ(map.measurements.size(), 6u);
  // The readout current grows with V0 along every row.
  for (std::size_t iy = 0; iy < 2; ++iy) EXPECT_LT(map.at(iy, 0).current_na[7], map.at(iy, 2).current_na[7]);
  EXPECT_THROW(current_map(model, 0, {0.0}, 0, {0.0}, {}, 10, 1, 1, quick_options()), ArgumentError);
  EXPECT_THROW(iv_sweep(model, 8, {0.0}, {}, 10, 1, 1, quick_options()), ArgumentError);
  EXPECT_THROW(iv_sweep(model, 0, {0.0}, {0, 0}, 10, 1, 1, quick_options()), ArgumentError);
}

TEST(Experiments, OptionsFromConfigNameBadKeys) {
  const auto iv = IvSweepOptions::from_config(Config::parse("electrodes: [1, 5]\nrange: [-0.5, 0.8]\npoints: 11\n"), 8);
  EXPECT_EQ(iv.electrodes, (std::vector<int>{1, 5}));
  EXPECT_EQ(iv.points, 11);
  EXPECT_DOUBLE_EQ(iv.max_v, 0.8);
  const auto map = CurrentMapOptions::from_config(Config::parse("electrodes: [2, 3]\npoints: [5, 7]\nx_range: [0, 1]\n"), 8);
  EXPECT_EQ(map.points_x, 5);
  EXPECT_EQ(map.points_y, 7);
  EXPECT_EQ(map.readout, 7);
  EXPECT_EQ(map.x_range, (std::pair<double, double>{0, 1}));
  EXPECT_EQ(map.y_range, (std::pair<double, double>{-1, 1}));

  const auto key_of = [](const std::string& yaml, bool is_map) {
    try {
      if (is_map)
        CurrentMapOptions::from_config(Config::parse(yaml), 8);
      else
        IvSweepOptions::from_config(Config::parse(yaml), 8);
    } catch (const ConfigError& e) {
      return e.key_path();
    }
    return std::string("no error");
  };
  EXPECT_EQ(key_of("electrode: 8\n", false), "electrode");
  EXPECT_EQ(key_of("electrodes: [0, 9]\n", false), "electrodes[1]");
  EXPECT_EQ(key_of("range: [1, -1]\n", false), "range");
  EXPECT_EQ(key_of("points: 1\n", false), "points");
  EXPECT_EQ(key_of("hops: 0\n", false), "hops");
  EXPECT_EQ(key_of("electrodes: [2, 2]\n", true), "electrodes");
  EXPECT_EQ(key_of("electrodes: [0, 1]\nreadout: 1\n", true), "readout");
}

TEST(Experiments, HopRateIsMeasuredOnOneThread) {
  const auto rate = measure_hop_rate(small_model(), 20000);
  EXPECT_EQ(rate.hops, 20000);
  EXPECT_GT(rate.seconds, 0.0);
  EXPECT_NEAR(rate.hops_per_s, 20000 / rate.seconds, 1e-6 * rate.hops_per_s);
}

TEST(Experiments, KmcCommandWritesSweepsAndMaps) {
  testing::TempDir dir;
  const auto config = dir.write("kmc.yaml",
                                "device: {preset: small}\n"
                                "kmc: {hops_per_sample: 4000, warmup_hops: 2000, blocks: 4}\n"
                                "seed: 3\n"
                                "iv: {electrodes: [0, 4], range: [-1, 1], points: 5}\n"
                                "map: {electrodes: [0, 1], range: [-1, 1], points: [3, 2], readout: 7}\n");
  const auto result =
      testing::run_brains("kmc --config '" + config.string() + "' --out '" + (dir / "out").string() + "' --quiet");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("IV sweep of electrode 4"));
  EXPECT_THAT(result.out, HasSubstr("current map over electrodes 0 and 1"));
  std::filesystem::path run;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "out")) run = entry.path();
  const auto sweeps = io::read_npz(run / "iv_sweeps.npz");
  EXPECT_EQ(sweeps.tensor("currents").sizes(), (at::IntArrayRef{2, 5, 8}));
  EXPECT_EQ(sweeps.tensor("voltages").sizes(), (at::IntArrayRef{2, 5}));
  const auto map = io::read_npz(run / "current_map.npz");
  EXPECT_EQ(map.tensor("currents").sizes(), (at::IntArrayRef{2, 3, 8}));
  EXPECT_TRUE(std::filesystem::exists(run / "current_map_grid.csv"));
  EXPECT_TRUE(std::filesystem::exists(run / "iv_sweeps.csv"));

  const auto bad = dir.write("bad.yaml", "device: {preset: small, temperature_k: -1}\niv: {}\n");
  const auto refused = testing::run_brains("kmc --config '" + bad.string() + "' --out '" + (dir / "o2").string() + "'");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("device.temperature_k"));
}

TEST(Experiments, KmcBenchPrintsHopsAndSamplesPerSecond) {
  const auto result = testing::run_brains("kmc --bench --bench-hops 20000 --bench-samples 24 --quiet");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("small"));
  EXPECT_THAT(result.out, HasSubstr("default"));
  EXPECT_THAT(result.out, HasSubstr("hops/s"));
  EXPECT_THAT(result.out, HasSubstr("samples/s"));
}

}  // namespace
}  // namespace brains::physics
