#include "brains/smg/dataset.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "brains/core/error.h"
#include "brains/io/npz.h"
#include "support/temp_dir.h"

namespace brains::smg {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::reference_dir;
using testing::TempDir;

namespace fs = std::filesystem;

fs::path upstream_npz() { return reference_dir() / "upstream-files/smg/postprocessed_data.npz"; }

std::string config_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no ConfigError>";
}

// A copy of upstream's postprocessed data with another amplification.
fs::path with_amplification(const TempDir& dir, double amplification) {
  const io::NpzFile npz = io::read_npz(upstream_npz());
  io::PyValue configs = npz.get("sampling_configs");
  io::PyValue driver = io::PyValue::dict(configs.at("driver").dict_items());
  driver.set("amplification", io::PyValue::list({io::PyValue::floating(amplification)}));
  io::PyValue copy = io::PyValue::dict(configs.dict_items());
  copy.set("driver", driver);
  const fs::path file = dir / "other.npz";
  io::write_npz(file, {{"inputs", npz.get("inputs")}, {"outputs", npz.get("outputs")}, {"sampling_configs", copy}});
  return file;
}

DataOptions options_for(std::vector<std::optional<fs::path>> paths) {
  DataOptions options;
  options.dataset_paths = std::move(paths);
  return options;
}

TEST(Dataset, SplitLengthsAsUpstream) {
  EXPECT_THAT(split_lengths(94, {0.8, 0.1, 0.1}), ElementsAre(76, 9, 9));
  EXPECT_THAT(split_lengths(32, {0.8, 0.1, 0.1}), ElementsAre(26, 3, 3));
  EXPECT_THAT(split_lengths(24, {0.8, 0.1, 0.1}), ElementsAre(20, 2, 2));
  EXPECT_THAT(split_lengths(94, {0.8, 0.2}), ElementsAre(76, 18));
  EXPECT_THAT(split_lengths(32, {0.8, 0.2}), ElementsAre(26, 6));
  EXPECT_THAT(split_lengths(94, {1.0}), ElementsAre(94));
  // 0.7 · 10 is 7.000000000000001 in floating point: still 7 rows.
  EXPECT_THAT(split_lengths(10, {0.7, 0.3}), ElementsAre(7, 3));
}

TEST(Dataset, StepsSubsampleAndTargetsAreOutputsOverAmplification) {
  for (const auto& [steps, rows] : std::vector<std::pair<int, int>>{{1, 94}, {3, 32}, {4, 24}, {5, 19}, {10, 10}})
    EXPECT_EQ(ModelDataset::load(upstream_npz(), steps).size(), rows) << steps;
  const ModelDataset data = ModelDataset::load(upstream_npz());
  EXPECT_EQ(data.inputs.scalar_type(), at::kFloat);
  EXPECT_EQ(data.targets.scalar_type(), at::kFloat);
  EXPECT_THAT(data.amplification, ElementsAre(39.5));
  // Spec §5.3: the RMS of the targets.
  EXPECT_NEAR(data.targets.to(at::kDouble).square().mean().sqrt().item<double>(), 0.0374133190, 1e-8);
  const at::Tensor outputs = io::read_npz(upstream_npz()).tensor("outputs");
  EXPECT_TRUE(at::allclose(data.targets.to(at::kDouble), outputs / 39.5, 1e-7, 0));
  const ModelDataset third = ModelDataset::load(upstream_npz(), 3);
  EXPECT_TRUE(at::equal(third.inputs[1], data.inputs[3]));
}

TEST(Dataset, MissingFileIsAConfigErrorNamingTheKey) {
  EXPECT_THAT(config_error([] { ModelDataset::load("/nonexistent/data.npz", 1, "data.dataset_paths[2]"); }),
              HasSubstr("data.dataset_paths[2]: file not found"));
}

TEST(Dataset, SplitFractionsMustSumToOne) {
  const auto parse = [](const std::string& fractions) {
    return DataOptions::from_config(
        Config::parse("data:\n  dataset_paths: [a.npz]\n  split_percentages: " + fractions + "\n").at("data"));
  };
  EXPECT_THAT(config_error([&] { parse("[0.7, 0.2, 0.2]"); }),
              HasSubstr("data.split_percentages: expected fractions summing to 1"));
  EXPECT_THAT(config_error([&] { parse("[0.5, 0.2, 0.2, 0.1]"); }), HasSubstr("1 to 3 fractions"));
  // Rejected upstream by its exact float comparison, accepted here within the tolerance.
  EXPECT_THAT(parse("[0.7, 0.2, 0.1]").split_percentages, ElementsAre(0.7, 0.2, 0.1));
  EXPECT_THAT(parse("[0.6, 0.3, 0.1]").split_percentages, ElementsAre(0.6, 0.3, 0.1));
  EXPECT_THAT(config_error([] {
                DataOptions::from_config(Config::parse("data:\n  dataset_paths: [a.npz]\n  split_mode: time\n").at("data"));
              }),
              HasSubstr("data.split_mode"));
}

