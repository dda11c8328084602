#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <string>

#include "brains/core/error.h"
#include "brains/io/pickle.h"
#include "brains/io/py_value.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace brains::io {
namespace {

using ::testing::HasSubstr;
using testing::run_python;
using testing::TempDir;

using Kind = PyValue::Kind;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// at::tensor has no bool overload in LibTorch 1.13.
at::Tensor bools(std::initializer_list<int> values) {
  return at::tensor(std::vector<int>(values), at::kInt).to(at::kBool);
}

PyValue str(const std::string& s) { return PyValue::string(s); }
PyValue num(std::int64_t v) { return PyValue::integer(v); }

// Deep equality; tensors compare dtype, shape and values (NaN equal to NaN).
bool same(const PyValue& a, const PyValue& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::None: return true;
    case Kind::Bool: return a.as_bool() == b.as_bool();
    case Kind::Int: return a.as_int() == b.as_int();
    case Kind::Float:
      return a.as_double() == b.as_double() ||
             (std::isnan(a.as_double()) && std::isnan(b.as_double()));
    case Kind::String:
    case Kind::Bytes: return a.as_string() == b.as_string();
    case Kind::List:
    case Kind::Tuple: {
      if (a.items().size() != b.items().size()) return false;
      for (std::size_t i = 0; i < a.items().size(); ++i)
        if (!same(a.items()[i], b.items()[i])) return false;
      return true;
    }
    case Kind::Dict: {
      if (a.ordered() != b.ordered() || a.dict_items().size() != b.dict_items().size())
        return false;
      for (std::size_t i = 0; i < a.dict_items().size(); ++i)
        if (!same(a.dict_items()[i].first, b.dict_items()[i].first) ||
            !same(a.dict_items()[i].second, b.dict_items()[i].second))
          return false;
      return true;
    }
    case Kind::Tensor:
    case Kind::Array: {
      const at::Tensor& x = a.tensor();
      const at::Tensor& y = b.tensor();
      return x.scalar_type() == y.scalar_type() && x.sizes() == y.sizes() &&
             (x.numel() == 0 || at::equal(x, y));
    }
  }
  return false;
}

std::string format_error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const FormatError& e) {
    return e.what();
  }
  return "<no FormatError>";
}

PyValue roundtrip(const PyValue& value, int protocol) {
  PickleWriteOptions options;
  options.protocol = protocol;
  return unpickle(pickle(value, options));
}

// Pieces of hand-made pickles.
std::string binunicode(const std::string& text) {
  std::string out = "X";
  for (int i = 0; i < 4; ++i) out += static_cast<char>((text.size() >> (8 * i)) & 0xFF);
  return out + text;
}

std::string storage_pid(const std::string& cls, const std::string& key, int numel) {
  return "(" + binunicode("storage") + "ctorch\n" + cls + "\n" + binunicode(key) +
         binunicode("cpu") + "K" + std::string(1, static_cast<char>(numel)) + "tQ";
}

// ---------------------------------------------------------------------------------------
// PyValue

TEST(PyValue, TypedAccessNamesBothKinds) {
  const PyValue value = num(3);
  EXPECT_EQ(value.as_int(), 3);
  EXPECT_DOUBLE_EQ(value.as_double(), 3.0);
  try {
    value.as_string();
    FAIL() << "no ArgumentError";
  } catch (const ArgumentError& e) {
    EXPECT_THAT(e.what(), HasSubstr("expected str, got int"));
  }
  EXPECT_THROW(PyValue::none().items(), ArgumentError);
}

TEST(PyValue, DictLookupAndSetKeepOrder) {
  PyValue dict = PyValue::dict({{str("b"), num(1)}, {num(5), str("five")}});
  EXPECT_EQ(dict.at("b").as_int(), 1);
  EXPECT_EQ(dict.find("5"), nullptr);  // only string keys are found by name
  dict.set("a", num(2));
  dict.set("b", num(3));
  ASSERT_EQ(dict.dict_items().size(), 3u);
  EXPECT_EQ(dict.dict_items()[0].first.as_string(), "b");
  EXPECT_EQ(dict.dict_items()[0].second.as_int(), 3);
  EXPECT_EQ(dict.dict_items()[2].first.as_string(), "a");
  EXPECT_THROW(dict.at("missing"), ArgumentError);
}

