#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>

#include "brains/core/error.h"
#include "brains/io/npy.h"
#include "brains/io/npz.h"
#include "brains/io/zip_archive.h"
#include "support/temp_dir.h"

namespace brains::io {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::reference_dir;
using testing::TempDir;

bool numpy_available() {
  static const bool available =
      std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
  return available;
}

// Runs a Python script with numpy and the temp dir as sys.argv[1]; its asserts decide.
int run_python(const TempDir& dir, const std::string& script) {
  const auto file = dir.write("check.py", "import sys, zipfile\nimport numpy as np\n" + script);
  return std::system(("/usr/bin/python3 " + file.string() + " " + dir.path().string()).c_str());
}

#define REQUIRE_NUMPY() \
  if (!numpy_available()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not available"

std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const FormatError& e) {
    return e.what();
  }
  return "<no FormatError>";
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::filesystem::path smg_file(const std::string& name) {
  return reference_dir() / "upstream-files" / "smg" / name;
}

std::vector<double> values_of(const at::Tensor& tensor) {
  const at::Tensor flat = tensor.to(at::kDouble).contiguous().reshape({-1});
  return {flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel()};
}

// ---------------------------------------------------------------------------------------
// Reference files

TEST(Npz, ReadsPostprocessedData) {
  const NpzFile npz = read_npz(smg_file("postprocessed_data.npz"));
  EXPECT_THAT(npz.names(), ElementsAre("inputs", "outputs", "sampling_configs"));

  const at::Tensor inputs = npz.tensor("inputs");
  EXPECT_EQ(inputs.scalar_type(), at::kDouble);
  EXPECT_EQ(inputs.sizes(), at::IntArrayRef({94, 7}));
  EXPECT_EQ(inputs[0][0].item<double>(), 0.0145915590261647);
  EXPECT_EQ(inputs[0][6].item<double>(), 0.711154981472878);
  EXPECT_EQ(inputs[93][6].item<double>(), -0.18250375944340658);
  EXPECT_NEAR(inputs.sum().item<double>(), 236.14270418594592, 1e-9);

  const at::Tensor outputs = npz.tensor("outputs");
  EXPECT_EQ(outputs.sizes(), at::IntArrayRef({94, 1}));
  EXPECT_NEAR(outputs.min().item<double>(), -0.2412919546, 1e-10);
  EXPECT_NEAR(outputs.max().item<double>(), 3.9325224075, 1e-10);
  EXPECT_NEAR(outputs.mean().item<double>(), 1.05661, 1e-5);
  EXPECT_EQ(outputs[0][0].item<double>(), -0.24129195459343644);
  // IO.dat rows 25-30 (outputs above 4) were clipped away: row 25 is IO.dat row 31.
  EXPECT_NEAR(outputs[25][0].item<double>(), 3.20283564, 1e-8);

  const PyValue& configs = npz.get("sampling_configs");
  ASSERT_TRUE(configs.is_dict());
  EXPECT_EQ(configs.at("data_name").as_string(), "cas_model_validation_1KSps");
  const PyValue& driver = configs.at("driver");
  EXPECT_TRUE(driver.at("auto_start").as_bool());
  EXPECT_EQ(driver.at("instruments_setup").at("activation_sampling_frequency").as_int(), 100);
  EXPECT_EQ(driver.at("instruments_setup").at("activation_channels").items().at(0).as_int(), 6);
  const at::Tensor& amplitude = configs.at("input_data").at("amplitude").tensor();
  EXPECT_EQ(configs.at("input_data").at("amplitude").kind(), PyValue::Kind::Array);
  EXPECT_EQ(amplitude.scalar_type(), at::kDouble);
  EXPECT_THAT(values_of(amplitude),
              ElementsAre(0.9, 0.9, 1.05, 1.175, 0.825, 0.625, 1.2000000000000002));

  const PyValue& electrodes = configs.at("electrode_info");
  EXPECT_EQ(electrodes.at("electrode_no").as_int(), 8);
  const at::Tensor& ranges = electrodes.at("activation_electrodes").at("voltage_ranges").tensor();
  EXPECT_EQ(ranges.scalar_type(), at::kFloat);
  EXPECT_EQ(ranges.sizes(), at::IntArrayRef({7, 2}));
  EXPECT_EQ(ranges[0][0].item<float>(), -1.0f);
  EXPECT_EQ(ranges[0][1].item<float>(), 0.79999995f);
  EXPECT_EQ(ranges[6][1].item<float>(), 1.3000001f);
  const PyValue& output = electrodes.at("output_electrodes");
  EXPECT_EQ(output.at("electrode_no").as_int(), 1);
  ASSERT_EQ(output.at("amplification").items().size(), 1u);
  EXPECT_EQ(output.at("amplification").items()[0].as_double(), 39.5);
  const PyValue::Items& clipping = output.at("clipping_value").items();
  ASSERT_EQ(clipping.size(), 2u);
  EXPECT_EQ(clipping[0].as_int(), -4);
  EXPECT_EQ(clipping[1].as_int(), 4);
}

TEST(Npz, ReadsChargingSignalAndReferenceBatch) {
  for (const char* name : {"charging_signal.npz", "reference_batch.npz"}) {
    SCOPED_TRACE(name);
    const NpzFile npz = read_npz(smg_file(name));
    EXPECT_EQ(npz.tensor("inputs").sizes(), at::IntArrayRef({100, 7}));
    EXPECT_EQ(npz.tensor("outputs").sizes(), at::IntArrayRef({100, 1}));
    EXPECT_NEAR(npz.tensor("inputs").sum().item<double>(), 249.86869804965428, 1e-9);
    EXPECT_EQ(npz.tensor("outputs").max().item<double>(), 6.326590396783638);
    EXPECT_NEAR(npz.tensor("outputs").mean().item<double>(), 1.2988301688595791, 1e-12);
    const PyValue& configs = npz.get("sampling_configs");
    ASSERT_TRUE(configs.is_dict());
    EXPECT_EQ(configs.find("electrode_info"), nullptr);
    EXPECT_EQ(configs.at("input_data").at("input_distribution").as_string(), "sawtooth");
  }
}

TEST(Npz, ReadsParityFiles) {
  const auto seed1 = reference_dir() / "parity" / "seed1";
  const NpzFile forward = read_npz(seed1 / "surrogate_forward.npz");
  EXPECT_EQ(forward.tensor("inputs").scalar_type(), at::kFloat);
  EXPECT_EQ(forward.tensor("inputs").sizes(), at::IntArrayRef({500, 7}));
  EXPECT_EQ(forward.tensor("inputs")[0][0].item<float>(), 0.25706708f);
  EXPECT_EQ(forward.tensor("inputs")[0][1].item<float>(), -0.4920189f);
  EXPECT_EQ(forward.tensor("outputs")[499][0].item<float>(), 1.1664217f);

  const NpzFile waveform = read_npz(seed1 / "waveform.npz");
  const at::Tensor mask = waveform.tensor("mask");
  EXPECT_EQ(mask.scalar_type(), at::kBool);
  EXPECT_EQ(mask.sizes(), at::IntArrayRef({45}));
  EXPECT_EQ(mask.sum().item<std::int64_t>(), 24);
  EXPECT_FALSE(mask[2].item<bool>());
  EXPECT_TRUE(mask[3].item<bool>());

  const at::Tensor regularizer = read_npz(seed1 / "dnpu_forward.npz").tensor("regularizer");
  EXPECT_EQ(regularizer.dim(), 0);
  EXPECT_EQ(regularizer.item<float>(), 0.0f);
  const NpzFile conv = read_npz(seed1 / "dnpu_conv2d_forward.npz");
  EXPECT_EQ(conv.tensor("control_voltages").sizes(), at::IntArrayRef({2, 3, 3, 4}));
  EXPECT_EQ(conv.tensor("outputs").sizes(), at::IntArrayRef({4, 3, 5, 5}));

  const NpzFile signal = read_npz(reference_dir() / "parity" / "seed2" / "signal.npz");
  EXPECT_EQ(signal.tensor("output")[0][0].item<float>(), 3.8014574f);
  EXPECT_EQ(signal.tensor("pearson")[0].item<float>(), -0.122723505f);

  // Every parity array loads, as float32 (float64 for smg_waves, bool for masks).
  for (const char* seed : {"seed1", "seed2", "seed3"})
    for (const auto& file :
         std::filesystem::directory_iterator(reference_dir() / "parity" / seed)) {
      if (file.path().extension() != ".npz") continue;
      SCOPED_TRACE(file.path().string());
      const NpzFile npz = read_npz(file.path());
      EXPECT_FALSE(npz.entries().empty());
      for (const auto& [name, value] : npz.entries()) {
        ASSERT_EQ(value.kind(), PyValue::Kind::Array) << name;
        const auto type = value.tensor().scalar_type();
        EXPECT_TRUE(type == at::kFloat || type == at::kDouble || type == at::kBool) << name;
      }
    }
}

TEST(Npz, ReencodingReproducesNumpysBytes) {
  const ZipReader zip(smg_file("postprocessed_data.npz"));
  for (const char* member : {"inputs.npy", "outputs.npy"}) {
    const std::string original = zip.read(member);
    EXPECT_EQ(npy_bytes(parse_npy(original, "memory")), original) << member;
  }
}

// ---------------------------------------------------------------------------------------
// Round trips and interoperability with numpy

NpzEntries sample_entries() {
  PyValue configs = PyValue::dict();
  configs.set("data_name", PyValue::string("brains \xc2\xb5 test"));
  configs.set("amplification", PyValue::list({PyValue::floating(39.5)}));
  configs.set("clipping_value", PyValue::none());
  configs.set("flags", PyValue::tuple({PyValue::boolean(true), PyValue::boolean(false)}));
  configs.set("count", PyValue::integer(-(std::int64_t{1} << 40)));
  PyValue electrodes = PyValue::dict();
  electrodes.set("voltage_ranges",
                 PyValue::array(at::tensor({-1.0f, 0.8f, -0.5f, 1.1f}).reshape({2, 2})));
  electrodes.set("shift", PyValue::tensor(at::tensor({0.25, 0.5}, at::kDouble)));
  configs.set("electrode_info", std::move(electrodes));
  return {
      {"inputs", PyValue::array(at::arange(12, at::kDouble).reshape({4, 3}).div(8))},
      {"outputs", PyValue::array(at::arange(4, at::kFloat).reshape({4, 1}))},
      {"mask", PyValue::array(at::tensor({1, 0, 1, 1}, at::kInt).to(at::kBool))},
      {"index", PyValue::array(at::arange(-2, 2, at::kLong))},
      {"scalar", PyValue::array(at::scalar_tensor(3.5, at::kFloat))},
      {"empty", PyValue::array(at::empty({0, 7}, at::kDouble))},
      {"sampling_configs", configs},
  };
}

void expect_sample_entries(const NpzFile& npz) {
  EXPECT_THAT(npz.names(), ElementsAre("inputs", "outputs", "mask", "index", "scalar", "empty",
                                       "sampling_configs"));
  const NpzEntries expected = sample_entries();
  for (std::size_t i = 0; i + 1 < expected.size(); ++i) {
    SCOPED_TRACE(expected[i].first);
    EXPECT_TRUE(npz.tensor(expected[i].first).equal(expected[i].second.tensor()));
  }
  const PyValue& configs = npz.get("sampling_configs");
  ASSERT_TRUE(configs.is_dict());
  EXPECT_EQ(configs.at("data_name").as_string(), "brains \xc2\xb5 test");
  EXPECT_EQ(configs.at("amplification").items().at(0).as_double(), 39.5);
  EXPECT_TRUE(configs.at("clipping_value").is_none());
  EXPECT_FALSE(configs.at("flags").items().at(1).as_bool());
  EXPECT_EQ(configs.at("count").as_int(), -(std::int64_t{1} << 40));
  const at::Tensor& ranges = configs.at("electrode_info").at("voltage_ranges").tensor();
  EXPECT_EQ(ranges.scalar_type(), at::kFloat);
  EXPECT_EQ(ranges[0][1].item<float>(), 0.8f);
  EXPECT_THAT(values_of(configs.at("electrode_info").at("shift").tensor()), ElementsAre(0.25, 0.5));
}

TEST(Npz, RoundTripsStoredAndDeflated) {
  TempDir dir;
  write_npz(dir / "stored.npz", sample_entries());
  write_npz(dir / "deflated.npz", sample_entries(), /*compress=*/true);
  EXPECT_FALSE(std::filesystem::exists(dir / "stored.npz.tmp"));
  expect_sample_entries(read_npz(dir / "stored.npz"));
  expect_sample_entries(read_npz(dir / "deflated.npz"));

  // Zeros deflate well: the compressed file is much smaller.
  write_npz(dir / "zeros.npz", {{"z", at::zeros({1000}, at::kDouble)}}, true);
  EXPECT_LT(std::filesystem::file_size(dir / "zeros.npz"), 1000u);
  EXPECT_EQ(read_npz(dir / "zeros.npz").tensor("z").abs().sum().item<double>(), 0.0);
}

TEST(Npz, NumpyLoadsWhatWeWrite) {
  REQUIRE_NUMPY();
  TempDir dir;
  write_npz(dir / "stored.npz", sample_entries());
  write_npz(dir / "deflated.npz", sample_entries(), /*compress=*/true);
  write_npz(dir / "empty.npz", NpzEntries{});
  EXPECT_EQ(run_python(dir, R"(
d = sys.argv[1]
for name, method in (("stored", zipfile.ZIP_STORED), ("deflated", zipfile.ZIP_DEFLATED)):
    path = f"{d}/{name}.npz"
    assert all(i.compress_type == method for i in zipfile.ZipFile(path).infolist()), name
    with np.load(path, allow_pickle=True) as z:
        assert z.files == ["inputs", "outputs", "mask", "index", "scalar", "empty",
                           "sampling_configs"], z.files
        assert z["inputs"].dtype == np.float64
        assert (z["inputs"] == np.arange(12).reshape(4, 3) / 8).all()
        assert z["outputs"].dtype == np.float32 and z["outputs"].shape == (4, 1)
        assert z["mask"].dtype == np.bool_ and z["mask"].tolist() == [True, False, True, True]
        assert z["index"].dtype == np.int64 and z["index"].tolist() == [-2, -1, 0, 1]
        assert z["scalar"].shape == () and z["scalar"] == 3.5
        assert z["empty"].shape == (0, 7)
        c = z["sampling_configs"].tolist()
        assert isinstance(c, dict), type(c)
        assert c["data_name"] == "brains \u00b5 test", c["data_name"]
        assert c["amplification"] == [39.5] and c["clipping_value"] is None
        assert tuple(c["flags"]) == (True, False) and c["count"] == -(2**40)
        ranges = np.asarray(c["electrode_info"]["voltage_ranges"])
        assert ranges.shape == (2, 2) and ranges[:, 0].tolist() == [-1.0, -0.5], ranges
        assert np.asarray(c["electrode_info"]["shift"]).tolist() == [0.25, 0.5]
        assert dict(z["sampling_configs"].tolist())["count"] == -(2**40)
with np.load(f"{d}/empty.npz") as z:
    assert z.files == []
)"),
            0);
}

TEST(Npz, RewritingAnSmgFileKeepsItsContent) {
  REQUIRE_NUMPY();
  TempDir dir;
  const NpzFile original = read_npz(smg_file("postprocessed_data.npz"));
  write_npz(dir / "copy.npz", original.entries());
  EXPECT_EQ(run_python(dir, R"(
d = sys.argv[1]
def same(a, b):
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) == type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and (a == b).all()
    return type(a) == type(b) and a == b
ref = np.load(")" + smg_file("postprocessed_data.npz").string() +
                                R"(", allow_pickle=True)
ours = np.load(f"{d}/copy.npz", allow_pickle=True)
assert ref.files == ours.files
for k in ref.files:
    assert same(ref[k].tolist() if k == "sampling_configs" else ref[k],
                ours[k].tolist() if k == "sampling_configs" else ours[k]), k
)"),
            0);
}

