// Ring tasks: the exact dataset construction (brainspy-tasks §2.1), the split, options from
// upstream ring.yaml, classifier/searcher/capacity on the fixture surrogate with both
// algorithms, bad input, and the `brains ring` command.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <ATen/ATen.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "brains/core/error.h"
#include "brains/io/npz.h"
#include "brains/processors/surrogate_file.h"
#include "brains/tasks/ring.h"
#include "brains/tasks/ring_data.h"
#include "support/fixture_surrogate.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace brains {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using tasks::RingDataset;
using tasks::RingOptions;
using testing::TempDir;

at::Tensor radii(const at::Tensor& inputs) { return inputs.pow(2).sum(1).sqrt(); }

// --- dataset

TEST(RingData, SizesClassesAndInterleaving) {
  const RingDataset data = tasks::generate_ring_data(1000, 0.5, 3);
  EXPECT_EQ(data.inputs.sizes(), (std::vector<std::int64_t>{1000, 2}));
  EXPECT_EQ(data.targets.sizes(), (std::vector<std::int64_t>{1000, 1}));
  EXPECT_EQ(data.inputs.scalar_type(), at::kFloat);
  EXPECT_EQ(data.targets.scalar_type(), at::kFloat);
  // Even rows class 0, odd rows class 1: every prefix of even length is balanced.
  EXPECT_TRUE(data.targets.slice(0, 0, 1000, 2).eq(0).all().item<bool>());
  EXPECT_TRUE(data.targets.slice(0, 1, 1000, 2).eq(1).all().item<bool>());
  EXPECT_DOUBLE_EQ(data.gap, 0.5);
}

TEST(RingData, RadiiFollowTheGap) {
  EXPECT_EQ(tasks::ring_radii(0.5), std::make_pair(0.25, 0.75));
  const auto [inner9, outer9] = tasks::ring_radii(0.9);
  EXPECT_NEAR(inner9, 0.05, 1e-12);
  EXPECT_NEAR(outer9, 0.95, 1e-12);
  for (const double gap : {0.5, 0.9, 0.1}) {
    const RingDataset data = tasks::generate_ring_data(2000, gap, 5);
    const at::Tensor r = radii(data.inputs.to(at::kDouble));
    const at::Tensor r0 = r.slice(0, 0, 2000, 2), r1 = r.slice(0, 1, 2000, 2);
    const auto [inner, outer] = tasks::ring_radii(gap);
    EXPECT_LE(r0.max().item<double>(), inner + 1e-6) << gap;
    EXPECT_GE(r1.min().item<double>(), outer - 1e-6) << gap;
    EXPECT_LE(r1.max().item<double>(), 1.0 + 1e-6) << gap;
    // The classes are separated by (at least) the gap, and the data fill the bands.
    EXPECT_GE(r1.min().item<double>() - r0.max().item<double>(), gap - 1e-6) << gap;
    EXPECT_GT(r1.min().item<double>(), outer - 0.02) << gap;
    EXPECT_LT(r1.max().item<double>() - 1.0, 1e-6);
    EXPECT_GT(r1.max().item<double>(), 0.98) << gap;
  }
}