TEST(PyValue, ToYamlAndBack) {
  const PyValue value = PyValue::dict({
      {str("n"), PyValue::none()},
      {str("flag"), PyValue::boolean(true)},
      {str("count"), num(-7)},
      {str("rate"), PyValue::floating(0.001)},
      {str("whole"), PyValue::floating(2.0)},
      {str("tiny"), PyValue::floating(1e-8)},
      {str("text"), str("elu")},
      {str("numeric_text"), str("1.5")},
      {str("yes_text"), str("yes")},
      {str("list"), PyValue::list({num(1), PyValue::floating(0.5)})},
  });
  const YAML::Node node = to_yaml(value);
  EXPECT_TRUE(node["n"].IsNull());
  EXPECT_TRUE(node["flag"].as<bool>());
  EXPECT_EQ(node["count"].as<int>(), -7);
  EXPECT_EQ(node["rate"].Scalar(), "0.001");
  EXPECT_EQ(node["whole"].Scalar(), "2.0");
  EXPECT_EQ(node["tiny"].Scalar(), "1.0e-08");
  EXPECT_DOUBLE_EQ(node["tiny"].as<double>(), 1e-8);

  // Through text and back: kinds survive, including strings that look like numbers.
  YAML::Emitter out;
  out << node;
  const PyValue back = from_yaml(YAML::Load(out.c_str()));
  EXPECT_TRUE(same(back, value)) << out.c_str();
}

TEST(PyValue, FloatsArePrintedLikePythonRepr) {
  const std::pair<double, const char*> cases[] = {
      {0.1, "0.1"},
      {100.0, "100.0"},
      {1e15, "1000000000000000.0"},
      {1e16, "1.0e+16"},
      {0.0001, "0.0001"},
      {1e-5, "1.0e-05"},
      {-0.0, "-0.0"},
      {1.5e300, "1.5e+300"},
      {22.97, "22.97"},
      {-68.91, "-68.91"},
      {1.0 / 3.0, "0.3333333333333333"},
      {std::numeric_limits<double>::infinity(), ".inf"}};
  for (const auto& [value, text] : cases) {
    EXPECT_EQ(to_yaml(PyValue::floating(value)).Scalar(), text);
    EXPECT_EQ(from_yaml(YAML::Load(text)).as_double(), value) << text;
  }
  EXPECT_EQ(from_yaml(YAML::Load("!!float 1")).kind(), Kind::Float);
}

TEST(PyValue, TensorsBecomeNestedSequences) {
  const at::Tensor t = at::tensor({0.1f, 0.25f, -3.0f, 4.5f}).reshape({2, 2});
  const YAML::Node node = to_yaml(PyValue::array(t));
  ASSERT_TRUE(node.IsSequence());
  ASSERT_EQ(node.size(), 2u);
  EXPECT_EQ(node[0][0].Scalar(), "0.1");  // float32 printed shortest, not 0.100000001
  EXPECT_FLOAT_EQ(node[1][0].as<float>(), -3.0f);
  EXPECT_EQ(to_yaml(PyValue::tensor(bools({1, 0})))[1].as<bool>(), false);
  EXPECT_EQ(to_yaml(PyValue::tensor(at::scalar_tensor(7, at::kLong))).as<int>(), 7);
}

