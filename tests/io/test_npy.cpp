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
#include "support/temp_dir.h"

namespace brains::io {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

// Runs a Python script with numpy; the script's asserts decide. Skips when there is no numpy.
bool numpy_available() {
  static const bool available =
      std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
  return available;
}

int run_python(const TempDir& dir, const std::string& script) {
  const auto file = dir.write("check.py", "import sys\nimport numpy as np\n" + script);
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

// An .npy file by hand: version, header dict (padded to 64 bytes) and raw data.
std::string npy_file(const std::string& dict, const std::string& data, int version = 1) {
  const std::size_t prefix = version == 1 ? 10 : 12;
  std::string header = dict;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(version);
  out += '\0';
  for (std::size_t i = 0; i < prefix - 8; ++i)
    out += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return out + header + data;
}

template <typename T>
std::string raw(std::initializer_list<T> values) {
  std::string out;
  for (const T value : values) out.append(reinterpret_cast<const char*>(&value), sizeof(T));
  return out;
}

std::string reversed_items(std::string data, std::size_t item) {
  for (std::size_t i = 0; i < data.size(); i += item)
    std::reverse(data.begin() + static_cast<std::ptrdiff_t>(i),
                 data.begin() + static_cast<std::ptrdiff_t>(i + item));
  return data;
}

TEST(Npy, RoundTripsEveryDtype) {
  for (const auto type : {at::kHalf, at::kFloat, at::kDouble, at::kChar, at::kShort, at::kInt,
                          at::kLong, at::kByte, at::kBool}) {
    SCOPED_TRACE(c10::toString(type));
    at::Tensor source = at::arange(-3, 9).reshape({3, 4});
    source = type == at::kBool   ? source.remainder(3).eq(0)
             : type == at::kByte ? source.abs().to(type)
                                 : source.to(type);
    const at::Tensor back = parse_npy(npy_bytes(source), "memory");
    EXPECT_EQ(back.scalar_type(), type);
    EXPECT_EQ(back.sizes(), source.sizes());
    EXPECT_TRUE(back.is_contiguous());
    EXPECT_TRUE(back.equal(source));
  }
}

TEST(Npy, WritesNumpysHeaderLayout) {
  const std::string bytes = npy_bytes(at::zeros({94, 7}, at::kDouble));
  const std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (94, 7), }";
  ASSERT_EQ(bytes.size(), 128u + 94 * 7 * 8);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_EQ(static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8, 118);
  EXPECT_EQ(bytes.substr(10, dict.size()), dict);
  EXPECT_EQ(bytes[127], '\n');
  EXPECT_THAT(npy_bytes(at::ones({5}, at::kFloat)), HasSubstr("'shape': (5,), }"));
  EXPECT_THAT(npy_bytes(at::scalar_tensor(2.5, at::kFloat)), HasSubstr("'shape': (), }"));
  EXPECT_THAT(npy_bytes(at::ones({2}, at::kBool)), HasSubstr("'descr': '|b1'"));
}

TEST(Npy, ZeroDimensionalAndEmptyArrays) {
  const at::Tensor scalar = parse_npy(npy_bytes(at::scalar_tensor(-1.25, at::kDouble)), "memory");
  EXPECT_EQ(scalar.dim(), 0);
  EXPECT_EQ(scalar.item<double>(), -1.25);
  for (const std::vector<std::int64_t>& shape : {std::vector<std::int64_t>{0}, {2, 0, 3}, {0, 7}}) {
    const at::Tensor empty = parse_npy(npy_bytes(at::empty(shape, at::kFloat)), "memory");
    EXPECT_EQ(empty.sizes(), at::IntArrayRef(shape));
    EXPECT_EQ(empty.numel(), 0);
  }
}

TEST(Npy, WritesNonContiguousTensorsInCOrder) {
  const at::Tensor base = at::arange(6, at::kInt).reshape({2, 3});
  const at::Tensor transposed = base.t();  // (3, 2), not contiguous
  const at::Tensor back = parse_npy(npy_bytes(transposed), "memory");
  EXPECT_TRUE(back.equal(transposed));
  const at::Tensor strided = at::arange(10, at::kLong).slice(0, 0, 10, 3);  // 0 3 6 9
  EXPECT_TRUE(parse_npy(npy_bytes(strided), "memory").equal(strided));
}

TEST(Npy, ReadsFortranOrderAsCContiguous) {
  // [[1, 2, 3], [4, 5, 6]] stored column by column.
  const std::string bytes = npy_file("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
                                     raw<double>({1, 4, 2, 5, 3, 6}));
  const at::Tensor array = parse_npy(bytes, "memory");
  EXPECT_TRUE(array.is_contiguous());
  EXPECT_TRUE(array.equal(at::tensor({1., 2., 3., 4., 5., 6.}, at::kDouble).reshape({2, 3})));
  const std::string one_d = npy_file("{'descr': '<i4', 'fortran_order': True, 'shape': (3,), }",
                                     raw<std::int32_t>({7, 8, 9}));
  EXPECT_TRUE(parse_npy(one_d, "memory").equal(at::tensor({7, 8, 9}, at::kInt)));
}

TEST(Npy, SwapsBigEndianData) {
  const std::string f8 = npy_file("{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }",
                                  reversed_items(raw<double>({1.5, -2.25}), 8));
  EXPECT_TRUE(parse_npy(f8, "memory").equal(at::tensor({1.5, -2.25}, at::kDouble)));
  const std::string i4 = npy_file("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }",
                                  reversed_items(raw<std::int32_t>({258, -3}), 4));
  EXPECT_TRUE(parse_npy(i4, "memory").equal(at::tensor({258, -3}, at::kInt)));
}

TEST(Npy, ReadsFormatVersions2And3) {
  for (const int version : {2, 3}) {
    const std::string bytes =
        npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }",
                 raw<float>({0.5f, 4.f}), version);
    const NpyHeader header = parse_npy_header(bytes, "memory");
    EXPECT_EQ(header.major_version, version);
    EXPECT_EQ(header.data_offset, 128u);  // 12-byte prefix + 60-byte dict, padded to 64
    EXPECT_TRUE(parse_npy(bytes, "memory").equal(at::tensor({0.5f, 4.f}).reshape({2, 1})));
  }
}

