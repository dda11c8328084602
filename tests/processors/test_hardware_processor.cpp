// HardwareProcessor, the safety check and the simulation_debug driver (brains-py spec §6).
// The drivers here are real implementations of Driver: an ohmic device whose current is
// the sum of the applied voltages times a conductance, and the surrogate.
#include "brains/processors/hardware_processor.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/types.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "brains/core/error.h"
#include "brains/processors/driver.h"
#include "brains/processors/safety.h"
#include "brains/processors/surrogate_driver.h"
#include "brains/processors/surrogate_model.h"
#include "brains/processors/waveform.h"

namespace brains::processors {
namespace {

using ::testing::HasSubstr;

// Output k = conductance_ns[k] · Σ_e V_e (nS · V = nA); records every waveform it receives.
class OhmicDriver : public Driver {
 public:
  struct Options {
    at::Tensor voltage_ranges = torch::tensor({{-1.2, 0.6}, {-1.0, 1.0}, {-0.5, 0.5}}, at::kFloat);
    std::vector<double> conductance_ns{1.0, -2.0};
    bool hardware = true;
    double absolute_limit_v = 1.6;
    std::optional<double> max_step_v;
    bool wrong_shape = false;  // returns one row too many
  };

  OhmicDriver() : OhmicDriver(Options{}) {}
  explicit OhmicDriver(Options options) : options_(std::move(options)) {}

  at::Tensor measure(const at::Tensor& waveform) override {
    received.push_back(waveform.clone());
    const at::Tensor conductance = at::tensor(options_.conductance_ns, at::kDouble);
    at::Tensor currents = waveform.sum(1, /*keepdim=*/true) * conductance;
    if (options_.wrong_shape) currents = at::cat({currents, currents.narrow(0, 0, 1)});
    return currents;
  }
  std::int64_t activation_electrode_count() const override {
    return options_.voltage_ranges.size(0);
  }
  std::int64_t readout_electrode_count() const override {
    return static_cast<std::int64_t>(options_.conductance_ns.size());
  }
  at::Tensor voltage_ranges() const override { return options_.voltage_ranges; }
  bool is_hardware() const override { return options_.hardware; }
  double absolute_limit_v() const override { return options_.absolute_limit_v; }
  std::optional<double> max_step_v() const override { return options_.max_step_v; }
  void close() override { ++closed; }
  std::string name() const override { return "ohmic"; }

  // What the device would give for these voltages, in float64.
  at::Tensor expected(const at::Tensor& voltages) const {
    return voltages.to(at::kDouble).sum(1, true) *
           at::tensor(options_.conductance_ns, at::kDouble);
  }

  std::vector<at::Tensor> received;
  int closed = 0;

 private:
  Options options_;
};

OhmicDriver::Options wide_ranges() {
  OhmicDriver::Options options;
  options.voltage_ranges = torch::tensor({{-2.0, 2.0}, {-2.0, 2.0}, {-2.0, 2.0}}, at::kFloat);
  return options;
}

// Points well inside the default ranges.
at::Tensor safe_points() {
  return torch::tensor({{0.1f, -0.3f, 0.2f}, {-0.8f, 0.5f, -0.4f}, {0.5f, 0.9f, 0.0f},
                        {-1.1f, -0.9f, 0.45f}});
}

template <typename E>
std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const E& e) {
    return e.what();
  }
  return "<no exception of the expected type>";
}

// ---- the measurement path ------------------------------------------------------------------

TEST(HardwareProcessor, ReturnsOneRowPerPlateauSampleWithRampsMaskedOut) {
  auto driver = std::make_shared<OhmicDriver>();
  const Waveform waveform(3, 2);
  HardwareProcessor processor(driver, waveform);
  const at::Tensor plateaus = waveform.points_to_plateaus(safe_points());
  const at::Tensor currents = processor->forward(plateaus);
  ASSERT_EQ(currents.sizes(), (at::IntArrayRef{12, 2}));
  EXPECT_EQ(currents.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::allclose(currents, driver->expected(plateaus).to(at::kFloat), 1e-6, 1e-7));
}

