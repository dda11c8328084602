#include "brains/smg/postprocess.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>

#include "brains/core/error.h"
#include "brains/io/io_dat.h"
#include "brains/io/npz.h"
#include "brains/io/sampler_configs.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace brains::smg {
namespace {

using ::testing::HasSubstr;
using testing::reference_dir;
using testing::TempDir;

namespace fs = std::filesystem;

fs::path upstream(const std::string& name) { return reference_dir() / "upstream-files" / "smg" / name; }

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A gathering folder holding upstream's IO.dat and sampler_configs.json, with `edits`
// applied to the configs text (each a whole-line replacement).
fs::path gathering(const TempDir& dir, const std::string& name,
                   const std::vector<std::pair<std::string, std::string>>& edits = {}) {
  std::string configs = read_text(upstream("sampler_configs.json"));
  if (!edits.empty())  // the file has CRLF line ends; edits are written with LF
    configs.erase(std::remove(configs.begin(), configs.end(), '\r'), configs.end());
  for (const auto& [from, to] : edits) {
    const auto at = configs.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) configs.replace(at, from.size(), to);
  }
  dir.write(name + "/sampler_configs.json", configs);
  dir.write(name + "/IO.dat", read_text(upstream("IO.dat")));
  return dir / name;
}

PostprocessOptions with_clipping(ClippingValue clipping) {
  PostprocessOptions options;
  options.clipping_value = clipping;
  options.plot = false;
  return options;
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

const io::PyValue& at_path(const io::PyValue& root, std::initializer_list<const char*> keys) {
  const io::PyValue* node = &root;
  for (const char* key : keys) node = &node->at(key);
  return *node;
}

TEST(Postprocess, UpstreamFolderGivesUpstreamPostprocessedData) {
  TempDir dir;
  const fs::path data = gathering(dir, "smg");
  const PostprocessResult result = postprocess({data}, with_clipping(ClippingValue::window(-4, 4)));
  EXPECT_EQ(result.raw_samples, 100);
  EXPECT_EQ(result.kept_samples, 94);
  EXPECT_NEAR(result.cropped_percent, 6.0, 1e-9);
  EXPECT_EQ(result.file, data / "postprocessed_data.npz");

  const io::NpzFile ours = io::read_npz(result.file);
  const io::NpzFile theirs = io::read_npz(upstream("postprocessed_data.npz"));
  EXPECT_EQ(ours.names(), theirs.names());
  EXPECT_EQ(ours.tensor("inputs").scalar_type(), at::kDouble);
  EXPECT_TRUE(at::equal(ours.tensor("inputs"), theirs.tensor("inputs")));
  EXPECT_TRUE(at::equal(ours.tensor("outputs"), theirs.tensor("outputs")));

  // Rows 25-30 are the ones over 4 nA.
  const io::IoData raw = io::read_io_dat(upstream("IO.dat"), 7, 1);
  const at::Tensor kept = at::cat({raw.outputs.narrow(0, 0, 25), raw.outputs.narrow(0, 31, 69)});
  EXPECT_TRUE(at::equal(ours.tensor("outputs"), kept));
  EXPECT_NEAR(ours.tensor("outputs").max().item<double>(), 3.9325224075, 1e-9);

  const io::PyValue& info = at_path(ours.get("sampling_configs"), {"electrode_info"});
  const io::PyValue& their_info = at_path(theirs.get("sampling_configs"), {"electrode_info"});
  EXPECT_EQ(info.at("electrode_no").as_int(), 8);
  const at::Tensor ranges = at_path(info, {"activation_electrodes", "voltage_ranges"}).tensor();
  EXPECT_EQ(ranges.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(ranges, at_path(their_info, {"activation_electrodes", "voltage_ranges"}).tensor()));
  const io::PyValue& clipping = at_path(info, {"output_electrodes", "clipping_value"});
  EXPECT_EQ(clipping.items().at(0).as_double(), -4);
  EXPECT_EQ(clipping.items().at(1).as_double(), 4);
}

// numpy reads our file with allow_pickle and sees upstream's content. The upstream npz was
// written before its sampler_configs.json was edited (spec §5.2): the instrument names differ.
TEST(Postprocess, NumpyReadsTheSameContentAsUpstreams) {
  TempDir dir;
  const fs::path data = gathering(dir, "smg");
  postprocess({data}, with_clipping(ClippingValue::window(-4, 4)));
  const auto result = testing::run_python(R"(
import numpy as np
ours = np.load(')" + (data / "postprocessed_data.npz").string() + R"(', allow_pickle=True)
theirs = np.load(')" + upstream("postprocessed_data.npz").string() + R"(', allow_pickle=True)
assert sorted(ours.files) == sorted(theirs.files), ours.files
for key in ('inputs', 'outputs'):
    assert ours[key].dtype == theirs[key].dtype and np.array_equal(ours[key], theirs[key]), key
a = dict(ours['sampling_configs'].tolist())
b = dict(theirs['sampling_configs'].tolist())
edited = {'activation_instrument', 'readout_instrument', 'trigger_source'}
for key in edited:
    del a['driver']['instruments_setup'][key], b['driver']['instruments_setup'][key]
def same(x, y, path):
    if isinstance(x, dict) or isinstance(y, dict):
        assert isinstance(x, dict) and isinstance(y, dict) and x.keys() == y.keys(), (path, x, y)
        for k in x: same(x[k], y[k], path + '.' + k)
    elif isinstance(y, np.ndarray):
        assert isinstance(x, np.ndarray) and x.dtype == y.dtype and np.array_equal(x, y), (path, x, y)
    else:
        assert x == y and type(x) == type(y), (path, x, y)
same(a, b, 'sampling_configs')
vr = a['electrode_info']['activation_electrodes']['voltage_ranges']
assert vr[:, 0].shape == (7,)  # print_electrode_info indexes it
print('ok')
)");
  EXPECT_EQ(result.exit_code, 0) << result.err << result.out;
  EXPECT_EQ(result.out, "ok\n");
}

// A sampler that derives amplitude and offset from the ranges may leave them out of the
// configs; electrode_info then comes from driver.instruments_setup.activation_voltage_ranges.
TEST(Postprocess, VoltageRangesFromTheInstrumentSetupWithoutAmplitudeAndOffset) {
  TempDir dir;
  const fs::path data = gathering(dir, "plain");
  YAML::Node configs = io::read_sampler_configs(data / "sampler_configs.json");
  configs["input_data"].remove("amplitude");
  configs["input_data"].remove("offset");
  fs::remove(data / "sampler_configs.json");
  io::save_sampler_configs(data / "sampler_configs.json", configs);
  const PostprocessResult result = postprocess({data}, with_clipping(ClippingValue::window(-4, 4)));
  EXPECT_EQ(result.kept_samples, 94);
  const at::Tensor ranges =
      at_path(result.sampling_configs, {"electrode_info", "activation_electrodes", "voltage_ranges"}).tensor();
  const at::Tensor expected = at::tensor({-1.0f, 0.8f, -0.8f, 1.0f, -1.0f, 1.1f, -1.25f, 1.1f, -0.95f, 0.7f,
                                          -0.85f, 0.4f, -1.1f, 1.3f}).view({7, 2});
  EXPECT_TRUE(at::allclose(ranges, expected, 0, 1e-6)) << ranges;
}

TEST(Postprocess, DefaultClippingIsFourTimesTheAmplification) {
  TempDir dir;
  const PostprocessResult result = postprocess({gathering(dir, "smg")}, with_clipping({}));
  EXPECT_EQ(result.kept_samples, 100);
  const io::PyValue& clipping =
      at_path(result.sampling_configs, {"electrode_info", "output_electrodes", "clipping_value"});
  EXPECT_DOUBLE_EQ(clipping.items().at(0).as_double(), -158.0);
  EXPECT_DOUBLE_EQ(clipping.items().at(1).as_double(), 158.0);
}

TEST(Postprocess, NoClippingKeepsEverythingAndRecordsNone) {
  TempDir dir;
  const PostprocessResult result = postprocess({gathering(dir, "smg")}, with_clipping(ClippingValue::none()));
  EXPECT_EQ(result.kept_samples, 100);
  EXPECT_TRUE(at_path(result.sampling_configs, {"electrode_info", "output_electrodes", "clipping_value"}).is_none());
}

TEST(Postprocess, ChargingAndReferenceSignalsMatchUpstreams) {
  TempDir dir;
  const fs::path data = gathering(dir, "smg");
  postprocess({data}, with_clipping(ClippingValue::window(-4, 4)));
  for (const char* name : {"charging_signal.npz", "reference_batch.npz"}) {
    const io::NpzFile ours = io::read_npz(data / name);
    const io::NpzFile theirs = io::read_npz(upstream(name));
    EXPECT_TRUE(at::equal(ours.tensor("inputs"), theirs.tensor("inputs"))) << name;
    EXPECT_TRUE(at::equal(ours.tensor("outputs"), theirs.tensor("outputs"))) << name;  // unclipped
    EXPECT_EQ(ours.get("sampling_configs").find("electrode_info"), nullptr) << name;
  }
}

TEST(Postprocess, HistogramPlotIsWritten) {
  TempDir dir;
  const fs::path data = gathering(dir, "smg");
  PostprocessOptions options;
  postprocess({data}, options);
  // The CSV beside the PNG holds the bins of every third raw output (34 of 100).
  const std::string csv = read_text(data / "output_distribution.csv");
  double total = 0;
  std::istringstream lines(csv);
  std::string line;
  std::getline(lines, line);  // header
  while (std::getline(lines, line)) total += std::stod(line.substr(line.rfind(',') + 1));
  EXPECT_EQ(total, 34);
}

TEST(Postprocess, PartialGatheringOfWholeBatchesIsAccepted) {
  TempDir dir;
  // 4 batches of 25 rows expected, 100 rows = 4 batches: complete. Then 5 expected: partial.
  const fs::path data = gathering(dir, "partial", {{"  batch_time: 1\n", "  batch_time: 0.25\n"},
                                                  {"  number_batches: 1\n", "  number_batches: 5\n"}});
  PostprocessOptions options = with_clipping(ClippingValue::none());
  options.reference_signal_batch_no = 1;
  options.charging_signal_batch_no = 2;
  options.exclude_reference_batches = true;
  const PostprocessResult result = postprocess({data}, options);
  EXPECT_EQ(result.raw_samples, 100);
  EXPECT_EQ(result.kept_samples, 75);  // the last batch is the reference
  EXPECT_EQ(io::read_npz(data / "reference_batch.npz").tensor("inputs").size(0), 25);
  EXPECT_EQ(io::read_npz(data / "charging_signal.npz").tensor("inputs").size(0), 50);
  const io::IoData raw = io::read_io_dat(upstream("IO.dat"), 7, 1);
  EXPECT_TRUE(at::equal(result.inputs, raw.inputs.narrow(0, 0, 75)));
}

TEST(Postprocess, TrailingPartialBatchIsDropped) {
  TempDir dir;
  // Batches of 30 rows: 100 rows hold 3 whole batches and 10 rows of a fourth.
  const fs::path data = gathering(dir, "partial", {{"  batch_time: 1\n", "  batch_time: 0.3\n"},
                                                  {"  number_batches: 1\n", "  number_batches: 4\n"}});
  const PostprocessResult result = postprocess({data}, with_clipping(ClippingValue::none()));
  EXPECT_EQ(result.kept_samples, 90);
}

TEST(Postprocess, MoreRowsThanTheConfigsAllowIsAFormatError) {
  TempDir dir;
  const fs::path data = gathering(dir, "long", {{"  batch_time: 1\n", "  batch_time: 0.5\n"}});
  const std::string message = message_of<FormatError>([&] { postprocess({data}, with_clipping({})); });
  EXPECT_THAT(message, HasSubstr("IO.dat"));
  EXPECT_THAT(message, HasSubstr("more than number_batches"));
}

TEST(Postprocess, IoDatWithTheWrongColumnCountIsAFormatError) {
  TempDir dir;
  const fs::path data = gathering(dir, "columns");
  const std::string text = read_text(data / "IO.dat");
  const std::string rows = text.substr(text.find('\n') + 1);
  // A header naming 6 inputs, where the configs say 7.
  dir.write("columns/IO.dat", io::io_dat_header(6, 1) + rows);
  std::string message = message_of<FormatError>([&] { postprocess({data}, with_clipping({})); });
  EXPECT_THAT(message, HasSubstr("IO.dat: line 1: cannot read IO.dat: the header names 6 inputs + 1 output"));
  // Rows with a ninth value.
  std::string wide;
  std::istringstream lines(rows);
  for (std::string line; std::getline(lines, line);) wide += line + " 0.0\n";
  dir.write("columns/IO.dat", io::io_dat_header(7, 1) + wide);
  message = message_of<FormatError>([&] { postprocess({data}, with_clipping({})); });
  EXPECT_THAT(message, HasSubstr("IO.dat: line 2: cannot read row: expected 8 values (7 inputs + 1 output), found 9"));
}

TEST(Postprocess, BatchTimeThatIsNotAWholeNumberOfSamplesIsAFormatError) {
  TempDir dir;
  const fs::path data = gathering(dir, "odd", {{"  batch_time: 1\n", "  batch_time: 0.255\n"}});
  const std::string message = message_of<FormatError>([&] { postprocess({data}, with_clipping({})); });
  EXPECT_THAT(message, HasSubstr("sampler_configs.json: input_data.batch_time"));
}

TEST(Postprocess, MergesGatherings) {
  TempDir dir;
  const fs::path a = gathering(dir, "a");
  const fs::path b = gathering(dir, "b");
  EXPECT_THROW(postprocess({a, b}, with_clipping({})), ArgumentError);  // where to write?
  const PostprocessResult result =
      postprocess({a, b}, with_clipping(ClippingValue::window(-4, 4)), dir / "merged");
  EXPECT_EQ(result.kept_samples, 188);
  EXPECT_EQ(result.file, dir / "merged" / "postprocessed_data.npz");
  const io::NpzFile merged = io::read_npz(result.file);
  const at::Tensor single = io::read_npz(upstream("postprocessed_data.npz")).tensor("outputs");
  EXPECT_TRUE(at::equal(merged.tensor("outputs"), at::cat({single, single})));
  EXPECT_EQ(merged.get("sampling_configs").at("merged_gatherings").items().size(), 2u);
  EXPECT_TRUE(fs::exists(a / "reference_batch.npz"));
  EXPECT_TRUE(fs::exists(b / "charging_signal.npz"));
}

TEST(Postprocess, GatheringsWithDifferentAmplificationDoNotMerge) {
  TempDir dir;
  const fs::path a = gathering(dir, "a");
  const fs::path b = gathering(dir, "b", {{"  - 39.5\n", "  - 28.5\n"}});
  const std::string message = message_of<ArgumentError>(
      [&] { postprocess({a, b}, with_clipping({}), dir / "merged"); });
  EXPECT_THAT(message, HasSubstr("amplification [28.5] differs from [39.5]"));
}

TEST(Postprocess, ClippingValueFromConfig) {
  const auto parse = [](const std::string& text) {
    const Config configs = Config::parse("clipping_value: " + text);
    return ClippingValue::from_config(Config(configs.node()["clipping_value"], "clipping_value"));
  };
  EXPECT_EQ(parse("default").kind, ClippingValue::Kind::default_window);
  EXPECT_EQ(parse("null").kind, ClippingValue::Kind::none);
  const ClippingValue window = parse("[-4, 4.5]");
  EXPECT_EQ(window.kind, ClippingValue::Kind::window);
  EXPECT_EQ(window.low, -4);
  EXPECT_EQ(window.high, 4.5);
  EXPECT_EQ(*window.resolve({39.5}), std::make_pair(-4.0, 4.5));
  EXPECT_EQ(*ClippingValue{}.resolve({39.5}), std::make_pair(-158.0, 158.0));
  EXPECT_THAT(message_of<ConfigError>([&] { parse("34"); }), HasSubstr("clipping_value: expected 'default'"));
  EXPECT_THAT(message_of<ConfigError>([&] { parse("[4, -4]"); }), HasSubstr("low < high"));
}

TEST(Postprocess, OptionsFromConfig) {
  const PostprocessOptions options = PostprocessOptions::from_config(Config::parse(
      "clipping_value: [-4, 4]\ncharging_signal_batch_no: 3\nreference_signal_batch_no: 2\n"
      "exclude_reference_batches: true\nfilename: data\n"));
  EXPECT_EQ(options.clipping_value.kind, ClippingValue::Kind::window);
  EXPECT_EQ(options.charging_signal_batch_no, 3);
  EXPECT_EQ(options.reference_signal_batch_no, 2);
  EXPECT_TRUE(options.exclude_reference_batches);
  EXPECT_EQ(options.filename, "data");
  EXPECT_THROW(PostprocessOptions::from_config(Config::parse("charging_signal_batch_no: 41.5\n")), ConfigError);
  EXPECT_EQ(PostprocessOptions::from_config(Config::parse("clipping_value: null\n")).clipping_value.kind,
            ClippingValue::Kind::none);
}

}  // namespace
}  // namespace brains::smg