TEST(Npy, AcceptsPython2LongsAndAnyNonZeroBoolByte) {
  const std::string longs = npy_file("{'descr': '|u1', 'fortran_order': False, 'shape': (2L,), }",
                                     std::string("\x01\xff", 2));
  EXPECT_TRUE(parse_npy(longs, "memory").equal(at::tensor({1, 255}, at::kByte)));
  const std::string bools = npy_file("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }",
                                     std::string("\x00\x01\x02", 3));
  const at::Tensor flags = parse_npy(bools, "memory");
  EXPECT_EQ(flags.scalar_type(), at::kBool);
  EXPECT_EQ(flags.sum().item<std::int64_t>(), 2);
}

TEST(Npy, WritesAtomicallyAndReadsBack) {
  TempDir dir;
  const auto path = dir / "a.npy";
  const at::Tensor array = at::linspace(-1, 1, 12, at::kFloat).reshape({3, 4});
  write_npy(path, array);
  EXPECT_FALSE(std::filesystem::exists(dir / "a.npy.tmp"));
  EXPECT_TRUE(read_npy(path).equal(array));
  const PyValue value = read_npy_value(path);
  ASSERT_EQ(value.kind(), PyValue::Kind::Array);
  EXPECT_TRUE(value.tensor().equal(array));
}

