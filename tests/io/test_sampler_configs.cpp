#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "brains/core/error.h"
#include "brains/io/sampler_configs.h"
#include "support/temp_dir.h"

namespace brains::io {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TempDir;

std::filesystem::path reference_configs() {
  return testing::reference_dir() / "upstream-files" / "smg" / "sampler_configs.json";
}

std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<double> doubles(const YAML::Node& node) { return node.as<std::vector<double>>(); }

// Checks the decoded reference configs (spec §5.2); shared by the read and round-trip tests.
void expect_reference_values(const YAML::Node& configs) {
  EXPECT_EQ(configs["data_name"].as<std::string>(), "cas_model_validation_1KSps");
  EXPECT_THAT(doubles(configs["driver"]["amplification"]), ElementsAre(39.5));
  const YAML::Node setup = configs["driver"]["instruments_setup"];
  EXPECT_EQ(setup["activation_sampling_frequency"].as<int>(), 100);
  EXPECT_EQ(setup["readout_sampling_frequency"].as<int>(), 10000);
  EXPECT_EQ(setup["activation_voltage_ranges"].size(), 7u);
  EXPECT_THAT(doubles(setup["activation_voltage_ranges"][3]), ElementsAre(-1.25, 1.1));
  EXPECT_THAT(setup["activation_channels"].as<std::vector<int>>(),
              ElementsAre(6, 0, 1, 5, 2, 4, 3));

  const YAML::Node input = configs["input_data"];
  // Exact: the decoded doubles are the bit patterns of the base64 payload.
  EXPECT_THAT(doubles(input["amplitude"]),
              ElementsAre(0.9, 0.9, 1.05, 1.175, 0.825, 0.625, 1.2000000000000002));
  // (min + max) / 2 of the ranges, with numpy's rounding.
  EXPECT_THAT(doubles(input["offset"]),
              ElementsAre(-0.09999999999999998, 0.09999999999999998, 0.050000000000000044,
                          -0.07499999999999996, -0.125, -0.22499999999999998, 0.09999999999999998));
  EXPECT_EQ(input["batch_time"].as<int>(), 1);
  EXPECT_EQ(input["number_batches"].as<int>(), 1);
  EXPECT_EQ(input["ramp_time"].as<double>(), 0.5);
  EXPECT_EQ(input["input_distribution"].as<std::string>(), "sawtooth");
  EXPECT_THAT(doubles(input["phase"]), ElementsAre(0.2, -0.3, 0.4, -0.5, 0.6, -0.7, 0.8));
  EXPECT_FALSE(input["random_phase_shift_each"]);
  EXPECT_EQ(configs["save_directory"].as<std::string>(),
            "tmp/quick_setup/boron_doped\\cas_model_validation_1KSps_2022_04_01_090037");
}

TEST(SamplerConfigs, ReadsReferenceWithNumpyTags) {
  const YAML::Node configs = read_sampler_configs(reference_configs());
  expect_reference_values(configs);
  EXPECT_TRUE(configs["input_data"]["amplitude"].IsSequence());
  EXPECT_EQ(configs["input_data"]["amplitude"][6].as<std::string>(), "1.2000000000000002");
  EXPECT_EQ(configs["input_data"]["amplitude"][0].as<std::string>(), "0.9");
}

TEST(SamplerConfigs, SaveWritesPlainYamlThatReadsBack) {
  const TempDir dir;
  const auto file = dir / "sampler_configs.json";
  save_sampler_configs(file, read_sampler_configs(reference_configs()));
  const std::string text = slurp(file);
  EXPECT_THAT(text, ::testing::Not(HasSubstr("!!")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("&id")));
  EXPECT_THAT(text, HasSubstr("input_data:\n  activation_electrode_no: 7\n  amplitude:\n"
                              "    - 0.9\n"));
  expect_reference_values(read_sampler_configs(file));
  // Key order is kept and a second round trip is stable.
  save_sampler_configs(dir / "again.json", read_sampler_configs(file));
  EXPECT_EQ(slurp(dir / "again.json"), text);
}

// A numpy array as PyYAML dumps it, with the given dtype, byte order, shape and payload.
// `indent` places it under a nested key.
std::string tagged_array(const std::string& dtype, const std::string& order,
                         const std::string& shape, const std::string& fortran,
                         const std::string& base64, const std::string& indent = "") {
  const std::string& i = indent;
  return "!!python/object/apply:numpy.core.multiarray._reconstruct\n" + i +
         "  args: [!!python/name:numpy.ndarray '', !!python/tuple [0], !!binary 'Yg==']\n" + i +
         "  state: !!python/tuple\n" + i + "  - 1\n" + i + "  - !!python/tuple " + shape + "\n" +
         i + "  - !!python/object/apply:numpy.dtype\n" + i + "    args: [" + dtype +
         ", false, true]\n" + i + "    state: !!python/tuple [3, '" + order +
         "', null, null, null, -1, -1, 0]\n" + i + "  - " + fortran + "\n" + i + "  - !!binary '" +
         base64 + "'\n";
}

TEST(SamplerConfigs, SaveAcceptsRawTaggedTree) {
  const TempDir dir;
  save_sampler_configs(dir / "out.json",
                       YAML::Load("a: " + tagged_array("f8", "<", "[1]", "false", "AAAAAAAA+D8=")));
  EXPECT_EQ(slurp(dir / "out.json"), "a:\n  - 1.5\n");
}

// yaml-cpp 0.7 cannot parse a tagged block scalar as a sequence item (its issue #1163);
// PyYAML writes every array payload that way, in any sequence, with \n or \r\n.
TEST(SamplerConfigs, ReadsBinaryBlockScalarsInSequences) {
  const TempDir dir;
  const auto file = dir.write("crlf.json",
                              "a: !!python/object/apply:numpy.core.multiarray._reconstruct\r\n"
                              "  args: []\r\n"
                              "  state: !!python/tuple\r\n"
                              "  - 1\r\n"
                              "  - !!python/tuple\r\n"
                              "    - 2\r\n"
                              "  - !!python/object/apply:numpy.dtype\r\n"
                              "    args: [f8, false, true]\r\n"
                              "    state: !!python/tuple [3, '<', null, null, null, -1, -1, 0]\r\n"
                              "  - false\r\n"
                              "  - !!binary |\r\n"
                              "    AAAAAAAA+D8AAAAA\r\n"
                              "    AAAEQA==\r\n"
                              "b: |\r\n"
                              "  - !!binary |\r\n"
                              "    text, not a tag\r\n");
  const YAML::Node node = read_sampler_configs(file);
  EXPECT_THAT(doubles(node["a"]), ElementsAre(1.5, 2.5));
  EXPECT_EQ(node["b"].as<std::string>(), "- !!binary |\n  text, not a tag\n");
}

TEST(SamplerConfigs, DecodesShapesDtypesAndByteOrders) {
  // int64 [[1, 2, 3], [4, 5, 6]] in C order.
  const YAML::Node c_order = decode_python_tags(YAML::Load(
      "a: " + tagged_array("i8", "<", "[2, 3]", "false",
                           "AQAAAAAAAAACAAAAAAAAAAMAAAAAAAAABAAAAAAAAAAFAAAAAAAAAAYAAAAAAAAA")));
  EXPECT_EQ(c_order["a"].as<std::vector<std::vector<int>>>(),
            (std::vector<std::vector<int>>{{1, 2, 3}, {4, 5, 6}}));
  // The same bytes in Fortran order are the transpose's memory: [[1, 3, 5], [2, 4, 6]].
  const YAML::Node f_order = decode_python_tags(YAML::Load(
      "a: " + tagged_array("i8", "<", "[2, 3]", "true",
                           "AQAAAAAAAAACAAAAAAAAAAMAAAAAAAAABAAAAAAAAAAFAAAAAAAAAAYAAAAAAAAA")));
  EXPECT_EQ(f_order["a"].as<std::vector<std::vector<int>>>(),
            (std::vector<std::vector<int>>{{1, 3, 5}, {2, 4, 6}}));
  // float32 [-0.8, 1.0] (voltage ranges are float32 upstream): shortest float32 text.
  const YAML::Node f4 = decode_python_tags(
      YAML::Load("a: " + tagged_array("f4", "<", "[2]", "false", "zcxMvwAAgD8=")));
  EXPECT_EQ(f4["a"][0].as<std::string>(), "-0.8");
  EXPECT_EQ(f4["a"][1].as<std::string>(), "1.0");
  EXPECT_EQ(f4["a"][0].as<float>(), -0.8f);
  // Big-endian int32 [-2] and a 0-d array.
  const YAML::Node be =
      decode_python_tags(YAML::Load("a: " + tagged_array("i4", ">", "[1]", "false", "/////g==")));
  EXPECT_EQ(be["a"][0].as<int>(), -2);
  const YAML::Node zero_d = decode_python_tags(
      YAML::Load("a: " + tagged_array("f8", "<", "[]", "false", "AAAAAAAA+D8=")));
  EXPECT_EQ(zero_d["a"].as<double>(), 1.5);
  const YAML::Node empty =
      decode_python_tags(YAML::Load("a: " + tagged_array("f8", "<", "[0]", "false", "")));
  EXPECT_TRUE(empty["a"].IsSequence());
  EXPECT_EQ(empty["a"].size(), 0u);
}

TEST(SamplerConfigs, DecodesNumpyScalarsAndTuples) {
  const YAML::Node node = decode_python_tags(
      YAML::Load("x: !!python/object/apply:numpy.core.multiarray.scalar\n"
                 "- !!python/object/apply:numpy.dtype\n"
                 "  args: [f8, false, true]\n"
                 "  state: !!python/tuple [3, '<', null, null, null, -1, -1, 0]\n"
                 "- !!binary 'AAAAAAAA+D8='\n"
                 "t: !!python/tuple [1, 2]\n"));
  EXPECT_EQ(node["x"].as<double>(), 1.5);  // PyYAML writes a scalar's args as a sequence
  EXPECT_EQ(node["t"].as<std::vector<int>>(), (std::vector<int>{1, 2}));
}

TEST(SamplerConfigs, QuotedStringsStayStrings) {
  const YAML::Node node = decode_python_tags(
      YAML::Load("version: '1.0'\nflag: 'true'\nempty: ''\nnumber: 2\nname: abc\nnothing: null\n"));
  const std::string text = dump_plain_yaml(node);
  EXPECT_THAT(text, HasSubstr("version: \"1.0\""));
  EXPECT_THAT(text, HasSubstr("flag: \"true\""));
  EXPECT_THAT(text, HasSubstr("number: 2\n"));
  EXPECT_THAT(text, HasSubstr("name: abc\n"));
  EXPECT_THAT(text, HasSubstr("nothing: null"));
}

TEST(SamplerConfigs, ErrorsNameFileAndKey) {
  const TempDir dir;
  try {
    read_sampler_configs(dir / "missing.json");
    FAIL() << "no error";
  } catch (const FormatError& error) {
    EXPECT_THAT(error.what(), HasSubstr("missing.json: cannot open file"));
  }
  const auto object_dtype =
      dir.write("object.json", "input_data:\n  amplitude: " +
                                   tagged_array("O8", "|", "[1]", "false", "AAAAAAAAAAA=", "  "));
  try {
    read_sampler_configs(object_dtype);
    FAIL() << "no error";
  } catch (const FormatError& error) {
    EXPECT_THAT(error.what(), HasSubstr("key input_data.amplitude: cannot decode numpy array: "
                                        "unsupported dtype 'O8'"));
  }
  const auto short_data =
      dir.write("short.json", "a: " + tagged_array("f8", "<", "[2]", "false", "AAAAAAAA+D8="));
  EXPECT_THROW(read_sampler_configs(short_data), FormatError);
  const auto code = dir.write("code.json", "a: !!python/object/apply:os.system ['ls']\n");
  try {
    read_sampler_configs(code);
    FAIL() << "no error";
  } catch (const FormatError& error) {
    EXPECT_THAT(error.what(),
                HasSubstr("key a: cannot decode tag '!!python/object/apply:os.system'"));
  }
  const auto bad_yaml = dir.write("bad.json", "a: [1, 2\n");
  try {
    read_sampler_configs(bad_yaml);
    FAIL() << "no error";
  } catch (const FormatError& error) {
    EXPECT_THAT(error.what(), HasSubstr("cannot parse YAML"));
  }
}

}  // namespace
}  // namespace brains::io