TEST(Npz, ReadsNumpysCompressedAndFortranArrays) {
  REQUIRE_NUMPY();
  TempDir dir;
  ASSERT_EQ(run_python(dir, R"(
d = sys.argv[1]
a = np.asfortranarray(np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 4)
np.savez_compressed(f"{d}/numpy.npz", fortran=a, mask=np.array([True, False]),
                    big=np.arange(3, dtype=">i8"), configs={"x": [1, 2], "y": None})
assert zipfile.ZipFile(f"{d}/numpy.npz").infolist()[0].compress_type == zipfile.ZIP_DEFLATED
)"),
            0);
  const NpzFile npz = read_npz(dir / "numpy.npz");
  EXPECT_THAT(npz.names(), ElementsAre("fortran", "mask", "big", "configs"));
  const at::Tensor fortran = npz.tensor("fortran");
  EXPECT_TRUE(fortran.is_contiguous());
  EXPECT_TRUE(fortran.equal(at::arange(24, at::kDouble).reshape({2, 3, 4}).div(4)));
  EXPECT_THAT(values_of(npz.tensor("mask")), ElementsAre(1.0, 0.0));
  EXPECT_TRUE(npz.tensor("big").equal(at::arange(3, at::kLong)));
  EXPECT_EQ(npz.get("configs").at("x").items().at(1).as_int(), 2);
  EXPECT_TRUE(npz.get("configs").at("y").is_none());
}