TEST(Npy, NumpyReadsWhatWeWrite) {
  REQUIRE_NUMPY();
  TempDir dir;
  write_npy(dir / "f4.npy", at::arange(12, at::kFloat).reshape({3, 4}).mul(0.5));
  write_npy(dir / "f8.npy", at::tensor({-0.2412919546, 3.9325224075}, at::kDouble));
  write_npy(dir / "i8.npy", at::arange(-2, 3, at::kLong));
  write_npy(dir / "i4.npy", at::arange(6, at::kInt).reshape({2, 3}).t());
  write_npy(dir / "b1.npy", at::tensor({1, 0, 1}, at::kInt).to(at::kBool));
  write_npy(dir / "u1.npy", at::tensor({0, 200, 255}, at::kInt).to(at::kByte));
  write_npy(dir / "i2.npy", at::tensor({-300, 300}, at::kInt).to(at::kShort));
  write_npy(dir / "scalar.npy", at::scalar_tensor(7.0, at::kDouble));
  write_npy(dir / "empty.npy", at::empty({0, 3}, at::kFloat));
  EXPECT_EQ(run_python(dir, R"(
d = sys.argv[1]
def load(name, dtype, shape):
    a = np.load(f"{d}/{name}.npy")
    assert a.dtype == np.dtype(dtype) and a.shape == shape, (name, a.dtype, a.shape)
    return a
assert (load("f4", "<f4", (3, 4)) == np.arange(12, dtype=np.float32).reshape(3, 4) * 0.5).all()
assert (load("f8", "<f8", (2,)) == [-0.2412919546, 3.9325224075]).all()
assert (load("i8", "<i8", (5,)) == [-2, -1, 0, 1, 2]).all()
assert (load("i4", "<i4", (3, 2)) == np.arange(6).reshape(2, 3).T).all()
assert (load("b1", "|b1", (3,)) == [True, False, True]).all()
assert (load("u1", "|u1", (3,)) == [0, 200, 255]).all()
assert (load("i2", "<i2", (2,)) == [-300, 300]).all()
assert load("scalar", "<f8", ()) == 7.0
load("empty", "<f4", (0, 3))
)"),
            0);
}

TEST(Npy, ReadsWhatNumpyWrites) {
  REQUIRE_NUMPY();
  TempDir dir;
  ASSERT_EQ(run_python(dir, R"(
d = sys.argv[1]
base = np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.25
np.save(f"{d}/fortran.npy", np.asfortranarray(base))
np.save(f"{d}/big.npy", np.array([[1.5, -2.0], [3.25, 1e-300]], dtype=">f8"))
np.save(f"{d}/i8.npy", np.array([-(2**40), 2**40], dtype=np.int64))
np.save(f"{d}/b1.npy", np.array([[True, False], [False, True]]))
np.save(f"{d}/scalar.npy", np.float32(0.79999995))
for major in (2, 3):
    with open(f"{d}/v{major}.npy", "wb") as f:
        np.lib.format.write_array(f, np.array([1, 2], dtype="<i2"), version=(major, 0))
)"),
            0);
  const at::Tensor fortran = read_npy(dir / "fortran.npy");
  EXPECT_TRUE(fortran.is_contiguous());
  EXPECT_TRUE(fortran.equal(at::arange(24, at::kFloat).reshape({2, 3, 4}).mul(0.25)));
  const at::Tensor big = read_npy(dir / "big.npy");
  EXPECT_TRUE(big.equal(at::tensor({1.5, -2.0, 3.25, 1e-300}, at::kDouble).reshape({2, 2})));
  const at::Tensor longs = read_npy(dir / "i8.npy");
  EXPECT_EQ(longs[0].item<std::int64_t>(), -(std::int64_t{1} << 40));
  EXPECT_TRUE(read_npy(dir / "b1.npy").equal(at::eye(2).to(at::kBool)));
  const at::Tensor scalar = read_npy(dir / "scalar.npy");
  EXPECT_EQ(scalar.dim(), 0);
  EXPECT_EQ(scalar.item<float>(), 0.79999995f);
  for (const char* name : {"v2.npy", "v3.npy"})
    EXPECT_TRUE(read_npy(dir / name).equal(at::tensor({1, 2}, at::kShort)));
}