TEST(Dataset, DatasetWhoseAmplificationDiffersFromTheTrainingSetsIsRejected) {
  TempDir dir;
  const fs::path other = with_amplification(dir, 28.5);
  const std::string message =
      config_error([&] { load_surrogate_data(options_for({upstream_npz(), other}), 1); });
  EXPECT_THAT(message, HasSubstr("data.dataset_paths[1]: amplification [28.5]"));
  EXPECT_THAT(message, HasSubstr("differs from the training set's [39.5]"));
  // The same amplification is fine, also for the test set.
  const fs::path same = with_amplification(dir, 39.5);
  const SurrogateData data = load_surrogate_data(options_for({upstream_npz(), std::nullopt, same}), 1);
  EXPECT_TRUE(data.splits[0].has_value());
  EXPECT_FALSE(data.splits[1].has_value());  // a null path leaves the split out
  ASSERT_TRUE(data.splits[2].has_value());
  EXPECT_EQ(data.splits[2]->label, "TEST");
  EXPECT_TRUE(data.test_sampling_configs.has_value());
  EXPECT_EQ(data.sampling_configs.find("electrode_info"), nullptr);
  EXPECT_EQ(data.electrode_info.at("electrode_no").as_int(), 8);
}

TEST(Dataset, RandomSplitIsAPartition) {
  DataOptions options = options_for({upstream_npz()});
  const SurrogateData data = load_surrogate_data(options, 7);
  ASSERT_TRUE(data.splits[1] && data.splits[2]);
  EXPECT_EQ(data.splits[0]->size(), 76);
  EXPECT_EQ(data.splits[1]->size(), 9);
  EXPECT_EQ(data.splits[2]->size(), 9);
  const at::Tensor all = at::cat({data.splits[0]->inputs, data.splits[1]->inputs, data.splits[2]->inputs});
  const at::Tensor original = ModelDataset::load(upstream_npz()).inputs;
  // Same rows in another order: sorting by the first column gives the same matrix.
  const auto sorted = [](const at::Tensor& x) { return x.index_select(0, std::get<1>(x.select(1, 0).sort())); };
  EXPECT_TRUE(at::equal(sorted(all), sorted(original)));
  // The seed decides the split.
  EXPECT_TRUE(at::equal(load_surrogate_data(options, 7).splits[2]->inputs, data.splits[2]->inputs));
  EXPECT_FALSE(at::equal(load_surrogate_data(options, 8).splits[2]->inputs, data.splits[2]->inputs));
}

TEST(Dataset, TimeBlockSplitSharesNoNeighboursBetweenSplits) {
  const std::int64_t n = 1003;
  const auto splits = time_block_split(n, 50, {0.6, 0.2, 0.2}, 3);
  std::vector<int> split_of(n, -1);  // -1: dropped
  std::int64_t total = 0;
  for (int s = 0; s < 3; ++s) {
    total += splits[s].numel();
    for (std::int64_t i = 0; i < splits[s].numel(); ++i) split_of[splits[s][i].item<std::int64_t>()] = s;
  }
  EXPECT_GT(splits[0].numel(), 550);
  EXPECT_GT(splits[1].numel(), 140);  // 4 of 21 blocks (the last has 3 rows)
  EXPECT_GT(splits[2].numel(), 140);
  for (std::int64_t i = 1; i < n; ++i)
    if (split_of[i] >= 0 && split_of[i - 1] >= 0) EXPECT_EQ(split_of[i], split_of[i - 1]) << i;
  // Only one row per change of split is lost, and blocks stay whole otherwise.
  std::int64_t changes = 0;
  for (std::int64_t b = 1; b * 50 < n; ++b) {
    const int before = split_of[b * 50 - 1];
    const int after = split_of[b * 50 + 1 < n ? b * 50 + 1 : b * 50];
    if (before != after) ++changes;
  }
  EXPECT_EQ(total, n - changes);
  // The training split is in time order.
  EXPECT_TRUE(at::equal(splits[0], std::get<0>(splits[0].sort())));
}

TEST(Dataset, TimeBlockSplitOfAFile) {
  DataOptions options = options_for({upstream_npz()});
  options.split_mode = SplitMode::time_blocks;
  options.block_size = 10;
  const SurrogateData data = load_surrogate_data(options, 2);
  std::int64_t total = 0;
  for (const auto& split : data.splits) total += split ? split->size() : 0;
  EXPECT_LE(total, 94);
  EXPECT_GE(total, 94 - 9);  // at most one row per block boundary is dropped
  EXPECT_GE(data.splits[0]->size(), 70);
  // Without block_size the sampler batch (100 rows for this file) is one block: with 94 rows
  // there is a single block and nothing left for validation and test.
  options.block_size.reset();
  const SurrogateData one_block = load_surrogate_data(options, 2);
  EXPECT_EQ(one_block.splits[0]->size(), 94);
  EXPECT_FALSE(one_block.splits[1].has_value());
}

}  // namespace
}  // namespace brains::smg