TEST(Npz, EmptyArchiveRoundTrips) {
  TempDir dir;
  write_npz(dir / "empty.npz", NpzEntries{});
  EXPECT_TRUE(read_npz(dir / "empty.npz").entries().empty());
}

// ---------------------------------------------------------------------------------------
// Bad input: each a FormatError, never a crash

TEST(Npz, RejectsTruncatedArchives) {
  TempDir dir;
  const std::string bytes = read_bytes(smg_file("postprocessed_data.npz"));
  for (const std::size_t length :
       {std::size_t{0}, std::size_t{10}, std::size_t{100}, bytes.size() / 2, bytes.size() - 23,
        bytes.size() - 22, bytes.size() - 1}) {
    SCOPED_TRACE(length);
    const auto path = dir.write("truncated.npz", bytes.substr(0, length));
    EXPECT_THAT(message_of([&] { read_npz(path); }),
                HasSubstr("truncated.npz: cannot open zip archive: "));
  }
}

TEST(Npz, RejectsCorruptArchives) {
  TempDir dir;
  const std::string bytes = read_bytes(smg_file("postprocessed_data.npz"));
  auto flipped = [&](std::size_t at) {
    std::string copy = bytes;
    copy[at] = static_cast<char>(copy[at] ^ 0x5A);
    return dir.write("corrupt.npz", copy);
  };
  // In the data of inputs.npy: the CRC check catches it.
  EXPECT_THAT(message_of([&] { read_npz(flipped(40 + 128 + 1000)); }),
              HasSubstr("corrupt.npz: entry inputs.npy: cannot read zip entry: CRC error"));
  // The end-of-central-directory signature.
  EXPECT_THAT(message_of([&] { read_npz(flipped(bytes.size() - 22)); }),
              HasSubstr("cannot open zip archive"));
  // A local header signature.
  EXPECT_THAT(message_of([&] { read_npz(flipped(0)); }), HasSubstr("corrupt.npz"));

  // Any single flipped byte: a clean result or a FormatError. Every byte of the first local
  // header and of the central directory at the end, a sample of the rest.
  for (std::size_t at = 0; at < bytes.size(); at += (at < 64 || at + 300 > bytes.size()) ? 1 : 53) {
    const auto path = flipped(at);
    try {
      read_npz(path);
    } catch (const FormatError&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << "byte " << at << ": " << typeid(e).name() << ": " << e.what();
    }
  }
}