TEST(Npy, ReadsAndWritesObjectArrays) {
  REQUIRE_NUMPY();
  TempDir dir;
  ASSERT_EQ(run_python(dir, R"(
d = sys.argv[1]
np.save(f"{d}/dict.npy", {"amplification": [39.5], "clipping_value": None, "name": "x",
                          "ranges": np.array([[-1.0, 0.8]], dtype=np.float32)})
)"),
            0);
  EXPECT_THAT(message_of([&] { read_npy(dir / "dict.npy"); }), HasSubstr("object array"));
  const PyValue value = read_npy_value(dir / "dict.npy");
  ASSERT_TRUE(value.is_dict());
  EXPECT_EQ(value.at("amplification").items().at(0).as_double(), 39.5);
  EXPECT_TRUE(value.at("clipping_value").is_none());
  EXPECT_EQ(value.at("name").as_string(), "x");
  EXPECT_EQ(value.at("ranges").tensor()[0][1].item<float>(), 0.8f);

  write_npy(dir / "ours.npy", value);
  EXPECT_EQ(run_python(dir, R"(
d = sys.argv[1]
v = np.load(f"{d}/ours.npy", allow_pickle=True)
assert v.dtype == object and v.shape == (), (v.dtype, v.shape)
v = v.tolist()
assert isinstance(v, dict), type(v)
assert v["amplification"] == [39.5] and v["clipping_value"] is None and v["name"] == "x", v
assert np.allclose(np.asarray(v["ranges"]), [[-1.0, 0.8]])
)"),
            0);
}

TEST(Npy, RejectsMalformedInputWithFormatError) {
  const std::string ok_dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
  const std::string data = raw<double>({1, 2});
  const std::string good = npy_file(ok_dict, data);
  ASSERT_NO_THROW(parse_npy(good, "good.npy"));

  EXPECT_THAT(message_of([&] { parse_npy("PK\x03\x04 not an npy file", "x.npy"); }),
              HasSubstr("x.npy: byte 0: cannot read npy array: bad magic"));
  EXPECT_THAT(message_of([&] { parse_npy("", "x.npy"); }), HasSubstr("bad magic"));
  EXPECT_THAT(message_of([&] { parse_npy(good.substr(0, 9), "x.npy"); }), HasSubstr("truncated"));
  EXPECT_THAT(message_of([&] { parse_npy(good.substr(0, 40), "x.npy"); }),
              HasSubstr("exceeds the file"));
  // The header claims 2 doubles; the file has one, or three.
  EXPECT_THAT(message_of([&] { parse_npy(good.substr(0, good.size() - 8), "x.npy"); }),
              HasSubstr("header says 16 bytes of data, file has 8"));
  EXPECT_THAT(message_of([&] { parse_npy(good + raw<double>({3}), "x.npy"); }),
              HasSubstr("header says 16 bytes"));
  std::string version4 = good;
  version4[6] = 4;
  EXPECT_THAT(message_of([&] { parse_npy(version4, "x.npy"); }), HasSubstr("version 4"));

  for (const std::string descr : {"<c8", "<U5", "<u4", ">M8", "|V16", "f8", "<f16"}) {
    const std::string bytes =
        npy_file("{'descr': '" + descr + "', 'fortran_order': False, 'shape': (2,), }", data);
    EXPECT_THAT(message_of([&] { parse_npy(bytes, "x.npy"); }),
                HasSubstr("x.npy: cannot read npy array: unsupported dtype " + descr));
  }
  const std::string structured = npy_file(
      "{'descr': [('a', '<f8'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }", "");
  EXPECT_THAT(message_of([&] { parse_npy(structured, "x.npy"); }),
              HasSubstr("unsupported dtype [('a', '<f8'), ('b', '<i4')]"));

  for (const std::string dict :
       {"{'descr': '<f8', 'shape': (2,), }",
        "{'descr': '<f8', 'fortran_order': false, 'shape': (2,)}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2,) ", "['descr']",
        "{'descr': '<f8, 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,)}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, "
        "4294967296)}"}) {
    SCOPED_TRACE(dict);
    EXPECT_THAT(message_of([&] { parse_npy(npy_file(dict, data), "x.npy"); }),
                HasSubstr("x.npy: "));
  }
  EXPECT_THAT(message_of([&] { read_npy("/nonexistent/brains/a.npy"); }),
              HasSubstr("cannot open file"));
}

TEST(Npy, RefusesToWriteUnsupportedDtypes) {
  EXPECT_THROW(npy_bytes(at::ones({2}, at::kComplexFloat)), ArgumentError);
  EXPECT_THROW(npy_bytes(at::Tensor()), ArgumentError);
}

}  // namespace
}  // namespace brains::io
