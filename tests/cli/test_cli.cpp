// The `brains` executable: help, version, `info` on every reference file, and bad input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "support/run_command.h"
#include "support/temp_dir.h"

namespace brains {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::reference_dir;
using testing::run_brains;

TEST(Cli, HelpAndVersion) {
  const auto help = run_brains("--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("info"));
  const auto version = run_brains("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, StartsWith("brains 0."));
}

TEST(Cli, UsageErrorsExitTwoWithOneLine) {
  const auto none = run_brains("");
  EXPECT_EQ(none.exit_code, 2);
  const auto unknown = run_brains("frobnicate");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, StartsWith("brains: error: "));
  const auto missing = run_brains("info /nonexistent.pt");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, StartsWith("brains: error: "));
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1);
}

TEST(Cli, InfoOnASurrogateShowsModelStructureAndShapes) {
  const auto result = run_brains("info '" + (reference_dir() / "parity/seed1/surrogate.pt").string() + "'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const YAML::Node info = YAML::Load(result.out);
  const YAML::Node content = info["content"];
  ASSERT_TRUE(content["info"]["model_structure"]);
  EXPECT_TRUE(content["info"]["electrode_info"]["activation_electrodes"]);
  EXPECT_THAT(content["model_state_dict"]["raw_model.0.weight"].as<std::string>(),
              HasSubstr("tensor float32 ["));
}

TEST(Cli, InfoOnEveryReferenceFile) {
  int described = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(reference_dir())) {
    if (!entry.is_regular_file()) continue;
    const auto extension = entry.path().extension().string();
    if (extension == ".md") continue;
    const auto result = run_brains("info '" + entry.path().string() + "'");
    EXPECT_EQ(result.exit_code, 0) << entry.path() << ": " << result.err;
    EXPECT_NO_THROW(YAML::Load(result.out)) << entry.path();
    EXPECT_TRUE(YAML::Load(result.out)["format"]) << entry.path();
    ++described;
  }
  EXPECT_GE(described, 50);
}

TEST(Cli, InfoOnIoDatReportsSamplesAndColumns) {
  const auto result = run_brains("info '" + (reference_dir() / "upstream-files/smg/IO.dat").string() + "'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const YAML::Node info = YAML::Load(result.out);
  EXPECT_EQ(info["samples"].as<int>(), 100);
  EXPECT_EQ(info["inputs"].as<int>(), 7);
  EXPECT_EQ(info["outputs"].as<int>(), 1);
  EXPECT_NEAR(info["max"][7].as<double>(), 6.3265903968, 1e-9);
}

TEST(Cli, InfoOnBadFilesFailsCleanly) {
  testing::TempDir dir;
  const auto corrupt = dir.write("broken.npz", "PK\x03\x04 this is not a zip archive");
  const auto bad_yaml = dir.write("bad.yaml", "a: [1, 2\n");
  const auto ragged = dir.write("IO.dat", "# Input 0, Output 0\n1.0 2.0\n3.0\n");
  const auto unknown = dir.write("data.xyz", "hello");
  for (const auto& file : {corrupt, bad_yaml, ragged, unknown}) {
    const auto result = run_brains("info '" + file.string() + "'");
    EXPECT_EQ(result.exit_code, 2) << file;
    EXPECT_THAT(result.err, StartsWith("brains: error: ")) << file;
    EXPECT_THAT(result.err, HasSubstr(file.filename().string())) << file;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  }
  const auto ragged_result = run_brains("info '" + ragged.string() + "'");
  EXPECT_THAT(ragged_result.err, HasSubstr("line 3"));
}

}  // namespace
}  // namespace brains