TEST(Npz, RejectsOtherFiles) {
  TempDir dir;
  EXPECT_THAT(message_of([&] { read_npz(dir.write("text.npz", "hello, not a zip file\n")); }),
              HasSubstr("text.npz: cannot open zip archive: Not a zip archive"));
  EXPECT_THAT(message_of([&] { read_npz(dir / "missing.npz"); }),
              HasSubstr("missing.npz: cannot open zip archive: No such file"));
}

TEST(Npz, RejectsUnsupportedOrBrokenMembers) {
  TempDir dir;
  const std::string f8 = npy_bytes(at::ones({2}, at::kDouble));
  auto with_member = [&](const std::string& name, const std::string& data) {
    ZipWriter zip(dir / "bad.npz");
    zip.add("good.npy", f8);
    zip.add(name, data);
    zip.commit();
    return dir / "bad.npz";
  };
  auto with_descr = [&](const std::string& descr) {
    std::string bytes = f8;
    bytes.replace(bytes.find("<f8"), 3, descr);
    return with_member("x.npy", bytes);
  };
  EXPECT_THAT(message_of([&] { read_npz(with_descr("<c8")); }),
              HasSubstr("bad.npz: entry x.npy: cannot read npy array: unsupported dtype <c8"));
  EXPECT_THAT(message_of([&] { read_npz(with_descr("<U2")); }),
              HasSubstr("entry x.npy: cannot read npy array: unsupported dtype <U2"));
  EXPECT_THAT(message_of([&] { read_npz(with_member("x.npy", "not an npy file")); }),
              HasSubstr("bad.npz: entry x.npy, byte 0: cannot read npy array: bad magic"));
  EXPECT_THAT(message_of([&] { read_npz(with_member("x.npy", f8.substr(0, f8.size() - 4))); }),
              HasSubstr("entry x.npy, byte 128: cannot read npy array: header says 16 bytes"));
  // A pickle cut short inside an object member.
  const std::string object = npy_bytes(sample_entries().back().second);
  EXPECT_THAT(
      message_of([&] { read_npz(with_member("o.npy", object.substr(0, object.size() - 9))); }),
      HasSubstr("bad.npz"));
  // Members that are not .npy files come back as bytes, as in numpy.
  const NpzFile npz = read_npz(with_member("notes.txt", "hello"));
  EXPECT_EQ(npz.get("notes.txt").as_string(), "hello");
  EXPECT_THAT(message_of([&] { npz.tensor("notes.txt"); }), HasSubstr("expected a numeric array"));
  EXPECT_THAT(message_of([&] { npz.get("absent"); }),
              HasSubstr("bad.npz: cannot find npz entry 'absent'"));
}