// Angles are the fixed θ_k = 2πk/M: every class point is (a cos θ_k, b sin θ_k) for some k,
// with a and b within the class's radii (the angle itself is jittered, as upstream).
TEST(RingData, FixedAnglesWithIndependentRadialJitter) {
  constexpr std::int64_t n = 200, m = n / 2;
  const RingDataset data = tasks::generate_ring_data(n, 0.5, 11);
  for (const int cls : {0, 1}) {
    const double r_in = cls == 0 ? 0.0 : 0.75, r_out = cls == 0 ? 0.25 : 1.0;
    for (std::int64_t row = cls; row < n; row += 2) {
      const float x = data.inputs[row][0].item<float>(), y = data.inputs[row][1].item<float>();
      bool found = false;
      for (std::int64_t k = 0; k < m && !found; ++k) {
        const float theta = static_cast<float>(2 * M_PI * static_cast<double>(k) / m);
        const auto within = [&](double value, double axis) {
          if (std::abs(axis) < 1e-6) return std::abs(value) < 1e-5;
          const double a = value / axis;
          return a >= r_in - 1e-5 && a <= r_out + 1e-5;
        };
        found = within(x, std::cos(theta)) && within(y, std::sin(theta));
      }
      EXPECT_TRUE(found) << "class " << cls << " row " << row << ": (" << x << ", " << y << ")";
    }
  }
  // Not area-uniform: points are not on a circle of one radius but keep their angle's signs.
  EXPECT_GT(radii(data.inputs.slice(0, 1, n, 2)).std().item<double>(), 0.01);
}

TEST(RingData, SeededAndReproducible) {
  const RingDataset a = tasks::generate_ring_data(400, 0.3, 7);
  const RingDataset b = tasks::generate_ring_data(400, 0.3, 7);
  const RingDataset c = tasks::generate_ring_data(400, 0.3, 8);
  EXPECT_TRUE(at::equal(a.inputs, b.inputs));
  EXPECT_TRUE(at::equal(a.targets, b.targets));
  EXPECT_FALSE(at::equal(a.inputs, c.inputs));
  EXPECT_EQ(a.seed, 7u);
}

TEST(RingData, ContiguousBalancedSplit) {
  const auto sizes = [](std::int64_t n, std::vector<double> p) {
    const auto s = tasks::split_ring_data(tasks::generate_ring_data(n, 0.5, 1), p);
    return std::vector<std::int64_t>{s.train.inputs.size(0), s.validation.inputs.size(0),
                                     s.test.inputs.size(0)};
  };
  EXPECT_EQ(sizes(5000, {0.6, 0.2, 0.2}), (std::vector<std::int64_t>{3000, 1000, 1000}));
  EXPECT_EQ(sizes(1500, {0.6, 0.2, 0.2}), (std::vector<std::int64_t>{900, 300, 300}));
  // Upstream's exact float equality rejected 0.7/0.2/0.1 (§6.13); odd splits are kept even.
  EXPECT_EQ(sizes(1000, {0.7, 0.2, 0.1}), (std::vector<std::int64_t>{700, 200, 100}));
  EXPECT_EQ(sizes(10, {0.5, 0.5}), (std::vector<std::int64_t>{4, 0, 6}));
  const RingDataset data = tasks::generate_ring_data(100, 0.5, 1);
  const auto split = tasks::split_ring_data(data, {0.6, 0.2, 0.2});
  EXPECT_TRUE(at::equal(split.validation.inputs, data.inputs.slice(0, 60, 80)));
  EXPECT_DOUBLE_EQ(split.test.targets.mean().item<double>(), 0.5);
}

TEST(RingData, BadInputIsAClearError) {
  for (const double gap : {0.0, 1.0, 1.2, -0.1, std::nan("")}) {
    try {
      tasks::generate_ring_data(100, gap, 0);
      ADD_FAILURE() << "gap " << gap << " accepted";
    } catch (const ArgumentError& e) {
      EXPECT_THAT(e.what(), HasSubstr("gap must lie strictly between 0 and 1"));
    }
  }
  EXPECT_THROW(tasks::generate_ring_data(0, 0.5, 0), ArgumentError);
  EXPECT_THROW(tasks::generate_ring_data(101, 0.5, 0), ArgumentError);
  RingDataset empty;
  empty.inputs = at::empty({0, 2});
  empty.targets = at::empty({0, 1});
  try {
    tasks::split_ring_data(empty, {0.6, 0.2, 0.2});
    ADD_FAILURE() << "empty dataset accepted";
  } catch (const ArgumentError& e) {
    EXPECT_THAT(e.what(), HasSubstr("empty"));
  }
  const RingDataset data = tasks::generate_ring_data(100, 0.5, 1);
  EXPECT_THROW(tasks::split_ring_data(data, {0.6, 0.3, 0.2}), ArgumentError);
  EXPECT_THROW(tasks::split_ring_data(data, {1.0, 0.0, 0.0}), ArgumentError);  // no test set
}

