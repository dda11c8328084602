#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "brains/core/config.h"
#include "support/temp_dir.h"

namespace brains {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(Config, TypedGettersWithDefaults) {
  const Config config = Config::parse(
      "processor_type: simulation\nwaveform:\n  plateau_length: 10\n  slope_length: 2.5\n"
      "ranges: [[-1.2, 0.6], [-0.7, 0.3]]\nflags: [1, 2, 3]\nnoise: null\n");
  EXPECT_EQ(config.get<std::string>("processor_type"), "simulation");
  EXPECT_EQ(config.at("waveform").get<int>("plateau_length"), 10);
  EXPECT_DOUBLE_EQ(config.at("waveform").get<double>("slope_length"), 2.5);
  EXPECT_EQ(config.get<int>("missing", 7), 7);
  EXPECT_FALSE(config.has("noise"));  // null counts as absent, as in brains-py
  const auto ranges = config.get<std::vector<std::vector<double>>>("ranges");
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_DOUBLE_EQ(ranges[1][0], -0.7);
  EXPECT_EQ(config.get<std::vector<std::int64_t>>("flags"), (std::vector<std::int64_t>{1, 2, 3}));
}

TEST(Config, ErrorsNameTheFullKeyPath) {
  const Config config = Config::parse("processor:\n  waveform:\n    slope_length: abc\n");
  const Config waveform = config.at("processor").at("waveform");
  EXPECT_EQ(message_of([&] { waveform.get<int>("slope_length"); }),
            "processor.waveform.slope_length: expected an integer, got 'abc'");
  EXPECT_EQ(message_of([&] { waveform.get<int>("plateau_length"); }),
            "processor.waveform.plateau_length: missing required key");
  EXPECT_THROW(waveform.get<int>("slope_length"), ConfigError);
  try {
    waveform.get<double>("slope_length");
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "processor.waveform.slope_length");
  }
}

TEST(Config, AlternativeSpellings) {
  const Config config = Config::parse("generange: [[-1, 1]]\n");
  std::string used;
  auto found = config.find_any({"gene_range", "generange"}, &used);
  ASSERT_TRUE(found);
  EXPECT_EQ(used, "generange");
  EXPECT_FALSE(config.find_any({"output_clipping", "clipping_value"}));
}

TEST(Config, UnknownKeysGetTheClosestSuggestion) {
  const Config config = Config::parse("procesor_type: simulation\nwaveform: {}\nzzz: 1\n");
  const auto unknown = config.unknown_keys({"processor_type", "waveform", "driver"});
  ASSERT_EQ(unknown.size(), 2u);
  EXPECT_EQ(unknown[0].key_path, "procesor_type");
  EXPECT_EQ(unknown[0].suggestion, "processor_type");
  EXPECT_EQ(unknown[1].key_path, "zzz");
  EXPECT_EQ(unknown[1].suggestion, "");
  EXPECT_EQ(closest_match("amplificaton", {"amplification", "noise"}), "amplification");
}

TEST(Config, NestedIncludesResolveRelativeToTheIncludingFile) {
  TempDir dir;
  dir.write("defaults/processors/sim.yaml",
            "processor_type: simulation\nwaveform: !include ../waveform.yaml\n");
  dir.write("defaults/waveform.yaml", "plateau_length: 1\nslope_length: 0\n");
  const auto main = dir.write("task.yaml", "processor: !include defaults/processors/sim.yaml\n");
  const Config config = Config::load(main);
  EXPECT_EQ(config.at("processor").get<std::string>("processor_type"), "simulation");
  EXPECT_EQ(config.at("processor").at("waveform").get<int>("plateau_length"), 1);

  // The resolved config saves without tags and reloads identically.
  config.save(dir / "resolved.yaml");
  const Config reloaded = Config::load(dir / "resolved.yaml");
  EXPECT_EQ(reloaded.dump(), config.dump());
  EXPECT_EQ(reloaded.dump().find("!include"), std::string::npos);
}

TEST(Config, UpstreamTaskConfigsWithIncludes) {
  const auto tasks = testing::reference_dir() / "upstream-files" / "tasks";
  const Config boolean = Config::load(tasks / "boolean.yaml");
  EXPECT_TRUE(boolean.has("processor"));
  EXPECT_TRUE(boolean.has("algorithm"));
  EXPECT_FALSE(boolean.at("processor").get<std::string>("processor_type").empty());
  const Config ring = Config::load(tasks / "ring.yaml");
  EXPECT_TRUE(ring.has("processor"));
}

TEST(Config, MissingIncludeNamesTheFileAndLine) {
  TempDir dir;
  const auto main = dir.write("main.yaml", "a: 1\nb: !include nowhere.yaml\n");
  const std::string message = message_of([&] { Config::load(main); });
  EXPECT_THAT(message, HasSubstr("main.yaml: line 2"));
  EXPECT_THAT(message, HasSubstr("nowhere.yaml"));
  EXPECT_THROW(Config::load(main), FormatError);
}

TEST(Config, IncludeCycleIsDetected) {
  TempDir dir;
  dir.write("a.yaml", "b: !include b.yaml\n");
  dir.write("b.yaml", "a: !include a.yaml\n");
  const std::string message = message_of([&] { Config::load(dir / "a.yaml"); });
  EXPECT_THAT(message, HasSubstr("include cycle"));
  EXPECT_THROW(Config::load(dir / "a.yaml"), FormatError);
}

TEST(Config, SyntaxErrorHasTheLine) {
  TempDir dir;
  const auto file = dir.write("bad.yaml", "a: 1\nb: [1, 2\nc: 3\n");
  const std::string message = message_of([&] { Config::load(file); });
  EXPECT_THAT(message, HasSubstr("bad.yaml: line "));
  EXPECT_THAT(message, HasSubstr("invalid YAML"));
  EXPECT_THROW(Config::load(file), FormatError);
}

TEST(Config, MissingFileIsAFormatError) {
  EXPECT_THAT(message_of([] { Config::load("/nonexistent/brains.yaml"); }),
              HasSubstr("/nonexistent/brains.yaml: cannot read file"));
}

}  // namespace
}  // namespace brains