TEST(PyValue, FromYamlFollowsSpelling) {
  const YAML::Node node =
      YAML::Load("a: 3\nb: 3.0\nc: '3'\nd: true\ne: ~\nf: [1, x]\ng: 1e-3\nh: .inf\ni: off\n");
  const PyValue value = from_yaml(node);
  EXPECT_EQ(value.at("a").kind(), Kind::Int);
  EXPECT_EQ(value.at("b").kind(), Kind::Float);
  EXPECT_EQ(value.at("c").kind(), Kind::String);
  EXPECT_EQ(value.at("d").as_bool(), true);
  EXPECT_TRUE(value.at("e").is_none());
  EXPECT_EQ(value.at("f").items()[1].as_string(), "x");
  EXPECT_DOUBLE_EQ(value.at("g").as_double(), 1e-3);
  EXPECT_TRUE(std::isinf(value.at("h").as_double()));
  EXPECT_FALSE(value.at("i").as_bool());
}

// ---------------------------------------------------------------------------------------
// Round trips through our own writer and reader

PyValue sample_value() {
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes += static_cast<char>(i);
  PyValue::Items long_list;
  for (int i = 0; i < 2500; ++i) long_list.push_back(num(i * 1000));
  return PyValue::dict({
      {str("none"), PyValue::none()},
      {str("bools"), PyValue::list({PyValue::boolean(true), PyValue::boolean(false)})},
      {str("ints"),
       PyValue::list({num(0), num(255), num(256), num(65535), num(65536), num(-1),
                      num(std::numeric_limits<std::int32_t>::min()),
                      num(std::numeric_limits<std::int32_t>::max()), num(1LL << 31), num(1LL << 40),
                      num(std::numeric_limits<std::int64_t>::min()),
                      num(std::numeric_limits<std::int64_t>::max()), num(-129), num(128)})},
      {str("floats"), PyValue::list({PyValue::floating(0.1), PyValue::floating(-2.5e300),
                                     PyValue::floating(-std::numeric_limits<double>::infinity()),
                                     PyValue::floating(std::nan(""))})},
      {str("text"), str("\xc2\xb5"
                        "A \xe2\x80\x93 ok")},
      {str("bytes"), PyValue::bytes(all_bytes)},
      {str("tuples"),
       PyValue::list({PyValue::tuple(), PyValue::tuple({num(1)}), PyValue::tuple({num(1), num(2)}),
                      PyValue::tuple({num(1), num(2), num(3)}),
                      PyValue::tuple({num(1), num(2), num(3), str("four")})})},
      {str("long_list"), PyValue::list(long_list)},
      {num(7), str("int key")},
      {PyValue::tuple({num(1), str("x")}), str("tuple key")},
      {str("ordered"), PyValue::dict({{str("z"), num(1)}, {str("a"), num(2)}}, true)},
      {str("f4"), PyValue::array(at::arange(6, at::kFloat).reshape({2, 3}) / 4)},
      {str("f8"), PyValue::array(at::tensor({1.5, -2.25}, at::kDouble))},
      {str("i8"), PyValue::array(at::tensor({std::int64_t{1} << 40}, at::kLong))},
      {str("i4"), PyValue::array(at::tensor({-1, 2}, at::kInt))},
      {str("b1"), PyValue::array(bools({1, 0, 1}))},
      {str("u1"), PyValue::array(at::tensor({0, 255}, at::kByte))},
      {str("f8_0d"), PyValue::array(at::scalar_tensor(3.25, at::kDouble))},
      {str("empty"), PyValue::array(at::zeros({0, 3}, at::kFloat))},
  });
}

TEST(Pickle, RoundTripsEveryKindInProtocols2And3) {
  const PyValue value = sample_value();
  for (int protocol : {2, 3}) {
    SCOPED_TRACE(protocol);
    const PyValue back = roundtrip(value, protocol);
    EXPECT_TRUE(same(back, value));
  }
}

TEST(Pickle, ObjectArrayWrapperUnwrapsToItsValue) {
  PickleWriteOptions options;
  options.protocol = 3;
  options.as_object_array = true;
  const PyValue value = PyValue::dict({{str("data_name"), str("x")}});
  EXPECT_TRUE(same(unpickle(pickle(value, options)), value));
}

