// Waveform: brains-py's WaveformManager (spec §11.1), bit-exact in float32.
#include "brains/processors/waveform.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/types.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <vector>

#include "brains/core/config.h"
#include "brains/core/error.h"
#include "brains/io/npz.h"
#include "support/temp_dir.h"

namespace brains::processors {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

at::Tensor column(const std::vector<float>& values) {
  return at::tensor(values, at::kFloat).unsqueeze(1);
}

std::vector<float> floats_of(const at::Tensor& x) {
  const at::Tensor flat = x.to(at::kFloat).contiguous().reshape(-1);
  return std::vector<float>(flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel());
}

std::vector<bool> bools_of(const at::Tensor& mask) {
  const at::Tensor flat = mask.to(at::kBool).contiguous().reshape(-1);
  return std::vector<bool>(flat.data_ptr<bool>(), flat.data_ptr<bool>() + flat.numel());
}

std::vector<bool> mask_from(const std::string& pattern) {
  std::vector<bool> out;
  for (char c : pattern) out.push_back(c == 'T');
  return out;
}

// Same dtype, same shape and the same bits in every element (0.0 and -0.0 differ).
::testing::AssertionResult bitwise_equal(const at::Tensor& actual, const at::Tensor& expected) {
  if (actual.scalar_type() != expected.scalar_type())
    return ::testing::AssertionFailure() << "dtype " << actual.scalar_type() << " != "
                                         << expected.scalar_type();
  if (actual.sizes() != expected.sizes())
    return ::testing::AssertionFailure() << "shape " << actual.sizes()
                                         << " != " << expected.sizes();
  // Compare the bit patterns through an integer view of the same width.
  const auto bits = actual.element_size() == 8 ? at::kLong : at::kInt;
  const at::Tensor a = actual.contiguous().view(bits);
  const at::Tensor b = expected.contiguous().view(bits);
  const at::Tensor differ = (a != b).reshape(-1);
  if (!differ.any().item<bool>()) return ::testing::AssertionSuccess();
  const std::int64_t i = differ.to(at::kByte).argmax().item<std::int64_t>();
  return ::testing::AssertionFailure()
         << differ.sum().item<std::int64_t>() << " element(s) differ; first at flat index " << i
         << ": " << actual.reshape(-1)[i].item<double>() << " vs "
         << expected.reshape(-1)[i].item<double>();
}

Config waveform_config(const std::string& yaml) { return Config::parse(yaml); }

// ---- parity with brains-py (reference/parity/seed*/waveform.npz) --------------------------

class WaveformParity : public ::testing::TestWithParam<int> {
 protected:
  std::filesystem::path seed_dir() const {
    return testing::reference_dir() / "parity" / ("seed" + std::to_string(GetParam()));
  }
  Waveform waveform() const {
    // cases.json is JSON, hence YAML.
    const YAML::Node cases = YAML::LoadFile((seed_dir() / "cases.json").string());
    for (const auto& c : cases)
      if (c["case"].as<std::string>() == "waveform")
        return Waveform(c["plateau_length"].as<std::int64_t>(),
                        c["slope_length"].as<std::int64_t>());
    throw std::runtime_error("no waveform case in " + seed_dir().string());
  }
};

TEST_P(WaveformParity, PointsToWaveformIsBitIdentical) {
  const io::NpzFile npz = io::read_npz(seed_dir() / "waveform.npz");
  const Waveform w = waveform();
  EXPECT_TRUE(bitwise_equal(w.points_to_waveform(npz.tensor("points")), npz.tensor("waveform")));
}

TEST_P(WaveformParity, PointsToPlateausIsBitIdentical) {
  const io::NpzFile npz = io::read_npz(seed_dir() / "waveform.npz");
  EXPECT_TRUE(
      bitwise_equal(waveform().points_to_plateaus(npz.tensor("points")), npz.tensor("plateaus")));
}

TEST_P(WaveformParity, PlateausToWaveformAndMaskAreBitIdentical) {
  const io::NpzFile npz = io::read_npz(seed_dir() / "waveform.npz");
  const auto [wave, mask] = waveform().plateaus_to_waveform(npz.tensor("plateaus"));
  EXPECT_TRUE(bitwise_equal(wave, npz.tensor("plateaus_waveform")));
  EXPECT_EQ(mask.scalar_type(), at::kBool);
  EXPECT_EQ(bools_of(mask), bools_of(npz.tensor("mask")));
}

TEST_P(WaveformParity, WaveformBackToPlateausAndPoints) {
  const io::NpzFile npz = io::read_npz(seed_dir() / "waveform.npz");
  const Waveform w = waveform();
  const at::Tensor wave = npz.tensor("waveform");
  EXPECT_TRUE(bitwise_equal(w.waveform_to_plateaus(wave), npz.tensor("plateaus")));
  // The mean of P identical float32 values can be off by an ulp.
  EXPECT_TRUE(at::allclose(w.waveform_to_points(wave), npz.tensor("points"), 1e-6, 1e-7));
  EXPECT_EQ(bools_of(w.mask(wave.size(0))), bools_of(npz.tensor("mask")));
}

INSTANTIATE_TEST_SUITE_P(Seeds, WaveformParity, ::testing::Values(1, 2, 3),
                         [](const auto& info) { return "seed" + std::to_string(info.param); });

// ---- reference values of spec §11.1 --------------------------------------------------------

TEST(Waveform, TwoPlateausOfTwoWithSlopesOfTwo) {
  const Waveform w(2, 2);
  const auto [wave, mask] = w.plateaus_to_waveform(column({1, 1, 3, 3}));
  ASSERT_EQ(wave.sizes(), (at::IntArrayRef{10, 1}));
  EXPECT_EQ(wave.scalar_type(), at::kFloat);
  // 5/3 and 7/3 are numpy's float32 k·step + start, not the nearest float32 to 5/3 and 7/3.
  EXPECT_THAT(floats_of(wave), ElementsAre(0.0f, 0.5f, 1.0f, 1.0f, 1.6666667461395264f,
                                           2.3333334922790527f, 3.0f, 3.0f, 1.5f, 0.0f));
  EXPECT_EQ(floats_of(wave)[4], 1.0f + 2.0f / 3.0f);
  EXPECT_EQ(bools_of(mask), mask_from("FFTTFFTTFF"));
}

TEST(Waveform, PointsToWaveformMatchesThePlateauPath) {
  const Waveform w(2, 2);
  const at::Tensor points = column({1, 3});
  EXPECT_TRUE(bitwise_equal(w.points_to_waveform(points),
                            w.plateaus_to_waveform(w.points_to_plateaus(points)).first));
}

TEST(Waveform, MaskOfSevenSamplesWithPlateauTwoSlopeOne) {
  EXPECT_EQ(bools_of(Waveform(2, 1).mask(7)), mask_from("FTTFTTF"));
}

TEST(Waveform, MaskWithoutSlopesIsAllTrue) {
  EXPECT_EQ(bools_of(Waveform(10, 0).mask(10)), std::vector<bool>(10, true));
}

TEST(Waveform, MaskLengthAndPlateauCount) {
  const Waveform w(3, 2);
  for (std::int64_t n : {1, 2, 5}) {
    const at::Tensor mask = w.mask(w.waveform_length(n));
    EXPECT_EQ(mask.size(0), n * 3 + (n + 1) * 2);
    EXPECT_EQ(mask.sum().item<std::int64_t>(), n * 3);
  }
}

TEST(Waveform, WaveformToPlateausDropsTheRamps) {
  const Waveform w(2, 2);
  const at::Tensor wave = column({0, 1, 1, 1, 1, 5, 5, 5, 5, 0});
  EXPECT_THAT(floats_of(w.waveform_to_plateaus(wave)), ElementsAre(1, 1, 5, 5));
  // A 1-D waveform works too.
  EXPECT_THAT(floats_of(w.waveform_to_plateaus(wave.squeeze(1))), ElementsAre(1, 1, 5, 5));
}

TEST(Waveform, WaveformToPoints) {
  const at::Tensor points = Waveform(1, 2).waveform_to_points(column({0, 1, 1, 1, 5, 5, 5, 0}));
  EXPECT_EQ(points.sizes(), (at::IntArrayRef{2, 1}));
  EXPECT_THAT(floats_of(points), ElementsAre(1, 5));
}

TEST(Waveform, PlateausToPointsAveragesBlocks) {
  const Waveform w(4, 2);
  const at::Tensor plateaus = at::tensor({1.f, 1.f, 1.f, 1.f, 5.f, 5.f, 5.f, 5.f, 3.f, 3.f, 3.f, 3.f});
  EXPECT_THAT(floats_of(w.plateaus_to_points(plateaus)), ElementsAre(1, 5, 3));
  EXPECT_EQ(w.plateaus_to_points(plateaus.unsqueeze(1)).sizes(), (at::IntArrayRef{3, 1}));
  // Trailing dimensions are kept and averaged element-wise.
  const at::Tensor blocks = at::arange(24, at::kFloat).reshape({4, 3, 2});
  const at::Tensor points = Waveform(2, 0).plateaus_to_points(blocks);
  EXPECT_EQ(points.sizes(), (at::IntArrayRef{2, 3, 2}));
  EXPECT_TRUE(at::equal(points[0], (blocks[0] + blocks[1]) / 2));
}

TEST(Waveform, LongPlateauWithoutSlopes) {
  const Waveform w(80, 0);
  const at::Tensor point = torch::tensor({{0.25f, -0.5f, 0.125f}});
  const at::Tensor wave = w.points_to_waveform(point);
  ASSERT_EQ(wave.sizes(), (at::IntArrayRef{80, 3}));
  EXPECT_TRUE(at::equal(wave, point.expand({80, 3})));
  EXPECT_TRUE(at::equal(w.plateaus_to_waveform(w.points_to_plateaus(point)).first, wave));
  EXPECT_TRUE(w.mask(80).all().item<bool>());
}

// ---- construction and validation -----------------------------------------------------------

TEST(Waveform, RampsStartAndEndAtZero) {
  const Waveform w(3, 4);
  const at::Tensor points = torch::tensor({{0.3f, -0.7f}, {-1.1f, 0.5f}, {0.6f, 0.2f}});
  const at::Tensor wave = w.points_to_waveform(points);
  ASSERT_EQ(wave.size(0), w.waveform_length(3));
  EXPECT_TRUE(at::equal(wave[0], at::zeros({2})));
  EXPECT_TRUE(at::equal(wave[-1], at::zeros({2})));
  // Every ramp sample lies between its neighbouring plateaus.
  EXPECT_TRUE((wave.amax(0) <= points.amax(0).clamp_min(0)).all().item<bool>());
  EXPECT_TRUE((wave.amin(0) >= points.amin(0).clamp_max(0)).all().item<bool>());
}

TEST(Waveform, InnerRampIsUniformInFloat32) {
  // From 1 to 3 in S + 1 = 4 steps of 0.5, exact in float32.
  const at::Tensor wave = Waveform(1, 3).points_to_waveform(column({1, 3}));
  // The final ramp has S intervals: 3 → 2, 1, 0.
  EXPECT_THAT(floats_of(wave),
              ElementsAre(0.0f, 1.0f / 3.0f, 2.0f / 3.0f, 1, 1.5f, 2, 2.5f, 3, 2, 1, 0));
}

TEST(Waveform, AnyZeroStepSwitchesEveryElectrodeToNumpysOtherFormula) {
  // numpy.linspace over all electrodes at once computes k·(Δ/div) + start, unless any
  // electrode's step is 0; then it computes (k/div)·Δ + start for all of them. Ramp 0 → 0.3
  // in S = 3 samples: 1·float32(0.3/3) = 0.10000000149… but float32(1/3)·0.3 = 0.10000000894…
  const Waveform w(1, 3);
  const at::Tensor moving = w.points_to_waveform(torch::tensor({{0.3f, 0.5f}}));
  const at::Tensor one_still = w.points_to_waveform(torch::tensor({{0.3f, 0.0f}}));
  EXPECT_EQ(moving[1][0].item<float>(), 0.10000000149011612f);
  EXPECT_EQ(one_still[1][0].item<float>(), 0.10000000894069672f);
}

TEST(Waveform, WithoutSlopesTheWaveformIsThePlateaus) {
  const Waveform w(3, 0);
  const at::Tensor plateaus = w.points_to_plateaus(at::rand({4, 5}));
  const auto [wave, mask] = w.plateaus_to_waveform(plateaus);
  EXPECT_TRUE(bitwise_equal(wave, plateaus));
  EXPECT_TRUE(mask.all().item<bool>());
}

TEST(Waveform, PlateauRowsAreTakenAsTheyAre) {
  // Non-constant plateaus: ramps join the last row of one block to the first of the next.
  const Waveform w(2, 1);
  const auto [wave, mask] = w.plateaus_to_waveform(column({1, 2, 4, 6}));
  EXPECT_THAT(floats_of(wave), ElementsAre(0, 1, 2, 3, 4, 6, 0));
  EXPECT_EQ(bools_of(mask), mask_from("FTTFTTF"));
}

TEST(Waveform, KeepsTheInputDtype) {
  const Waveform w(2, 3);
  const at::Tensor points = torch::tensor({{0.3, -0.2}, {0.1, 0.9}}, at::kDouble);
  const at::Tensor wave = w.points_to_waveform(points);
  EXPECT_EQ(wave.scalar_type(), at::kDouble);
  // float64 ramps are numpy's float64 values: 0.3·(1/3) rather than float32.
  EXPECT_EQ(wave[1][0].item<double>(), 1 * (0.3 / 3) + 0.0);
  EXPECT_EQ(w.points_to_plateaus(points).scalar_type(), at::kDouble);
}

TEST(Waveform, RoundTripToPoints) {
  const Waveform w(5, 3);
  const at::Tensor points = at::rand({6, 4}) * 2 - 1;
  EXPECT_TRUE(at::allclose(w.waveform_to_points(w.points_to_waveform(points)), points, 1e-6,
                           1e-7));
  EXPECT_TRUE(
      at::allclose(w.plateaus_to_points(w.points_to_plateaus(points)), points, 1e-6, 1e-7));
}

TEST(Waveform, EmptyInputGivesAnEmptyWaveform) {
  const Waveform w(2, 3);
  const auto [wave, mask] = w.plateaus_to_waveform(at::zeros({0, 4}));
  EXPECT_EQ(wave.sizes(), (at::IntArrayRef{0, 4}));
  EXPECT_EQ(mask.numel(), 0);
  EXPECT_EQ(w.waveform_length(0), 0);
}

TEST(Waveform, StaticOnlyForPlateauOneSlopeZero) {
  EXPECT_TRUE(Waveform(1, 0).is_static());
  EXPECT_FALSE(Waveform(1, 1).is_static());
  EXPECT_FALSE(Waveform(2, 0).is_static());
  EXPECT_EQ(Waveform(80, 20).waveform_length(3), 3 * 80 + 4 * 20);
}

TEST(Waveform, RejectsNegativeAndZeroLengths) {
  // brains-py accepted these (§15.35); numpy then failed or masks came out empty.
  EXPECT_THROW(Waveform(2, -1), ConfigError);
  EXPECT_THROW(Waveform(-1, 2), ConfigError);
  EXPECT_THROW(Waveform(0, 10), ConfigError);
  try {
    Waveform(4, -3);
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "waveform.slope_length");
    EXPECT_THAT(e.what(), HasSubstr("-3"));
  }
}