// ---------------------------------------------------------------------------------------
// The zip layer

TEST(Zip, ReaderListsAndReadsEntries) {
  const ZipReader zip(smg_file("postprocessed_data.npz"));
  EXPECT_THAT(zip.entry_names(), ElementsAre("inputs.npy", "outputs.npy", "sampling_configs.npy"));
  EXPECT_TRUE(zip.contains("outputs.npy"));
  EXPECT_FALSE(zip.contains("outputs"));
  EXPECT_EQ(zip.read("outputs.npy").size(), 880u);
  EXPECT_THAT(message_of([&] { zip.read("nope.npy"); }),
              HasSubstr("entry nope.npy: cannot read zip entry: no such entry"));
  ZipReader first(smg_file("charging_signal.npz"));
  const ZipReader moved(std::move(first));
  EXPECT_EQ(moved.entry_names().size(), 3u);
}

TEST(Zip, WriterLeavesThePreviousFileUntilCommit) {
  TempDir dir;
  const auto path = dir.write("a.zip", "previous");
  {
    ZipWriter zip(path);
    zip.add("x", "new");
    EXPECT_THROW(zip.add("x", "again"), ArgumentError);
  }  // no commit
  EXPECT_EQ(read_bytes(path), "previous");
  ZipWriter zip(path);
  zip.add("x", std::string(5000, 'a'), /*compress=*/true);
  zip.add("y", "stored");
  zip.commit();
  EXPECT_FALSE(std::filesystem::exists(dir / "a.zip.tmp"));
  const ZipReader reader(path);
  EXPECT_EQ(reader.read("x"), std::string(5000, 'a'));
  EXPECT_EQ(reader.read("y"), "stored");
  EXPECT_THROW(ZipWriter(dir / "no" / "such" / "dir.zip").commit(), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "no"));
}

}  // namespace
}  // namespace brains::io