TEST(HardwareProcessor, DriverReceivesTheWholeWaveformFromZeroToZero) {
  auto driver = std::make_shared<OhmicDriver>();
  const Waveform waveform(3, 2);
  HardwareProcessor processor(driver, waveform);
  const at::Tensor plateaus = waveform.points_to_plateaus(safe_points());
  processor->forward(plateaus);
  ASSERT_EQ(driver->received.size(), 1u);
  const at::Tensor sent = driver->received[0];
  EXPECT_EQ(sent.sizes(), (at::IntArrayRef{waveform.waveform_length(4), 3}));
  EXPECT_EQ(sent.scalar_type(), at::kDouble);
  EXPECT_TRUE(sent.device().is_cpu());
  EXPECT_TRUE(at::equal(sent[0], at::zeros({3}, at::kDouble)));
  EXPECT_TRUE(at::equal(sent[-1], at::zeros({3}, at::kDouble)));
  // The float32 ramps of brains-py, widened exactly.
  EXPECT_TRUE(at::equal(sent, waveform.plateaus_to_waveform(plateaus).first.to(at::kDouble)));
}

TEST(HardwareProcessor, RampSamplesNeverReachTheOutput) {
  // Ramp currents differ from every plateau current, so any leak would show.
  auto driver = std::make_shared<OhmicDriver>();
  const Waveform waveform(2, 3);
  HardwareProcessor processor(driver, waveform);
  const at::Tensor plateaus = waveform.points_to_plateaus(safe_points());
  const at::Tensor currents = processor->forward(plateaus);
  const at::Tensor all = driver->expected(driver->received[0]);
  const at::Tensor mask = waveform.mask(all.size(0));
  EXPECT_TRUE(at::equal(currents, all.index({mask}).to(at::kFloat)));
  EXPECT_EQ(mask.sum().item<std::int64_t>(), currents.size(0));
}

TEST(HardwareProcessor, KeepsTheInputDtypeAndCarriesNoGradient) {
  auto driver = std::make_shared<OhmicDriver>();
  HardwareProcessor processor(driver, Waveform(2, 1));
  const at::Tensor plateaus =
      Waveform(2, 1).points_to_plateaus(safe_points()).to(at::kDouble).requires_grad_();
  const at::Tensor currents = processor->forward(plateaus);
  EXPECT_EQ(currents.scalar_type(), at::kDouble);
  EXPECT_FALSE(currents.requires_grad());
  EXPECT_TRUE(at::allclose(currents, driver->expected(plateaus.detach())));
}

TEST(HardwareProcessor, StaticWaveformSendsThePointsThemselves) {
  // P = 1, S = 0 on a simulating driver: no ramps, no 0 V end rule.
  auto options = OhmicDriver::Options{};
  options.hardware = false;
  auto driver = std::make_shared<OhmicDriver>(options);
  HardwareProcessor processor(driver, Waveform(1, 0));
  const at::Tensor currents = processor->forward(safe_points());
  EXPECT_TRUE(at::equal(driver->received[0], safe_points().to(at::kDouble)));
  EXPECT_EQ(currents.size(0), 4);
}

TEST(HardwareProcessor, EmptyInputDoesNotCallTheDriver) {
  auto driver = std::make_shared<OhmicDriver>();
  HardwareProcessor processor(driver, Waveform(3, 2));
  const at::Tensor currents = processor->forward(at::zeros({0, 3}));
  EXPECT_EQ(currents.sizes(), (at::IntArrayRef{0, 2}));
  EXPECT_TRUE(driver->received.empty());
}

