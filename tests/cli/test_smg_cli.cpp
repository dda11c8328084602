// `brains postprocess` and `brains train-surrogate` on upstream's sampled data.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "brains/io/npz.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace brains {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::reference_dir;
using testing::run_brains;
using testing::TempDir;

namespace fs = std::filesystem;

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

fs::path copy_gathering(const TempDir& dir) {
  const fs::path smg = reference_dir() / "upstream-files" / "smg";
  dir.write("gathering/IO.dat", read_text(smg / "IO.dat"));
  dir.write("gathering/sampler_configs.json", read_text(smg / "sampler_configs.json"));
  return dir / "gathering";
}

TEST(SmgCli, PostprocessThenTrain) {
  TempDir dir;
  const fs::path gathering = copy_gathering(dir);
  const auto post = run_brains("postprocess -q '" + gathering.string() + "' --clipping=-4,4");
  ASSERT_EQ(post.exit_code, 0) << post.err;
  EXPECT_THAT(post.out, HasSubstr("94 of 100 samples kept (6% cropped)"));
  EXPECT_EQ(io::read_npz(gathering / "postprocessed_data.npz").tensor("inputs").size(0), 94);

  const fs::path config = dir.write("train.yaml", R"(
model_structure: {D_in: 7, D_out: 1, hidden_sizes: [16, 16], activation: tanh}
hyperparameters: {epochs: 50, learning_rate: 0.001}
plots: false
data:
  dataset_paths: [unused.npz]
  batch_size: 16
  split_percentages: [0.8, 0.1, 0.1]
)");
  const auto train = run_brains("train-surrogate -q --config '" + config.string() + "' --data '" +
                                (gathering / "postprocessed_data.npz").string() + "' --epochs 4 --seed 5 --out '" +
                                (dir / "runs").string() + "'");
  ASSERT_EQ(train.exit_code, 0) << train.err;
  EXPECT_THAT(train.out, HasSubstr("TRAINING"));
  EXPECT_THAT(train.out, HasSubstr("VALIDATION"));
  EXPECT_THAT(train.out, HasSubstr("TEST"));
  EXPECT_THAT(train.out, HasSubstr("4 epochs"));
  EXPECT_THAT(train.out, HasSubstr("seed 5"));
  const auto model = train.out.substr(train.out.find("model: ") + 7);
  EXPECT_TRUE(fs::exists(model.substr(0, model.find('\n'))));
}

TEST(SmgCli, BadInputExitsTwoWithOneLine) {
  TempDir dir;
  const fs::path gathering = copy_gathering(dir);
  const auto clipping = run_brains("postprocess -q '" + gathering.string() + "' --clipping=4,-4");
  EXPECT_EQ(clipping.exit_code, 2);
  EXPECT_THAT(clipping.err, StartsWith("brains: error: --clipping"));

  const fs::path config = dir.write("train.yaml", R"(
model_structure: {D_in: 7, D_out: 1, hidden_sizes: [16], activation: relu}
data:
  dataset_paths: [data.npz]
  split_percentages: [0.8, 0.3]
)");
  const auto split = run_brains("train-surrogate -q --config '" + config.string() + "'");
  EXPECT_EQ(split.exit_code, 2);
  EXPECT_THAT(split.err, StartsWith("brains: error: data.split_percentages: expected fractions summing to 1"));
  EXPECT_EQ(std::count(split.err.begin(), split.err.end(), '\n'), 1);

  const auto missing = run_brains("postprocess -q '" + (dir / "nothing").string() + "'");
  EXPECT_EQ(missing.exit_code, 2);
}

}  // namespace
}  // namespace brains