TEST(Pickle, ArraysAsListsWhenAsked) {
  PickleWriteOptions options;
  options.arrays_as_numpy = false;
  const PyValue value = PyValue::array(at::tensor({1.5, 2.5}, at::kDouble).reshape({2, 1}));
  const PyValue back = unpickle(pickle(value, options));
  const PyValue expected = PyValue::list(
      {PyValue::list({PyValue::floating(1.5)}), PyValue::list({PyValue::floating(2.5)})});
  EXPECT_TRUE(same(back, expected));
}

TEST(Pickle, RefusesValuesPythonCannotRead) {
  EXPECT_THROW(pickle(PyValue::dict({{PyValue::list(), num(1)}})), ArgumentError);
  EXPECT_THROW(pickle(str("\xff\xfe")), ArgumentError);
  EXPECT_THROW(pickle(PyValue::tensor(at::ones({2}))), ArgumentError);  // no storage writer
  PickleWriteOptions options;
  options.protocol = 4;
  EXPECT_THROW(pickle(PyValue::none(), options), ArgumentError);
}

TEST(Pickle, TensorsShareStorageKeys) {
  const at::Tensor base = at::arange(12, at::kFloat);
  std::vector<std::pair<std::string, std::string>> written;
  PickleWriteOptions options;
  options.write_storage = [&](const std::string& key, std::string bytes) {
    written.emplace_back(key, std::move(bytes));
  };
  const PyValue value =
      PyValue::list({PyValue::tensor(base.view({3, 4}).t()), PyValue::tensor(base.narrow(0, 5, 3)),
                     PyValue::tensor(at::ones({2}, at::kLong))});
  const std::string bytes = pickle(value, options);
  ASSERT_EQ(written.size(), 2u);
  EXPECT_EQ(written[0].first, "0");
  EXPECT_EQ(written[0].second.size(), 12u * 4u);
  EXPECT_EQ(written[1].first, "1");

  PickleContext context;
  int reads = 0;
  context.read_storage = [&](const std::string& key) {
    ++reads;
    return written.at(std::stoul(key)).second;
  };
  const PyValue back = unpickle(bytes, context);
  EXPECT_EQ(reads, 2);
  EXPECT_TRUE(same(back, value));
  const at::Tensor& t = back.items()[0].tensor();
  const at::Tensor& n = back.items()[1].tensor();
  EXPECT_EQ(t.strides(), (std::vector<std::int64_t>{1, 4}));
  EXPECT_EQ(n.storage_offset(), 5);
  EXPECT_EQ(t.data_ptr<float>(), n.data_ptr<float>() - 5);  // one shared buffer
}

// ---------------------------------------------------------------------------------------
// Python writes, we read

class PythonPickles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const auto result = run_python(R"(
import collections, pickle
import numpy as np
)" + std::string("out = '") + dir_->path().string() +
                                   "'\n" + R"(
shared = [1, 2]
objects_2d = np.empty((2, 2), dtype=object)
objects_2d[0, 0], objects_2d[0, 1], objects_2d[1, 0], objects_2d[1, 1] = 1, 'b', None, 4.5
value = {
    'none': None, 'bools': [True, False],
    'ints': [0, 255, 256, 65535, 65536, -1, -2**31, 2**31 - 1, 2**31, 2**40, -2**63, 2**63 - 1],
    'floats': [0.1, -2.5e300, float('-inf')],
    'text': '\u00b5A \u2013 ok', 'bytes': bytes(range(256)),
    'tuple': (1, 'a', (2.0,), ()),
    'ordered': collections.OrderedDict([('z', 1), ('a', 2)]),
    7: 'int key',
    'f4': np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
    'f8_fortran': np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
    'i4': np.array([-1, 2, 3], dtype=np.int32),
    'i8': np.array([[2**40]], dtype=np.int64),
    'i2': np.array([-300, 300], dtype=np.int16),
    'b1': np.array([True, False, True]),
    'u1': np.array([0, 255], dtype=np.uint8),
    'f2': np.array([0.5, -1.0], dtype=np.float16),
    'f8_big': np.array([1.5, -2.25], dtype='>f8'),
    'f8_0d': np.array(3.25),
    'f4_empty': np.zeros((0, 3), dtype=np.float32),
    'f8_strided': np.arange(10.0)[::3],
    'scalars': [np.float64(1.5), np.float32(0.25), np.int64(7), np.int32(-3), np.bool_(True)],
    'objects_1d': np.array([{'x': 1}, 'two', None], dtype=object),
    'objects_2d': objects_2d,
    'shared': [shared, shared],
}
zero_d = np.empty((), dtype=object)
zero_d[()] = {'data_name': 'x', 'amplitude': np.array([0.9, 1.0])}
for protocol in (2, 3, 4, 5):
    with open(f'{out}/values_p{protocol}.pickle', 'wb') as f:
        pickle.dump(value, f, protocol=protocol)
    with open(f'{out}/object0d_p{protocol}.pickle', 'wb') as f:
        pickle.dump(zero_d, f, protocol=protocol)