// --- options

std::filesystem::path upstream_tasks() { return testing::reference_dir() / "upstream-files/tasks"; }

TEST(RingOptions, FromUpstreamRingYaml) {
  const RingOptions o = RingOptions::from_config(Config::load(upstream_tasks() / "ring.yaml"));
  EXPECT_DOUBLE_EQ(o.gap(), 0.5);
  EXPECT_EQ(o.sample_no(), 5000);
  EXPECT_EQ(o.split_percentages(), (std::vector<double>{0.6, 0.2, 0.2}));
  EXPECT_FALSE(o.data_file().has_value());
  EXPECT_EQ(o.runs(), 2);
  EXPECT_EQ(o.algorithm(), "gradient");
  EXPECT_EQ(o.criterion(), "fisher");
  EXPECT_EQ(o.gradient().epochs(), 400);
  EXPECT_DOUBLE_EQ(o.gradient().learning_rate(), 0.001);
  EXPECT_EQ(o.gradient().batch_size(), 512);  // data.batch_size
  EXPECT_EQ(o.gradient().constraint(), "regul");
  EXPECT_EQ(o.model_file(), "training_data.pt");
  EXPECT_EQ(o.input_indices(), (std::vector<std::int64_t>{0, 6}));
  EXPECT_FALSE(o.processor().has("model_dir"));
  EXPECT_EQ(o.results_dir(), "tmp/ring");
  const auto gaps = o.capacity_gaps();
  ASSERT_EQ(gaps.size(), 6u);  // 0.4 … 0.0125 (§2.4)
  EXPECT_DOUBLE_EQ(gaps.front(), 0.4);
  EXPECT_DOUBLE_EQ(gaps.back(), 0.0125);
}

TEST(RingOptions, GeneticDefaultsFromUpstream) {
  const Config configs = Config::parse(
      "algorithm: !include defaults/algorithms/ga/ring.yaml\n"
      "processor: !include defaults/processors/simulation.yaml\n",
      "<test>", upstream_tasks());
  const RingOptions o = RingOptions::from_config(configs);
  EXPECT_EQ(o.algorithm(), "genetic");
  EXPECT_EQ(o.criterion(), "fisher_fit");
  EXPECT_EQ(o.genetic().generations(), 100);
  EXPECT_EQ(o.genetic().partition(), (std::vector<std::int64_t>{4, 22}));
}

TEST(RingOptions, BadValuesNameTheKeyAndTheValidChoices) {
  try {
    RingOptions::from_config(Config::parse("algorithm: {type: simulated_annealing}"));
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "algorithm.type");
    EXPECT_THAT(e.what(), HasSubstr("valid: genetic or ga, gradient or gd"));
  }
  try {
    RingOptions::from_config(Config::parse("algorithm: {type: gradient, criterion: fishr}"));
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("fisher"));
  }
  try {  // not differentiable
    RingOptions::from_config(Config::parse("algorithm: {type: gd, criterion: accuracy_fit}"));
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "algorithm.criterion");
    EXPECT_THAT(e.what(), HasSubstr("valid: "));
  }
  EXPECT_THROW(RingOptions::from_config(Config::parse("data: {gap: 1.2}")), ConfigError);
  EXPECT_THROW(RingOptions::from_config(Config::parse("data: {gap: 0}")), ConfigError);
  EXPECT_THROW(RingOptions().gap(0.0).validate(), ArgumentError);
  EXPECT_THROW(RingOptions().select_by("train").validate(), ArgumentError);
}

// --- training on the fixture surrogate