TEST(Waveform, RejectsShapesItCannotSplit) {
  const Waveform w(3, 1);
  EXPECT_THROW(w.plateaus_to_waveform(at::zeros({4, 2})), ArgumentError);
  EXPECT_THROW(w.plateaus_to_points(at::zeros({5, 2})), ArgumentError);
  EXPECT_THROW(w.points_to_waveform(at::zeros({3})), ArgumentError);
  EXPECT_THROW(w.plateaus_to_waveform(at::zeros({3})), ArgumentError);
  try {
    w.plateaus_to_waveform(at::zeros({4, 2}));
  } catch (const ArgumentError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot build waveform: 4 samples"));
    EXPECT_THAT(e.what(), HasSubstr("plateau_length 3"));
  }
}

// ---- from_config ---------------------------------------------------------------------------

TEST(WaveformConfig, ReadsBothLengths) {
  const Config config = waveform_config("waveform:\n  plateau_length: 80\n  slope_length: 20\n");
  const Waveform w = Waveform::from_config(config.at("waveform"));
  EXPECT_EQ(w.plateau_length(), 80);
  EXPECT_EQ(w.slope_length(), 20);
}

TEST(WaveformConfig, NegativeLengthNamesTheFullKeyPath) {
  const Config config = waveform_config(
      "processor:\n  waveform:\n    plateau_length: 10\n    slope_length: -2\n");
  try {
    Waveform::from_config(config.at("processor").at("waveform"));
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "processor.waveform.slope_length");
    EXPECT_THAT(e.what(), HasSubstr("non-negative"));
    EXPECT_THAT(e.what(), HasSubstr("-2"));
  }
}

TEST(WaveformConfig, ZeroPlateauNamesTheFullKeyPath) {
  const Config config =
      waveform_config("processor:\n  waveform:\n    plateau_length: 0\n    slope_length: 2\n");
  try {
    Waveform::from_config(config.at("processor").at("waveform"));
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "processor.waveform.plateau_length");
  }
}

TEST(WaveformConfig, MissingOrMistypedKeys) {
  const Config missing = waveform_config("waveform:\n  plateau_length: 10\n");
  try {
    Waveform::from_config(missing.at("waveform"));
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "waveform.slope_length");
  }
  const Config mistyped = waveform_config("waveform:\n  plateau_length: ten\n  slope_length: 1\n");
  try {
    Waveform::from_config(mistyped.at("waveform"));
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "waveform.plateau_length");
  }
}

}  // namespace
}  // namespace brains::processors