with open(f'{out}/unsupported_u4.pickle', 'wb') as f:
    pickle.dump(np.array([1], dtype=np.uint32), f, protocol=2)
with open(f'{out}/set.pickle', 'wb') as f:
    pickle.dump({1, 2}, f, protocol=4)
)");
    ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static PyValue load(const std::string& name) {
    return unpickle(read_file(dir_->path() / name), PickleContext{name, "", nullptr});
  }
  static TempDir* dir_;
};

TempDir* PythonPickles::dir_ = nullptr;

PyValue array(at::Tensor t) { return PyValue::array(std::move(t)); }

TEST_F(PythonPickles, ReadsEveryKindInProtocols2To5) {
  for (int protocol : {2, 3, 4, 5}) {
    SCOPED_TRACE(protocol);
    const PyValue v = load("values_p" + std::to_string(protocol) + ".pickle");
    ASSERT_TRUE(v.is_dict());
    EXPECT_FALSE(v.ordered());
    EXPECT_TRUE(v.at("none").is_none());
    EXPECT_TRUE(
        same(v.at("bools"), PyValue::list({PyValue::boolean(true), PyValue::boolean(false)})));
    const PyValue ints =
        PyValue::list({num(0), num(255), num(256), num(65535), num(65536), num(-1),
                       num(-(1LL << 31)), num((1LL << 31) - 1), num(1LL << 31), num(1LL << 40),
                       num(std::numeric_limits<std::int64_t>::min()),
                       num(std::numeric_limits<std::int64_t>::max())});
    EXPECT_TRUE(same(v.at("ints"), ints));
    EXPECT_TRUE(
        same(v.at("floats"), PyValue::list({PyValue::floating(0.1), PyValue::floating(-2.5e300),
                                            PyValue::floating(-INFINITY)})));
    EXPECT_EQ(v.at("text").as_string(),
              "\xc2\xb5"
              "A \xe2\x80\x93 ok");
    EXPECT_EQ(v.at("bytes").kind(), Kind::Bytes);
    ASSERT_EQ(v.at("bytes").as_string().size(), 256u);
    EXPECT_EQ(static_cast<unsigned char>(v.at("bytes").as_string()[200]), 200);
    EXPECT_TRUE(same(v.at("tuple"),
                     PyValue::tuple({num(1), str("a"), PyValue::tuple({PyValue::floating(2.0)}),
                                     PyValue::tuple()})));
    EXPECT_TRUE(
        same(v.at("ordered"), PyValue::dict({{str("z"), num(1)}, {str("a"), num(2)}}, true)));
    bool int_key = false;
    for (const auto& [key, item] : v.dict_items())
      if (key.kind() == Kind::Int && key.as_int() == 7) int_key = item.as_string() == "int key";
    EXPECT_TRUE(int_key);

    EXPECT_TRUE(same(v.at("f4"), array(at::arange(6, at::kFloat).reshape({2, 3}) / 4)));
    EXPECT_TRUE(same(v.at("f8_fortran"), array(at::arange(6, at::kDouble).reshape({2, 3}))));
    EXPECT_TRUE(v.at("f8_fortran").tensor().is_contiguous());
    EXPECT_TRUE(same(v.at("i4"), array(at::tensor({-1, 2, 3}, at::kInt))));
    EXPECT_TRUE(same(v.at("i8"), array(at::full({1, 1}, std::int64_t{1} << 40, at::kLong))));
    EXPECT_TRUE(same(v.at("i2"), array(at::tensor({-300, 300}, at::kShort))));
    EXPECT_TRUE(same(v.at("b1"), array(bools({1, 0, 1}))));
    EXPECT_TRUE(same(v.at("u1"), array(at::tensor({0, 255}, at::kByte))));
    EXPECT_TRUE(same(v.at("f2"), array(at::tensor({0.5, -1.0}, at::kDouble).to(at::kHalf))));
    EXPECT_TRUE(same(v.at("f8_big"), array(at::tensor({1.5, -2.25}, at::kDouble))));
    EXPECT_TRUE(same(v.at("f8_0d"), array(at::scalar_tensor(3.25, at::kDouble))));
    EXPECT_TRUE(same(v.at("f4_empty"), array(at::zeros({0, 3}, at::kFloat))));
    EXPECT_TRUE(same(v.at("f8_strided"), array(at::tensor({0.0, 3.0, 6.0, 9.0}, at::kDouble))));
    EXPECT_TRUE(
        same(v.at("scalars"), PyValue::list({PyValue::floating(1.5), PyValue::floating(0.25),
                                             num(7), num(-3), PyValue::boolean(true)})));
    EXPECT_TRUE(same(v.at("objects_1d"), PyValue::list({PyValue::dict({{str("x"), num(1)}}),
                                                        str("two"), PyValue::none()})));
    EXPECT_TRUE(same(v.at("objects_2d"),
                     PyValue::list({PyValue::list({num(1), str("b")}),
                                    PyValue::list({PyValue::none(), PyValue::floating(4.5)})})));
    const PyValue& shared = v.at("shared");
    EXPECT_TRUE(same(
        shared, PyValue::list({PyValue::list({num(1), num(2)}), PyValue::list({num(1), num(2)})})));
  }
}