// Small and fast: GD full batch; both algorithms on the same electrodes.
RingOptions fixture_options(const std::string& algorithm, const std::filesystem::path& out) {
  RingOptions o;
  o.results_dir(out).sample_no(600).gap(0.5).seed(1).runs(2).input_indices({3, 4});
  o.processor(Config::parse("processor_type: simulation\nwaveform: {plateau_length: 1, slope_length: 0}"));
  if (algorithm == "genetic") {
    o.algorithm("genetic").criterion("fisher_fit");
    o.genetic(algorithms::GeneticOptions().generations(40).progress(false));
  } else {
    o.algorithm("gradient").criterion("fisher");
    o.gradient(algorithms::GradientDescentOptions().epochs(150).learning_rate(0.02).constraint("clip").progress(false));
  }
  return o;
}

TEST(RingClassifier, GradientDescentSeparatesTheRing) {
  TempDir dir;
  const RingOptions o = fixture_options("gradient", dir.path());
  const auto run = tasks::ring_classifier(testing::fixture_processor(), tasks::ring_dataset(o), o);
  std::printf("GD gap 0.5: train %.2f %%, validation %.2f %%, test %.2f %% (%.2f s)\n",
              run.train.accuracy_percent, run.validation.accuracy_percent, run.test.accuracy_percent,
              run.seconds);
  EXPECT_GE(run.test.accuracy_percent, 90.0);
  EXPECT_EQ(run.algorithm, "gradient");
  EXPECT_EQ(run.history.size(), 150u);
  EXPECT_EQ(run.second_history.size(), 150u);  // validation losses
  for (const auto* file : {"config.yaml", "summary.json", "results.npz", "input.png", "outputs.png",
                           "training_profile.png"})
    EXPECT_TRUE(std::filesystem::exists(run.run_dir / file)) << file;
  EXPECT_THAT(run.run_dir.filename().string(), StartsWith("ring_classification_gap_0.5_"));
  const auto summary = nlohmann::json::parse(std::ifstream(run.run_dir / "summary.json"));
  EXPECT_EQ(summary["task"], "ring_classifier");
  EXPECT_DOUBLE_EQ(summary["test_accuracy_percent"].get<double>(), run.test.accuracy_percent);
  EXPECT_EQ(summary["seed"], "1");
  const io::NpzFile npz = io::read_npz(run.run_dir / "results.npz");
  EXPECT_EQ(npz.tensor("test_output").size(0), 120);
  EXPECT_EQ(npz.tensor("control_voltages").numel(), 5);
}

TEST(RingClassifier, GeneticAlgorithmSeparatesTheRing) {
  TempDir dir;
  const RingOptions o = fixture_options("genetic", dir.path());
  const auto run = tasks::ring_classifier(testing::fixture_processor(), tasks::ring_dataset(o), o);
  std::printf("GA gap 0.5: train %.2f %%, validation %.2f %%, test %.2f %% (%.2f s)\n",
              run.train.accuracy_percent, run.validation.accuracy_percent, run.test.accuracy_percent,
              run.seconds);
  EXPECT_GE(run.test.accuracy_percent, 90.0);
  EXPECT_EQ(run.algorithm, "genetic");
  EXPECT_EQ(run.history.size(), 40u);
  EXPECT_TRUE(std::filesystem::exists(run.run_dir / "training_profile.png"));
}

// A narrow gap (r ≤ 0.45 against r ≥ 0.55) is a real test: the fixture's device has to bend
// its output around a circle. Measured: see the printed accuracies.
TEST(RingClassifier, NarrowGapWithBothAlgorithms) {
  for (const std::string algorithm : {"gradient", "genetic"}) {
    TempDir dir;
    RingOptions o = fixture_options(algorithm, dir.path());
    o.gap(0.1).sample_no(1000);
    if (algorithm == "gradient") o.gradient().epochs(300);
    else o.genetic().generations(80);
    const auto run = tasks::ring_classifier(testing::fixture_processor(), tasks::ring_dataset(o), o);
    std::printf("%s gap 0.1: train %.2f %%, validation %.2f %%, test %.2f %% (%.2f s)\n",
                algorithm.c_str(), run.train.accuracy_percent, run.validation.accuracy_percent,
                run.test.accuracy_percent, run.seconds);
    EXPECT_GE(run.test.accuracy_percent, 90.0) << algorithm;  // a linear cut cannot pass ~75 %
  }
}