TEST(HardwareProcessor, ForwardsDriverProperties) {
  auto driver = std::make_shared<OhmicDriver>();
  HardwareProcessor processor(driver, Waveform(3, 2));
  EXPECT_TRUE(processor->is_hardware());
  const at::Tensor clipping = processor->clipping_value();
  EXPECT_EQ(clipping.scalar_type(), at::kFloat);
  EXPECT_TRUE(std::isinf(clipping[0].item<float>()) && clipping[0].item<float>() < 0);
  EXPECT_TRUE(std::isinf(clipping[1].item<float>()) && clipping[1].item<float>() > 0);
  EXPECT_EQ(&processor->driver(), driver.get());
  processor->close();
  EXPECT_EQ(driver->closed, 1);
}

// ---- safety: nothing reaches the driver ----------------------------------------------------

TEST(HardwareProcessor, RefusesAVoltageOutsideTheElectrodeRange) {
  auto driver = std::make_shared<OhmicDriver>();
  HardwareProcessor processor(driver, Waveform(2, 2));
  at::Tensor points = safe_points();
  points[2][0] = 0.7f;  // electrode 0 allows [-1.2, 0.6]
  const std::string message = message_of<SafetyError>(
      [&] { processor->forward(Waveform(2, 2).points_to_plateaus(points)); });
  // Point 2 starts at sample 2 + 2·(2 + 2) = 10.
  EXPECT_THAT(message, HasSubstr("cannot apply waveform: electrode 0 sample 10 is 0.7 V, "
                                 "outside its range [-1.2, 0.6] V"));
  EXPECT_TRUE(driver->received.empty());
}

TEST(HardwareProcessor, RefusesAVoltageAboveTheAbsoluteLimit) {
  auto driver = std::make_shared<OhmicDriver>(wide_ranges());
  HardwareProcessor processor(driver, Waveform(1, 2));
  const at::Tensor points = torch::tensor({{0.5f, -1.7f, 0.0f}});
  const std::string message = message_of<SafetyError>([&] { processor->forward(points); });
  EXPECT_THAT(message, HasSubstr("electrode 1"));
  EXPECT_THAT(message, HasSubstr("above the absolute limit of 1.6 V"));
  EXPECT_TRUE(driver->received.empty());
}

TEST(HardwareProcessor, ADriverCanLowerTheAbsoluteLimitButNotRaiseIt) {
  auto raising = wide_ranges();
  raising.absolute_limit_v = 5.0;
  auto loud = std::make_shared<OhmicDriver>(raising);
  HardwareProcessor unlimited(loud, Waveform(1, 2));
  EXPECT_EQ(unlimited->safety_limits().absolute_limit_v, kAbsoluteLimitV);
  EXPECT_THROW(unlimited->forward(torch::tensor({{1.7f, 0.f, 0.f}})), SafetyError);
  EXPECT_TRUE(loud->received.empty());

  auto lowering = wide_ranges();
  lowering.absolute_limit_v = 1.0;
  auto careful = std::make_shared<OhmicDriver>(lowering);
  HardwareProcessor limited(careful, Waveform(1, 2));
  EXPECT_THROW(limited->forward(torch::tensor({{0.f, 1.2f, 0.f}})), SafetyError);
  EXPECT_TRUE(careful->received.empty());
  limited->forward(torch::tensor({{0.f, 0.9f, 0.f}}));
  EXPECT_EQ(careful->received.size(), 1u);
}