TEST_F(PythonPickles, ZeroDimensionalObjectArrayIsItsElement) {
  for (int protocol : {2, 3, 4, 5}) {
    SCOPED_TRACE(protocol);
    const PyValue v = load("object0d_p" + std::to_string(protocol) + ".pickle");
    ASSERT_TRUE(v.is_dict());
    EXPECT_EQ(v.at("data_name").as_string(), "x");
    EXPECT_TRUE(same(v.at("amplitude"), array(at::tensor({0.9, 1.0}, at::kDouble))));
  }
}

TEST_F(PythonPickles, UnsupportedContentIsAFormatError) {
  EXPECT_THAT(format_error_of([] { load("unsupported_u4.pickle"); }),
              HasSubstr("unsupported numpy dtype '<u4'"));
  EXPECT_THAT(format_error_of([] { load("set.pickle"); }), HasSubstr("sets are not supported"));
}

// ---------------------------------------------------------------------------------------
// Hostile and broken input

TEST(Unpickle, RefusesOsSystemWithoutRunningIt) {
  TempDir dir;
  const auto marker = dir / "pwned";
  const std::string payload = "cos\nsystem\n(S'touch " + marker.string() + "'\ntR.";
  const std::string message = format_error_of([&] {
    unpickle(payload, PickleContext{"evil.pkl", "", nullptr});
  });
  EXPECT_THAT(message, HasSubstr("disallowed global os.system"));
  EXPECT_THAT(message, HasSubstr("evil.pkl: byte 0"));
  EXPECT_FALSE(std::filesystem::exists(marker));

  // The same through STACK_GLOBAL (protocol 4).
  const std::string stacked = std::string(
      "\x80\x04\x8c\x08"
      "builtins\x8c\x04"
      "eval\x93.",
      20);
  EXPECT_THAT(format_error_of([&] { unpickle(stacked); }),
              HasSubstr("disallowed global builtins.eval"));
}

