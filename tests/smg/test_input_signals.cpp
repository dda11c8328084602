// Input signals of the sampler: parity with brainspy-smg's generators (smg_waves), the
// reference values of spec §5.3, ramps, phases and sample counts.
#include "brains/smg/input_signals.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <string>
#include <vector>

#include "brains/core/error.h"
#include "brains/io/npz.h"
#include "support/temp_dir.h"

namespace brains::smg {
namespace {

using ::testing::HasSubstr;

constexpr double kPi = 3.141592653589793;

at::Tensor doubles(const std::vector<double>& values) {
  return at::tensor(values, at::kDouble);
}

// |Δ| ≤ 1e-5·max(1, |y|) (DESIGN.md's parity tolerance); returns the worst excess.
double worst_excess(const at::Tensor& actual, const at::Tensor& expected) {
  const at::Tensor tolerance = 1e-5 * at::clamp_min(expected.abs(), 1.0);
  return ((actual - expected).abs() - tolerance).max().item<double>();
}

class SmgWavesParity : public ::testing::TestWithParam<int> {
 protected:
  std::filesystem::path seed_dir() const {
    return testing::reference_dir() / "parity" / ("seed" + std::to_string(GetParam()));
  }
  YAML::Node parity_case() const {
    const YAML::Node cases = YAML::LoadFile((seed_dir() / "cases.json").string());
    for (const auto& c : cases)
      if (c["case"].as<std::string>() == "smg_waves") return c;
    ADD_FAILURE() << "no smg_waves case in " << seed_dir();
    return {};
  }
};

TEST_P(SmgWavesParity, SineAndTriangleMatchBrainspySmg) {
  const YAML::Node c = parity_case();
  const io::NpzFile npz = io::read_npz(seed_dir() / "smg_waves.npz");
  const at::Tensor f = input_frequencies(c["primes"].as<std::vector<double>>(),
                                         c["frequency_factor"].as<double>(),
                                         c["sampling_frequency"].as<double>());
  const at::Tensor t = npz.tensor("t");
  const at::Tensor amplitude = npz.tensor("amplitude").reshape({-1});
  const at::Tensor offset = npz.tensor("offset").reshape({-1});
  const at::Tensor phase = npz.tensor("phase").reshape({-1});
  const at::Tensor sine = sine_wave(t, f, phase, amplitude, offset);
  const at::Tensor triangle = triangle_wave(t, f, phase, amplitude, offset);
  ASSERT_EQ(sine.sizes(), npz.tensor("sine").sizes());
  ASSERT_EQ(triangle.sizes(), npz.tensor("triangle").sizes());
  EXPECT_LE(worst_excess(sine, npz.tensor("sine")), 0.0);
  EXPECT_LE(worst_excess(triangle, npz.tensor("triangle")), 0.0);
  // The same operations in the same order: a few ulps at most (sin implementations differ).
  EXPECT_LT((sine - npz.tensor("sine")).abs().max().item<double>(), 1e-14);
  EXPECT_LT((triangle - npz.tensor("triangle")).abs().max().item<double>(), 1e-14);
  EXPECT_EQ(wave_shape_from_name("sawtooth", "k"), WaveShape::triangle);
  EXPECT_TRUE(at::equal(input_wave(WaveShape::triangle, t, f, phase, amplitude, offset), triangle));
}

INSTANTIATE_TEST_SUITE_P(Seeds, SmgWavesParity, ::testing::Values(1, 2, 3));

TEST(InputFrequencies, AreSqrtPrimeTimesFactorTimesFs) {
  // Spec §2.1: fs = 100 gives 0.1414213562, 0.1732050808, ... Hz.
  const at::Tensor f = input_frequencies({2, 3, 5, 7, 13, 17, 19}, 0.001, 100);
  const std::vector<double> expected{0.1414213562, 0.1732050808, 0.2236067977, 0.2645751311,
                                     0.3605551275, 0.4123105626, 0.4358898944};
  for (std::size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(f[i].item<double>(), expected[i], 1e-10);
  EXPECT_DOUBLE_EQ(input_frequencies({2}, 0.01, 100)[0].item<double>(), std::sqrt(2.0));
}

TEST(InputWaves, SpecReferenceValues) {
  // Spec §5.3: sine_wave(arange(100), 0.1, 5, 0.1, 10) and sawtooth_wave(...).
  const at::Tensor t = at::arange(100, at::kDouble);
  const auto one = [](double v) { return doubles({v}); };
  const at::Tensor s = sine_wave(t, one(0.1), one(5), one(0.1), one(10));
  ASSERT_EQ(s.sizes(), (std::vector<std::int64_t>{1, 100}));
  EXPECT_NEAR(s[0][0].item<double>(), 9.904107572533686, 1e-13);
  EXPECT_NEAR(s[0][1].item<double>(), 9.93909464147272, 1e-13);
  EXPECT_NEAR(s[0][3].item<double>(), 10.056610266710091, 1e-13);
  EXPECT_NEAR(s[0][99].item<double>(), 9.905748151623051, 1e-13);
  const at::Tensor w = triangle_wave(t, one(0.1), one(5), one(0.1), one(10));
  EXPECT_NEAR(w[0][0].item<double>(), 9.91830988618379, 1e-13);
  EXPECT_NEAR(w[0][2].item<double>(), 9.99830988618379, 1e-13);
  EXPECT_NEAR(w[0][99].item<double>(), 9.92169011381621, 1e-13);
  // Frequency 60 at integer times: every sample a whole number of periods, ≈ 0.
  EXPECT_LT(triangle_wave(t, one(60), one(0), one(5), one(0)).abs().max().item<double>(), 3e-11);
}

TEST(InputWaves, TriangleIsArcsinOfSineAndSpansTheRange) {
  const at::Tensor t = at::arange(5000, at::kDouble) / 1000.0;
  const at::Tensor f = input_frequencies({2, 3, 5}, 0.001, 1000);
  const at::Tensor phase = doubles({0.3, -2.0, 5.0});
  const at::Tensor amplitude = doubles({0.5, 1.0, 0.25});
  const at::Tensor offset = doubles({0.1, -0.2, 0.0});
  const at::Tensor w = triangle_wave(t, f, phase, amplitude, offset);
  const at::Tensor theta = 2 * kPi * f.unsqueeze(1) * t.unsqueeze(0) + phase.unsqueeze(1);
  const at::Tensor expected =
      amplitude.unsqueeze(1) * (2 / kPi) * at::asin(at::sin(theta)) + offset.unsqueeze(1);
  EXPECT_LT((w - expected).abs().max().item<double>(), 1e-12);
  EXPECT_LE((w - offset.unsqueeze(1)).abs().max().item<double>(), 1.0 + 1e-12);
}

TEST(AmplitudeAndOffset, FromVoltageRanges) {
  // Spec §5.3, the test_inputs ranges.
  const at::Tensor ranges = doubles({-0.55, 0.325, -0.95, 0.55, -1, 0.6}).view({3, 2});
  const auto [amplitude, offset] = amplitude_and_offset(ranges);
  EXPECT_NEAR(amplitude[0].item<double>(), 0.4375, 1e-15);
  EXPECT_NEAR(amplitude[1].item<double>(), 0.75, 1e-15);
  EXPECT_NEAR(amplitude[2].item<double>(), 0.8, 1e-15);
  EXPECT_NEAR(offset[0].item<double>(), -0.1125, 1e-15);
  EXPECT_NEAR(offset[1].item<double>(), -0.2, 1e-15);
  EXPECT_NEAR(offset[2].item<double>(), -0.2, 1e-15);
}

TEST(RampedWaveform, RisesFromAndFallsBackToZero) {
  const at::Tensor batch = doubles({0.5, -1.0, 0.7, -0.9, 0.3, 0.2}).view({3, 2});
  const at::Tensor w = ramped_waveform(batch, 5);
  ASSERT_EQ(w.sizes(), (std::vector<std::int64_t>{13, 2}));
  // linspace(0, 0.5, 5) = 0, 0.125, 0.25, 0.375, 0.5 and linspace(0.3, 0, 5).
  const std::vector<double> up{0, 0.125, 0.25, 0.375, 0.5};
  const std::vector<double> down{0.3, 0.225, 0.15, 0.075, 0};
  for (int i = 0; i < 5; ++i) {
    EXPECT_DOUBLE_EQ(w[i][0].item<double>(), up[i]);
    EXPECT_NEAR(w[8 + i][0].item<double>(), down[i], 1e-15);
  }
  EXPECT_TRUE(at::equal(w.narrow(0, 5, 3), batch));
  EXPECT_EQ(w[0][1].item<double>(), 0.0);
  EXPECT_EQ(w[4][1].item<double>(), -1.0);  // column R−1 is the first sample
  EXPECT_EQ(w[8][1].item<double>(), 0.2);   // column R+B is the last sample
  EXPECT_EQ(w[12][1].item<double>(), 0.0);
  EXPECT_TRUE(at::equal(ramped_waveform(batch, 0), batch));
  EXPECT_EQ(ramped_waveform(batch, 1)[0][0].item<double>(), 0.0);
  EXPECT_THROW(ramped_waveform(batch, -1), ArgumentError);
}

TEST(RandomPhase, UniformInPlusMinusTwoPiAndDeterministic) {
  std::mt19937_64 a(42), b(42);
  const at::Tensor p = random_phase(a, 10000);
  EXPECT_TRUE(at::equal(p, random_phase(b, 10000)));
  EXPECT_GE(p.min().item<double>(), -2 * kPi);
  EXPECT_LT(p.max().item<double>(), 2 * kPi);
  EXPECT_NEAR(p.mean().item<double>(), 0.0, 0.1);
  // Uniform on a width of 4π: standard deviation 4π/√12.
  EXPECT_NEAR(p.std().item<double>(), 4 * kPi / std::sqrt(12.0), 0.05);
}

TEST(WholeSampleCount, AcceptsWholeProductsAndNamesTheKeyOtherwise) {
  EXPECT_EQ(whole_sample_count(0.5, 5000, "k"), 2500);
  EXPECT_EQ(whole_sample_count(0.29, 100, "k"), 29);  // 28.999999999999996 in floating point
  EXPECT_EQ(whole_sample_count(0, 100, "k"), 0);
  try {
    whole_sample_count(0.0625, 1000, "input_data.batch_time");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "input_data.batch_time");
    EXPECT_THAT(e.what(), HasSubstr("0.0625 s × 1000 Hz = 62.5 samples, not a whole number"));
  }
  EXPECT_THROW(whole_sample_count(-1, 100, "k"), ConfigError);
}

TEST(WaveShape, NamesAndUnknownName) {
  EXPECT_EQ(wave_shape_from_name("sine", "k"), WaveShape::sine);
  EXPECT_EQ(wave_shape_from_name("triangle", "k"), WaveShape::triangle);
  EXPECT_EQ(wave_shape_name(WaveShape::triangle), "sawtooth");
  try {
    wave_shape_from_name("asdf", "input_data.input_distribution");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("input_data.input_distribution: unknown input distribution 'asdf'"));
  }
}

}  // namespace
}  // namespace brains::smg