TEST(HardwareProcessor, RejectsNanAndInfInputs) {
  auto driver = std::make_shared<OhmicDriver>();
  HardwareProcessor processor(driver, Waveform(1, 2));
  at::Tensor points = safe_points();
  points[1][2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(message_of<ArgumentError>([&] { processor->forward(points); }),
            "cannot measure plateaus: input row 1 column 2 is nan");
  points = safe_points();
  points[3][0] = -std::numeric_limits<float>::infinity();
  EXPECT_EQ(message_of<ArgumentError>([&] { processor->forward(points); }),
            "cannot measure plateaus: input row 3 column 0 is -inf");
  EXPECT_TRUE(driver->received.empty());
}

TEST(HardwareProcessor, HardwareRefusesAWaveformThatDoesNotStartAtZero) {
  // slope_length 0 leaves the first plateau at the start: hardware would jump to it.
  auto driver = std::make_shared<OhmicDriver>();
  HardwareProcessor processor(driver, Waveform(2, 0));
  const std::string message =
      message_of<SafetyError>([&] { processor->forward(safe_points()); });
  EXPECT_THAT(message, HasSubstr("electrode 0 sample 0 is 0.1 V"));
  EXPECT_THAT(message, HasSubstr("must start and end at 0 V"));
  EXPECT_TRUE(driver->received.empty());
}

TEST(HardwareProcessor, HardwareRefusesAWaveformThatDoesNotEndAtZero) {
  auto driver = std::make_shared<OhmicDriver>();
  HardwareProcessor processor(driver, Waveform(1, 0));
  const at::Tensor points = torch::tensor({{0.f, 0.f, 0.f}, {0.f, 0.3f, 0.f}});
  EXPECT_THAT(message_of<SafetyError>([&] { processor->forward(points); }),
              HasSubstr("electrode 1 sample 1 is 0.3 V"));
  EXPECT_TRUE(driver->received.empty());
}

TEST(HardwareProcessor, SimulatingDriversSkipTheZeroEndRule) {
  auto options = OhmicDriver::Options{};
  options.hardware = false;
  auto driver = std::make_shared<OhmicDriver>(options);
  HardwareProcessor processor(driver, Waveform(2, 0));
  EXPECT_FALSE(processor->is_hardware());
  EXPECT_FALSE(processor->safety_limits().zero_at_ends);
  processor->forward(safe_points());
  EXPECT_EQ(driver->received.size(), 1u);
}

TEST(HardwareProcessor, ADriverStepLimitRefusesSteepRamps) {
  auto options = OhmicDriver::Options{};
  options.max_step_v = 0.1;
  auto driver = std::make_shared<OhmicDriver>(options);
  HardwareProcessor steep(driver, Waveform(1, 2));
  const at::Tensor point = torch::tensor({{0.5f, 0.f, 0.f}});
  EXPECT_THAT(message_of<SafetyError>([&] { steep->forward(point); }),
              HasSubstr("above the largest step of 0.1 V"));
  EXPECT_TRUE(driver->received.empty());
  HardwareProcessor gentle(driver, Waveform(1, 10));
  gentle->forward(point);
  EXPECT_EQ(driver->received.size(), 1u);
}

TEST(HardwareProcessor, RejectsTheWrongWidthOrShape) {
  auto driver = std::make_shared<OhmicDriver>();
  HardwareProcessor processor(driver, Waveform(1, 2));
  EXPECT_EQ(message_of<ArgumentError>([&] { processor->forward(at::zeros({4, 2})); }),
            "cannot measure plateaus: expected 3 activation electrode columns, got 2");
  EXPECT_THROW(processor->forward(at::zeros({3})), ArgumentError);
  EXPECT_THROW(processor->forward(at::zeros({2, 4, 3})), ArgumentError);
  EXPECT_THROW(processor->forward(at::zeros({4, 3}, at::kLong)), ArgumentError);
  EXPECT_THROW(processor->forward_waveform(at::zeros({5, 4})), ArgumentError);
  EXPECT_TRUE(driver->received.empty());
}

TEST(HardwareProcessor, ADriverReturningTheWrongShapeIsAHardwareError) {
  auto options = OhmicDriver::Options{};
  options.wrong_shape = true;
  auto driver = std::make_shared<OhmicDriver>(options);
  const Waveform waveform(2, 1);
  HardwareProcessor processor(driver, waveform);
  const std::string message = message_of<HardwareError>(
      [&] { processor->forward(waveform.points_to_plateaus(safe_points())); });
  // 4 points · P 2 + 5 ramps · S 1 = 13 samples.
  EXPECT_EQ(message, "cannot measure waveform: driver 'ohmic' returned shape (14, 2), "
                     "expected (13, 2)");
  EXPECT_EQ(driver->received.size(), 1u);
}

// ---- forward_waveform ----------------------------------------------------------------------

TEST(HardwareProcessor, ForwardWaveformMeasuresEverySample) {
  auto driver = std::make_shared<OhmicDriver>();
  const Waveform waveform(2, 2);
  HardwareProcessor processor(driver, waveform);
  const at::Tensor wave = waveform.points_to_waveform(safe_points());
  const at::Tensor currents = processor->forward_waveform(wave);
  EXPECT_EQ(currents.sizes(), (at::IntArrayRef{wave.size(0), 2}));
  EXPECT_EQ(currents.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(driver->received[0], wave.to(at::kDouble)));
}

TEST(HardwareProcessor, ForwardWaveformPassesTheSameSafetyCheck) {
  auto driver = std::make_shared<OhmicDriver>();
  HardwareProcessor processor(driver, Waveform(2, 2));
  EXPECT_THROW(processor->forward_waveform(torch::tensor({{0.f, 0.f, 0.f}, {0.2f, 0.f, 0.f}})),
               SafetyError);
  EXPECT_THROW(processor->forward_waveform(torch::tensor({{0.f, 0.f, 0.f}, {0.f, 1.1f, 0.f},
                                                           {0.f, 0.f, 0.f}})),
               SafetyError);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(message_of<SafetyError>([&] {
                processor->forward_waveform(
                    torch::tensor({{0.f, 0.f, 0.f}, {0.f, 0.f, nan}, {0.f, 0.f, 0.f}}));
              }),
              HasSubstr("electrode 2 sample 1 is nan, not a finite voltage"));
  EXPECT_TRUE(driver->received.empty());
}

// ---- construction --------------------------------------------------------------------------

TEST(HardwareProcessor, VoltageRangesAreABuffer) {
  auto driver = std::make_shared<OhmicDriver>();
  HardwareProcessor processor(driver, Waveform(2, 2));
  const auto buffers = processor->named_buffers();
  ASSERT_TRUE(buffers.contains("voltage_ranges"));
  EXPECT_TRUE(at::equal(buffers["voltage_ranges"], driver->voltage_ranges()));
  EXPECT_EQ(processor->voltage_ranges().scalar_type(), at::kFloat);
  // .to() carries the buffer (upstream §15.33); the check keeps using it.
  processor->to(at::kDouble);
  EXPECT_EQ(processor->voltage_ranges().scalar_type(), at::kDouble);
  EXPECT_EQ(processor->named_buffers()["voltage_ranges"].scalar_type(), at::kDouble);
  at::Tensor points = safe_points();
  points[0][2] = 0.55f;  // electrode 2 allows [-0.5, 0.5]
  EXPECT_THROW(processor->forward(points), SafetyError);
  EXPECT_TRUE(driver->received.empty());
}

TEST(HardwareProcessor, SafetyLimitsComeFromTheDriver) {
  auto driver = std::make_shared<OhmicDriver>();
  HardwareProcessor processor(driver, Waveform(2, 2));
  const SafetyLimits& limits = processor->safety_limits();
  EXPECT_TRUE(at::equal(limits.voltage_ranges, driver->voltage_ranges()));
  EXPECT_EQ(limits.absolute_limit_v, 1.6);
  EXPECT_TRUE(limits.zero_at_ends);
  EXPECT_FALSE(limits.max_step_v.has_value());
}

TEST(HardwareProcessor, RejectsANullDriverOrRangesThatDoNotFitIt) {
  EXPECT_THROW(HardwareProcessor(nullptr, Waveform(1, 0)), ArgumentError);
  auto options = OhmicDriver::Options{};
  options.voltage_ranges = torch::tensor({{-1.0, 1.0, 0.0}, {-1.0, 1.0, 0.0}}, at::kFloat);
  EXPECT_THROW(HardwareProcessor(std::make_shared<OhmicDriver>(options), Waveform(1, 0)),
               ArgumentError);
}

TEST(Driver, DefaultClippingValueIsUnbounded) {
  const OhmicDriver driver;
  const at::Tensor clipping = driver.clipping_value();
  EXPECT_EQ(clipping.scalar_type(), at::kFloat);
  EXPECT_EQ(clipping.sizes(), (at::IntArrayRef{2}));
  EXPECT_EQ(clipping[0].item<float>(), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(clipping[1].item<float>(), std::numeric_limits<float>::infinity());
  EXPECT_FALSE(driver.max_step_v().has_value());
}

// ---- check_waveform_safety -----------------------------------------------------------------

SafetyLimits limits_of(const at::Tensor& ranges) {
  SafetyLimits limits;
  limits.voltage_ranges = ranges;
  return limits;
}

at::Tensor two_ranges() { return torch::tensor({{-1.2f, 0.6f}, {-0.7f, 0.3f}}); }

TEST(CheckWaveformSafety, AcceptsAWaveformInsideItsRanges) {
  const at::Tensor wave =
      torch::tensor({{0.0, 0.0}, {-1.2, 0.3}, {0.6, -0.7}, {0.0, 0.0}}, at::kDouble);
  // The range edges are float32 values; the float64 samples -1.2, 0.6 … lie within 1e-6.
  EXPECT_NO_THROW(check_waveform_safety(wave, limits_of(two_ranges())));
  EXPECT_NO_THROW(check_waveform_safety(wave.to(at::kFloat), limits_of(two_ranges())));
}

TEST(CheckWaveformSafety, ToleranceIsSmall) {
  SafetyLimits limits = limits_of(two_ranges());
  const double edge = static_cast<double>(0.6f);
  EXPECT_NO_THROW(check_waveform_safety(
      torch::tensor({{0.0, 0.0}, {edge + 5e-7, 0.0}, {0.0, 0.0}}, at::kDouble), limits));
  EXPECT_THROW(check_waveform_safety(
                   torch::tensor({{0.0, 0.0}, {edge + 1e-5, 0.0}, {0.0, 0.0}}, at::kDouble),
                   limits),
               SafetyError);
}

TEST(CheckWaveformSafety, NamesElectrodeSampleValueAndRange) {
  const at::Tensor wave =
      torch::tensor({{0.0, 0.0}, {0.1, 0.2}, {-0.2, 0.31}, {0.0, 0.0}}, at::kDouble);
  EXPECT_EQ(message_of<SafetyError>([&] { check_waveform_safety(wave, limits_of(two_ranges())); }),
            "cannot apply waveform: electrode 1 sample 2 is 0.31 V, outside its range "
            "[-0.7, 0.3] V");
}

TEST(CheckWaveformSafety, ReportsTheFirstOffenderInSampleOrder) {
  const at::Tensor wave =
      torch::tensor({{0.0, 0.0}, {0.1, -0.9}, {0.9, 0.0}, {0.0, 0.0}}, at::kDouble);
  EXPECT_THAT(
      message_of<SafetyError>([&] { check_waveform_safety(wave, limits_of(two_ranges())); }),
      HasSubstr("electrode 1 sample 1 is -0.9 V"));
}

TEST(CheckWaveformSafety, ChecksFinitenessBeforeRanges) {
  const double inf = std::numeric_limits<double>::infinity();
  const at::Tensor wave = torch::tensor({{0.0, 0.0}, {5.0, inf}, {0.0, 0.0}}, at::kDouble);
  EXPECT_EQ(message_of<SafetyError>([&] { check_waveform_safety(wave, limits_of(two_ranges())); }),
            "cannot apply waveform: electrode 1 sample 1 is inf, not a finite voltage");
}

TEST(CheckWaveformSafety, NeedsOneRangePerColumn) {
  const at::Tensor wave = at::zeros({4, 3}, at::kDouble);
  EXPECT_EQ(message_of<SafetyError>([&] { check_waveform_safety(wave, limits_of(two_ranges())); }),
            "cannot apply waveform: it has 3 electrode columns, but 2 voltage ranges are "
            "configured");
}

TEST(CheckWaveformSafety, TheAbsoluteLimitCannotBeRaised) {
  SafetyLimits limits = limits_of(torch::tensor({{-3.0f, 3.0f}, {-3.0f, 3.0f}}));
  limits.absolute_limit_v = 2.5;
  const at::Tensor wave = torch::tensor({{0.0, 0.0}, {0.0, -1.61}, {0.0, 0.0}}, at::kDouble);
  EXPECT_EQ(message_of<SafetyError>([&] { check_waveform_safety(wave, limits); }),
            "cannot apply waveform: electrode 1 sample 1 is -1.61 V, above the absolute limit "
            "of 1.6 V");
  EXPECT_NO_THROW(check_waveform_safety(
      torch::tensor({{0.0, 0.0}, {0.0, -1.6}, {0.0, 0.0}}, at::kDouble), limits));
}

TEST(CheckWaveformSafety, ZeroEndsOnlyWhenAsked) {
  const at::Tensor wave = torch::tensor({{0.1, 0.0}, {0.2, 0.0}}, at::kDouble);
  SafetyLimits limits = limits_of(two_ranges());
  EXPECT_THROW(check_waveform_safety(wave, limits), SafetyError);
  limits.zero_at_ends = false;
  EXPECT_NO_THROW(check_waveform_safety(wave, limits));
}

TEST(CheckWaveformSafety, AnEmptyWaveformIsSafe) {
  EXPECT_NO_THROW(check_waveform_safety(at::zeros({0, 2}, at::kDouble), limits_of(two_ranges())));
}

TEST(CheckWaveformSafety, StepLimit) {
  SafetyLimits limits = limits_of(two_ranges());
  limits.max_step_v = 0.25;
  const at::Tensor gentle = torch::tensor({{0.0, 0.0}, {0.25, -0.2}, {0.5, 0.0}, {0.25, 0.0},
                                           {0.0, 0.0}}, at::kDouble);
  EXPECT_NO_THROW(check_waveform_safety(gentle, limits));
  const at::Tensor steep = torch::tensor({{0.0, 0.0}, {0.2, 0.0}, {0.5, 0.0}, {0.0, 0.0}},
                                         at::kDouble);
  EXPECT_EQ(message_of<SafetyError>([&] { check_waveform_safety(steep, limits); }),
            "cannot apply waveform: electrode 0 steps by 0.3 V between samples 1 and 2, above "
            "the largest step of 0.25 V");
}

TEST(CheckWaveformSafety, RejectsWhatIsNotAVoltageMatrix) {
  EXPECT_THROW(check_waveform_safety(at::zeros({4}), limits_of(two_ranges())), ArgumentError);
  EXPECT_THROW(check_waveform_safety(at::zeros({4, 2}, at::kInt), limits_of(two_ranges())),
               ArgumentError);
  EXPECT_THROW(check_waveform_safety(at::zeros({4, 2}), limits_of(at::zeros({2, 3}))),
               ArgumentError);
}

TEST(CheckFiniteInput, NamesRowAndColumn) {
  at::Tensor x = at::zeros({3, 4});
  EXPECT_NO_THROW(check_finite_input(x, "evaluate processor"));
  x[2][1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(message_of<ArgumentError>([&] { check_finite_input(x, "evaluate processor"); }),
            "cannot evaluate processor: input row 2 column 1 is nan");
}

// ---- simulation_debug: the surrogate behind the hardware path ------------------------------

SurrogateModel small_surrogate() {
  ModelStructure structure;
  structure.d_in = 3;
  structure.d_out = 2;
  structure.hidden_sizes = {16, 16};
  SurrogateModel model(structure);
  model->set_voltage_ranges(torch::tensor({{-1.2f, 0.6f}, {-1.0f, 1.0f}, {-0.5f, 0.5f}}));
  model->set_amplification(torch::tensor({2.0f, 0.5f}));
  return model;
}

// Points spread over the voltage ranges of small_surrogate().
at::Tensor surrogate_points(std::int64_t n) {
  const at::Tensor ranges = torch::tensor({{-1.2f, 0.6f}, {-1.0f, 1.0f}, {-0.5f, 0.5f}});
  const at::Tensor low = ranges.select(1, 0);
  const at::Tensor high = ranges.select(1, 1);
  return low + at::rand({n, 3}) * (high - low);
}

TEST(SurrogateDriver, ReportsTheSurrogate) {
  const SurrogateDriver driver(small_surrogate());
  EXPECT_EQ(driver.activation_electrode_count(), 3);
  EXPECT_EQ(driver.readout_electrode_count(), 2);
  EXPECT_FALSE(driver.is_hardware());
  EXPECT_EQ(driver.name(), "simulation_debug");
  EXPECT_EQ(driver.voltage_ranges().sizes(), (at::IntArrayRef{3, 2}));
  EXPECT_EQ(driver.voltage_ranges().scalar_type(), at::kFloat);
  EXPECT_TRUE(std::isinf(driver.clipping_value()[1].item<float>()));
}

TEST(SurrogateDriver, ReportsTheSurrogateClipping) {
  SurrogateModel model = small_surrogate();
  model->set_output_clipping(std::make_pair(-3.0, 4.0));
  const SurrogateDriver driver(model);
  EXPECT_TRUE(at::equal(driver.clipping_value(), torch::tensor({-3.0f, 4.0f})));
}

TEST(SurrogateDriver, NeedsVoltageRanges) {
  ModelStructure structure;
  structure.d_in = 3;
  EXPECT_THROW(SurrogateDriver{SurrogateModel(structure)}, ArgumentError);
  EXPECT_THROW(SurrogateDriver{SurrogateModel(nullptr)}, ArgumentError);
}

TEST(SurrogateDriver, StaticSimulationDebugEqualsTheSurrogate) {
  at::manual_seed(3);
  SurrogateModel model = small_surrogate();
  HardwareProcessor processor(std::make_shared<SurrogateDriver>(model), Waveform(1, 0));
  const at::Tensor points = surrogate_points(25);
  const at::Tensor actual = processor->forward(points);
  at::NoGradGuard no_grad;
  const at::Tensor expected = model->forward(points);
  EXPECT_EQ(actual.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(actual, expected));
}

TEST(SurrogateDriver, AveragedPlateausEqualTheSurrogate) {
  at::manual_seed(4);
  SurrogateModel model = small_surrogate();
  const Waveform waveform(3, 2);
  HardwareProcessor processor(std::make_shared<SurrogateDriver>(model), waveform);
  const at::Tensor points = surrogate_points(10);
  at::NoGradGuard no_grad;
  const at::Tensor plateaus = processor->forward(waveform.points_to_plateaus(points));
  ASSERT_EQ(plateaus.sizes(), (at::IntArrayRef{30, 2}));
  EXPECT_TRUE(at::allclose(waveform.plateaus_to_points(plateaus), model->forward(points), 1e-5,
                           1e-5));
}

TEST(SurrogateDriver, SimulationDebugStillChecksTheRanges) {
  SurrogateModel model = small_surrogate();
  HardwareProcessor processor(std::make_shared<SurrogateDriver>(model), Waveform(1, 0));
  EXPECT_THROW(processor->forward(torch::tensor({{0.0f, 0.0f, 0.7f}})), SafetyError);
}

}  // namespace
}  // namespace brains::processors