TEST(Unpickle, MalformedInputNamesTheByte) {
  struct Case {
    std::string bytes;
    std::string message;
  };
  const std::string proto = "\x80\x02";
  const Case cases[] = {
      {"", "byte 0: cannot unpickle: truncated data (no STOP opcode)"},
      {proto + "K", "byte 2: cannot unpickle: truncated data"},
      {proto + std::string("X\xff\x00\x00\x00", 5) + "abc.",
       "byte 2: cannot unpickle: truncated data"},
      {proto + "\xff.", "byte 2: cannot unpickle: unknown or unsupported opcode 0xff"},
      {proto + "h\x05.", "byte 2: cannot unpickle: memo index 5 is not defined"},
      {proto + std::string("K\x01q\x00j\x00\x00\x01\x00.", 10), "memo index 65536 is not defined"},
      {proto + "a.", "byte 2: cannot unpickle: stack underflow"},
      {proto + ".", "byte 2: cannot unpickle: stack underflow"},
      {proto + "(K\x01\x86.", "byte 5: cannot unpickle: stack underflow"},  // MARK hides it
      {proto + "K\x01"
               "e.",
       "no MARK on the stack"},
      {proto + "K\x01K\x02"
               "a.",
       "cannot append to a int"},
      {proto + "}(K\x01u.", "odd number of dict items"},
      {"\x80\x09N.", "unsupported protocol 9"},
      {proto + "\x8a\x0a\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a.", "does not fit in 64 bits"},
      {proto + std::string("]q\x00h\x00", 5) + "a.", "recursive structure"},
      {proto + "\x8f.", "sets are not supported"},
      {proto + "ccollections\nOrderedDict\nK\x01\x85R.", "takes 0 arguments, got 1"},
      {proto + "cnumpy\nndarray\n)R.", "numpy.ndarray cannot be called"},
      {proto + storage_pid("FloatStorage", "0", 1) + ".", "no storage reader was given"},
      {proto + storage_pid("Tensor", "0", 1) + ".", "disallowed global torch.Tensor"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    EXPECT_THAT(format_error_of([&] {
                  unpickle(c.bytes, PickleContext{"f.pkl", "", nullptr});
                }),
                HasSubstr(c.message));
  }
}

TEST(Unpickle, StorageViewsMustStayInsideTheirStorage) {
  // _rebuild_tensor_v2(storage of 4 floats, offset 2, size (3,), stride (1,)) reaches index 4.
  const std::string bytes =
      "\x80\x02"
      "ctorch._utils\n_rebuild_tensor_v2\n(" +
      storage_pid("FloatStorage", "0", 4) +
      "K\x02K\x03\x85K\x01\x85\x89"
      "ccollections\nOrderedDict\n)RtR.";
  PickleContext context;
  context.read_storage = [](const std::string&) { return std::string(16, '\0'); };
  EXPECT_THAT(format_error_of([&] { unpickle(bytes, context); }),
              HasSubstr("reaches beyond its storage of 4 elements"));
  context.read_storage = [](const std::string&) { return std::string(12, '\0'); };
  EXPECT_THAT(format_error_of([&] { unpickle(bytes, context); }),
              HasSubstr("storage 0 has 12 bytes, expected 16"));
}

TEST(Unpickle, DeepNestingIsRefusedNotACrash) {
  // 200000 nested lists: [[[[...]]]] built with EMPTY_LIST and APPEND.
  std::string bytes = "\x80\x02";
  const int depth = 200000;
  for (int i = 0; i < depth; ++i) bytes += ']';
  for (int i = 0; i < depth - 1; ++i) bytes += 'a';
  bytes += '.';
  EXPECT_THAT(format_error_of([&] { unpickle(bytes); }), HasSubstr("nesting deeper than 1000"));
}

TEST(Unpickle, EveryTruncationIsAFormatError) {
  const PyValue value = sample_value();
  for (int protocol : {2, 3}) {
    PickleWriteOptions options;
    options.protocol = protocol;
    const std::string bytes = pickle(value, options);
    for (std::size_t n = 0; n < bytes.size(); n += (n < 2000 ? 1 : 97)) {
      try {
        unpickle(std::string_view(bytes).substr(0, n));
        ADD_FAILURE() << "prefix of " << n << " bytes was accepted";
      } catch (const FormatError&) {
      }
    }
  }
}

TEST(Unpickle, RandomCorruptionNeverEscapesFormatError) {
  PickleWriteOptions options;
  const std::string good = pickle(sample_value(), options);
  std::mt19937 rng(12345);
  std::uniform_int_distribution<std::size_t> where(0, good.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  int accepted = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string bad = good;
    for (int k = 0; k < 1 + round % 4; ++k) bad[where(rng)] = static_cast<char>(byte(rng));
    try {
      unpickle(bad);
      ++accepted;
    } catch (const FormatError&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << "round " << round << ": " << e.what();
    }
  }
  EXPECT_LT(accepted, 3000);
}

// ---------------------------------------------------------------------------------------
// We write, Python reads

TEST(Pickle, PythonReadsWhatWeWrite) {
  TempDir dir;
  PickleWriteOptions p2;
  PickleWriteOptions p3;
  p3.protocol = 3;
  PickleWriteOptions wrapped;
  wrapped.protocol = 3;
  wrapped.as_object_array = true;
  dir.write("p2.pickle", pickle(sample_value(), p2));
  dir.write("p3.pickle", pickle(sample_value(), p3));
  dir.write("wrapped.pickle",
            pickle(PyValue::dict({{str("amplitude"), array(at::tensor({0.9, 1.0}, at::kDouble))}}),
                   wrapped));
  const auto result = run_python(
      "import collections, math, pickle\nimport numpy as np\n"
      "d = '" +
      dir.path().string() + "'\n" + R"(
for name in ('p2', 'p3'):
    with open(f'{d}/{name}.pickle', 'rb') as f:
        v = pickle.load(f)
    assert v['none'] is None and v['bools'] == [True, False], name
    assert v['ints'] == [0, 255, 256, 65535, 65536, -1, -2**31, 2**31 - 1, 2**31, 2**40,
                         -2**63, 2**63 - 1, -129, 128], v['ints']
    assert v['floats'][:3] == [0.1, -2.5e300, float('-inf')] and math.isnan(v['floats'][3])
    assert v['text'] == '\u00b5A \u2013 ok'
    assert v['bytes'] == bytes(range(256)) and type(v['bytes']) is bytes
    assert v['tuples'] == [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 'four')]
    assert v['long_list'] == [i * 1000 for i in range(2500)]
    assert v[7] == 'int key' and v[(1, 'x')] == 'tuple key'
    assert type(v['ordered']) is collections.OrderedDict and list(v['ordered']) == ['z', 'a']
    assert type(v) is dict
    f4 = v['f4']
    assert isinstance(f4, np.ndarray) and f4.dtype == np.float32 and f4.shape == (2, 3)
    assert (f4 == np.arange(6, dtype=np.float32).reshape(2, 3) / 4).all()
    assert v['f8'].dtype == np.float64 and v['f8'].tolist() == [1.5, -2.25]
    assert v['i8'].dtype == np.int64 and v['i8'].tolist() == [2**40]
    assert v['i4'].dtype == np.int32 and v['i4'].tolist() == [-1, 2]
    assert v['b1'].dtype == np.bool_ and v['b1'].tolist() == [True, False, True]
    assert v['u1'].dtype == np.uint8 and v['u1'].tolist() == [0, 255]
    assert v['f8_0d'].shape == () and v['f8_0d'] == 3.25
    assert v['empty'].shape == (0, 3) and v['empty'].dtype == np.float32
with open(f'{d}/wrapped.pickle', 'rb') as f:
    w = pickle.load(f)
assert isinstance(w, np.ndarray) and w.dtype == object and w.shape == ()
assert w.item()['amplitude'].tolist() == [0.9, 1.0]
print('ok')
)");
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("ok"));
}

}  // namespace
}  // namespace brains::io