TEST(RingSearcher, BestRunByTestAccuracy) {
  TempDir dir;
  RingOptions o = fixture_options("gradient", dir.path());
  o.gradient().epochs(60);
  const auto data = tasks::ring_dataset(o);
  const auto search = tasks::ring_searcher(testing::fixture_processor(), data, o);
  ASSERT_EQ(search.runs.size(), 2u);
  EXPECT_NE(search.runs[0].seed, search.runs[1].seed);
  for (const auto& run : search.runs)
    EXPECT_LE(run.test.accuracy_percent, search.runs[search.best].test.accuracy_percent);
  EXPECT_THAT(search.run_dir.filename().string(), StartsWith("searcher_0.5gap_"));
  const io::NpzFile npz = io::read_npz(search.run_dir / "results.npz");
  EXPECT_EQ(npz.tensor("seeds").scalar_type(), at::kLong);  // not float32 (§6.12)
  EXPECT_EQ(npz.tensor("seeds")[1].item<std::int64_t>(), static_cast<std::int64_t>(search.runs[1].seed));
  EXPECT_EQ(npz.tensor("accuracy_per_run").sizes(), (std::vector<std::int64_t>{2, 3}));
  EXPECT_TRUE(std::filesystem::exists(search.run_dir / "accuracy_vs_fisher.png"));
  EXPECT_THAT(tasks::ring_table(search), HasSubstr("test %"));
  // The same seed gives the same search.
  const auto again = tasks::ring_searcher(testing::fixture_processor(), data, o);
  EXPECT_EQ(again.runs[1].seed, search.runs[1].seed);
  EXPECT_DOUBLE_EQ(again.runs[1].test.accuracy_percent, search.runs[1].test.accuracy_percent);
}

// select_by: validation keeps the test set out of the choice (§6.16).
TEST(RingSearcher, SelectByValidation) {
  TempDir dir;
  RingOptions o = fixture_options("genetic", dir.path());
  o.genetic().generations(5);
  o.gap(0.05).runs(3).select_by("validation");
  const auto search = tasks::ring_searcher(testing::fixture_processor(), tasks::ring_dataset(o), o);
  for (const auto& run : search.runs)
    EXPECT_LE(run.validation.accuracy_percent, search.runs[search.best].validation.accuracy_percent);
  const auto summary = nlohmann::json::parse(std::ifstream(search.run_dir / "summary.json"));
  EXPECT_EQ(summary["select_by"], "validation");
}

TEST(RingCapacity, TwoGapsWriteTableAndCurve) {
  TempDir dir;
  RingOptions o = fixture_options("gradient", dir.path());
  o.gradient().epochs(60);
  o.runs(1).sample_no(400).gaps({0.5, 0.25});
  const auto capacity = tasks::ring_capacity(testing::fixture_processor(), o);
  ASSERT_EQ(capacity.rows.size(), 2u);
  EXPECT_DOUBLE_EQ(capacity.rows[1].gap, 0.25);
  for (const auto* file : {"capacity_table.csv", "capacity.png", "capacity.csv", "summary.json",
                           "results.npz", "config.yaml"})
    EXPECT_TRUE(std::filesystem::exists(capacity.run_dir / file)) << file;
  EXPECT_TRUE(std::filesystem::is_directory(capacity.rows[0].searcher_dir));
  EXPECT_EQ(capacity.rows[0].searcher_dir.parent_path(), capacity.run_dir);
  const auto summary = nlohmann::json::parse(std::ifstream(capacity.run_dir / "summary.json"));
  ASSERT_EQ(summary["table"].size(), 2u);
  EXPECT_DOUBLE_EQ(summary["table"][0]["gap"].get<double>(), 0.5);
  EXPECT_THAT(tasks::ring_table(capacity), HasSubstr("0.25"));
}

TEST(RingClassifier, UnknownAlgorithmIsAnError) {
  TempDir dir;
  RingOptions o = fixture_options("gradient", dir.path());
  o.algorithm("annealing");
  EXPECT_THROW(tasks::ring_classifier(testing::fixture_processor(), tasks::ring_dataset(o), o),
               ConfigError);
}

// --- command line

std::filesystem::path write_fixture_model(const TempDir& dir) {
  processors::SurrogateFile file{testing::fixture_info(), testing::fixture_state_dict(),
                                 io::PyValue::dict()};
  const auto path = dir / "fixture.pt";
  file.save(path);
  return path;
}

std::string small_config(const TempDir& dir) {
  return dir
      .write("ring.yaml",
             "data: {gap: 0.3, sample_no: 400, split_percentages: [0.6, 0.2, 0.2], batch_size: 512}\n"
             "algorithm: {type: gradient, epochs: 40, learning_rate: 0.02, criterion: fisher}\n"
             "processor: {processor_type: simulation, input_indices: [3, 4],\n"
             "            waveform: {plateau_length: 1, slope_length: 0}}\n")
      .string();
}

TEST(RingCli, RunsAndWritesARunDirectory) {
  TempDir dir;
  const auto model = write_fixture_model(dir);
  const auto result = testing::run_brains("ring --gap 0.5 --config '" + small_config(dir) + "' --model '" +
                                          model.string() + "' --seed 2 -q --out '" + (dir / "out").string() + "'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("ring gap 0.5"));
  int runs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "out")) {
    EXPECT_THAT(entry.path().filename().string(), StartsWith("ring_classification_gap_0.5_"));
    const auto saved = Config::load(entry.path() / "config.yaml");
    EXPECT_DOUBLE_EQ(saved.at("data").get<double>("gap"), 0.5);  // the flag, recorded
    EXPECT_EQ(saved.get<std::int64_t>("seed"), 2);
    ++runs;
  }
  EXPECT_EQ(runs, 1);
}

TEST(RingCli, GeneticAlgorithmFlag) {
  TempDir dir;
  const auto model = write_fixture_model(dir);
  const auto result = testing::run_brains("ring --algorithm ga --epochs 5 --config '" + small_config(dir) +
                                          "' --model '" + model.string() + "' -q --out '" +
                                          (dir / "out").string() + "'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("test %"));
}

TEST(RingCli, BadFlagsExitTwoWithOneLine) {
  TempDir dir;
  const auto model = write_fixture_model(dir);
  const std::string base = "ring --model '" + model.string() + "' --out '" + (dir / "out").string() + "' ";
  for (const std::string flags : {"--gap 1.2", "--gap 0", "--algorithm simplex", "--mode search"}) {
    const auto result = testing::run_brains(base + flags);
    EXPECT_EQ(result.exit_code, 2) << flags;
    EXPECT_THAT(result.err, StartsWith("brains: error: ")) << flags;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << flags << result.err;
  }
  const auto bad = dir.write("bad.yaml", "algorithm: {type: gradient, criterion: nonsense}\n");
  const auto result = testing::run_brains(base + "--config '" + bad.string() + "'");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, StartsWith("brains: error: algorithm.criterion"));
  EXPECT_THAT(result.err, HasSubstr("fisher"));
  const auto no_model = testing::run_brains("ring --out '" + (dir / "out").string() + "'");
  EXPECT_EQ(no_model.exit_code, 2);
  EXPECT_THAT(no_model.err, HasSubstr("--model"));
}

}  // namespace
}  // namespace brains
