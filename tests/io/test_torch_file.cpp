#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "brains/core/error.h"
#include "brains/io/py_value.h"
#include "brains/io/torch_file.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace brains::io {
namespace {

using ::testing::HasSubstr;
using testing::reference_dir;
using testing::run_python;
using testing::TempDir;

using Kind = PyValue::Kind;
namespace fs = std::filesystem;

fs::path parity(int seed, const std::string& name) {
  return reference_dir() / "parity" / ("seed" + std::to_string(seed)) / name;
}

fs::path upstream(const std::string& name) {
  return reference_dir() / "upstream-files" / "brainspy" / name;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Deep equality; tensors compare dtype, shape and values.
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
             x.requires_grad() == y.requires_grad() && (x.numel() == 0 || at::equal(x, y));
    }
  }
  return false;
}

std::vector<std::string> keys_of(const PyValue& dict) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : dict.dict_items()) keys.push_back(key.as_string());
  return keys;
}

std::vector<std::int64_t> shape(const PyValue& value) { return value.tensor().sizes().vec(); }

float at_flat(const PyValue& value, std::int64_t i) {
  return value.tensor().reshape({-1})[i].item<float>();
}

std::string format_error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const FormatError& e) {
    return e.what();
  }
  return "<no FormatError>";
}

PyValue str(const std::string& s) { return PyValue::string(s); }

// ---------------------------------------------------------------------------------------
// The reference files

TEST(TorchFile, ReadsSurrogateModel) {
  const PyValue d = load_torch_file(parity(1, "surrogate.pt"));
  EXPECT_EQ(keys_of(d), (std::vector<std::string>{"epoch", "model_state_dict", "info",
                                                  "train_losses", "min_val_loss"}));
  EXPECT_EQ(d.at("epoch").as_int(), 2);

  const PyValue& state = d.at("model_state_dict");
  EXPECT_TRUE(state.ordered());
  EXPECT_EQ(keys_of(state).size(), 10u);
  EXPECT_EQ(shape(state.at("raw_model.0.weight")), (std::vector<std::int64_t>{45, 7}));
  EXPECT_EQ(shape(state.at("raw_model.8.weight")), (std::vector<std::int64_t>{1, 90}));
  const PyValue& w0 = state.at("raw_model.0.weight");
  EXPECT_EQ(w0.kind(), Kind::Tensor);
  EXPECT_EQ(w0.tensor().scalar_type(), at::kFloat);
  EXPECT_FALSE(w0.tensor().requires_grad());
  EXPECT_FLOAT_EQ(at_flat(w0, 0), 0.19475117325782776f);
  EXPECT_FLOAT_EQ(at_flat(w0, 1), -0.1668252944946289f);
  EXPECT_FLOAT_EQ(w0.tensor()[44][6].item<float>(), 0.24785850942134857f);
  EXPECT_FLOAT_EQ(at_flat(state.at("raw_model.8.bias"), 0), 0.03531559929251671f);

  const PyValue& info = d.at("info");
  const PyValue& structure = info.at("model_structure");
  EXPECT_EQ(structure.at("D_in").as_int(), 7);
  EXPECT_EQ(structure.at("activation").as_string(), "elu");
  EXPECT_EQ(structure.at("hidden_sizes").items().size(), 4u);
  const PyValue& ranges =
      info.at("electrode_info").at("activation_electrodes").at("voltage_ranges");
  EXPECT_EQ(ranges.kind(), Kind::Array);
  EXPECT_EQ(ranges.tensor().scalar_type(), at::kFloat);
  EXPECT_EQ(shape(ranges), (std::vector<std::int64_t>{7, 2}));
  EXPECT_FLOAT_EQ(ranges.tensor()[0][0].item<float>(), -1.1640546321868896f);
  EXPECT_FLOAT_EQ(ranges.tensor()[6][1].item<float>(), 0.38042500615119934f);
  const PyValue& outputs = info.at("electrode_info").at("output_electrodes");
  EXPECT_DOUBLE_EQ(outputs.at("amplification").items()[0].as_double(), 22.97);
  EXPECT_DOUBLE_EQ(outputs.at("clipping_value").items()[1].as_double(), 68.91);
  const PyValue& amplitude = info.at("sampling_configs").at("input_data").at("amplitude");
  EXPECT_EQ(amplitude.tensor().scalar_type(), at::kDouble);
  EXPECT_TRUE(at::equal(amplitude.tensor(), at::full({7}, 0.9, at::kDouble)));

  EXPECT_EQ(shape(d.at("train_losses")), (std::vector<std::int64_t>{3, 1}));
  EXPECT_FLOAT_EQ(at_flat(d.at("train_losses"), 2), 0.8288648128509521f);
  EXPECT_FLOAT_EQ(at_flat(d.at("min_val_loss"), 0), 0.5f);
}

TEST(TorchFile, EverySeedMatchesItsModelStructure) {
  const float first_weight[] = {0.19475117325782776f, 0.08670132607221603f, -0.3747415542602539f};
  for (int seed : {1, 2, 3}) {
    SCOPED_TRACE(seed);
    const PyValue d = load_torch_file(parity(seed, "surrogate.pt"));
    const PyValue& structure = d.at("info").at("model_structure");
    const PyValue& state = d.at("model_state_dict");
    std::int64_t in = structure.at("D_in").as_int();
    int layer = 0;
    for (const PyValue& hidden : structure.at("hidden_sizes").items()) {
      const std::string name = "raw_model." + std::to_string(2 * layer++);
      EXPECT_EQ(shape(state.at(name + ".weight")),
                (std::vector<std::int64_t>{hidden.as_int(), in}));
      in = hidden.as_int();
    }
    EXPECT_EQ(shape(state.at("raw_model." + std::to_string(2 * layer) + ".weight")),
              (std::vector<std::int64_t>{structure.at("D_out").as_int(), in}));
    EXPECT_FLOAT_EQ(at_flat(state.at("raw_model.0.weight"), 0), first_weight[seed - 1]);
  }
}

TEST(TorchFile, ReadsSmgTrainingDataWithSharedStorage) {
  const PyValue d = load_torch_file(parity(1, "smg_training_data.pt"));
  EXPECT_EQ(keys_of(d),
            (std::vector<std::string>{"epoch", "model_state_dict", "info", "optimizer_state_dict",
                                      "train_losses", "val_losses", "min_val_loss", "test_loss"}));
  const PyValue& info = d.at("info");
  EXPECT_TRUE(info.at("electrode_info").at("output_electrodes").at("clipping_value").is_none());
  EXPECT_EQ(info.at("training_configs").at("data").at("batch_size").as_int(), 64);
  EXPECT_FALSE(info.at("training_configs").at("data").at("pin_memory").as_bool());
  EXPECT_TRUE(
      at::equal(info.at("electrode_info").at("activation_electrodes").at("voltage_ranges").tensor(),
                at::tensor({-1.0f, 1.0f}).repeat({7, 1})));
  EXPECT_FLOAT_EQ(d.at("model_state_dict").at("raw_model.4.weight").tensor()[0][2].item<float>(),
                  -0.13424520194530487f);

  const PyValue& optimizer = d.at("optimizer_state_dict");
  const PyValue& state0 = optimizer.at("state").dict_items()[0].second;
  EXPECT_EQ(optimizer.at("state").dict_items()[0].first.as_int(), 0);
  EXPECT_EQ(state0.at("step").tensor().dim(), 0);
  EXPECT_FLOAT_EQ(state0.at("step").tensor().item<float>(), 24.0f);
  EXPECT_FLOAT_EQ(at_flat(state0.at("exp_avg"), 0), -0.0021111785899847746f);
  const PyValue& group = optimizer.at("param_groups").items()[0];
  EXPECT_EQ(group.at("betas").kind(), Kind::Tuple);
  EXPECT_DOUBLE_EQ(group.at("betas").items()[1].as_double(), 0.75);
  EXPECT_TRUE(group.at("foreach").is_none());
  EXPECT_EQ(group.at("params").items().size(), 6u);

  // min_val_loss is val_losses[2]: a view at offset 2 of the same storage, as in Python.
  const at::Tensor& val = d.at("val_losses").tensor();
  const at::Tensor& best = d.at("min_val_loss").tensor();
  EXPECT_EQ(best.storage_offset(), 2);
  EXPECT_EQ(best.data_ptr<float>(), val.data_ptr<float>() + 2);
  EXPECT_FLOAT_EQ(best.item<float>(), 12.47730541229248f);
  EXPECT_FLOAT_EQ(at_flat(d.at("test_loss"), 0), 11.766547203063965f);
}

TEST(TorchFile, ReadsRandomStateDict) {
  const PyValue d = load_torch_file(upstream("random_state_dict.pt"));
  EXPECT_TRUE(d.ordered());
  struct Expected {
    const char* name;
    std::vector<std::int64_t> shape;
    float first, second, last;
    double sum;
  };
  const Expected expected[] = {
      {"raw_model.0.weight",
       {90, 7},
       -0.3383050560951233f,
       0.15231525897979736f,
       -0.21074600517749786f,
       -2.044012875732733},
      {"raw_model.0.bias",
       {90},
       0.06583783030509949f,
       -0.1779494285583496f,
       -0.013109748251736164f,
       0.8124305683304556},
      {"raw_model.2.weight",
       {90, 90},
       -0.01650971546769142f,
       0.012881929986178875f,
       -0.07346992939710617f,
       0.5382913503801774},
      {"raw_model.2.bias",
       {90},
       0.08149745315313339f,
       -0.025527384132146835f,
       -0.06185876205563545f,
       -0.33946535969153047},
      {"raw_model.4.weight",
       {90, 90},
       -0.008123313076794147f,
       -0.01195344515144825f,
       0.07608836889266968f,
       -1.8967789622129203},
      {"raw_model.4.bias",
       {90},
       -0.03166951611638069f,
       0.04230993986129761f,
       -0.07341558486223221f,
       -0.28471445466857404},
      {"raw_model.6.weight",
       {1, 90},
       0.017081143334507942f,
       -0.10329592227935791f,
       -0.012891015037894249f,
       -0.10718303988687694},
      {"raw_model.6.bias",
       {1},
       0.026860637590289116f,
       0.026860637590289116f,
       0.026860637590289116f,
       0.026860637590289116},
  };
  ASSERT_EQ(d.dict_items().size(), 8u);
  for (std::size_t i = 0; i < 8; ++i) {
    const Expected& e = expected[i];
    SCOPED_TRACE(e.name);
    EXPECT_EQ(d.dict_items()[i].first.as_string(), e.name);
    const PyValue& t = d.at(e.name);
    EXPECT_EQ(shape(t), e.shape);
    EXPECT_FLOAT_EQ(at_flat(t, 0), e.first);
    if (t.tensor().numel() > 1) EXPECT_FLOAT_EQ(at_flat(t, 1), e.second);
    EXPECT_FLOAT_EQ(at_flat(t, t.tensor().numel() - 1), e.last);
    EXPECT_NEAR(t.tensor().to(at::kDouble).sum().item<double>(), e.sum, 1e-9);
  }
}

TEST(TorchFile, ReadsGradientDescentResultPickle) {
  const PyValue d = load_torch_file(upstream("training_data.pickle"));
  EXPECT_EQ(d.at("epoch").as_int(), 3);
  EXPECT_EQ(d.at("algorithm").as_string(), "gradient");
  const PyValue& state = d.at("model_state_dict");
  EXPECT_EQ(state.dict_items().size(), 18u);
  const at::Tensor& indices = state.at("dnpu.data_input_indices").tensor();
  EXPECT_EQ(indices.scalar_type(), at::kLong);
  EXPECT_TRUE(at::equal(indices, at::tensor({3, 4}, at::kLong).reshape({1, 2})));
  EXPECT_TRUE(at::equal(state.at("dnpu.control_indices").tensor(),
                        at::tensor({0, 1, 2, 5, 6}, at::kLong).reshape({1, 5})));
  EXPECT_EQ(state.at("dnpu.processor.processor.amplification").tensor().item<std::int64_t>(), 100);
  EXPECT_EQ(shape(state.at("dnpu.control_ranges")), (std::vector<std::int64_t>{1, 5, 2}));
  EXPECT_FLOAT_EQ(at_flat(state.at("dnpu.control_voltages"), 2), -0.8114371299743652f);
  EXPECT_DOUBLE_EQ(d.at("train_losses").items()[0].as_double(), 18.194116592407227);
  EXPECT_DOUBLE_EQ(d.at("min_val_loss").as_double(), 12.267589569091797);
  EXPECT_DOUBLE_EQ(d.at("optimizer_state_dict").at("param_groups").items()[0].at("lr").as_double(),
                   0.05);
}

// ---------------------------------------------------------------------------------------
// Files made by Python torch for the cases the references do not cover

class PythonTorchFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const auto result = run_python("d = '" + dir_->path().string() + "'\n" + R"(
import collections, io, zipfile
import numpy as np
import torch

base = torch.arange(24, dtype=torch.float32)
torch.manual_seed(0)
linear = torch.nn.Linear(3, 2)
value = {
    'matrix': base.view(4, 6),
    'transposed': base.view(4, 6).t(),
    'narrow': base[5:11],
    'strided': base[1::3],
    'long': torch.arange(5),
    'bool': torch.tensor([True, False]),
    'double': torch.tensor([1.5, -2.0], dtype=torch.float64),
    'half': torch.tensor([0.5], dtype=torch.float16),
    'int': torch.tensor([-7], dtype=torch.int32),
    'scalar': torch.tensor(3.5),
    'empty': torch.zeros(0, 3),
    'param': torch.nn.Parameter(torch.ones(2)),
    'state_dict': linear.state_dict(),
    'info': {'ranges': np.array([[-1.2, 0.6]], dtype=np.float32), 'none': None, 'mix': [1, 2.5, 'x']},
    'device': torch.device('cpu'),
    'size': torch.Size([2, 3]),
}
torch.save(value, f'{d}/views.pt')
with open(f'{d}/linear_weight.txt', 'w') as f:
    f.write(' '.join(repr(x) for x in linear.weight.flatten().tolist()))

def rewrite(source, target, change):
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, 'w') as zout:
        for item in zin.infolist():
            data = change(item.filename, zin.read(item.filename))
            if data is not None:
                zout.writestr(item, data)

torch.save({'w': base.view(2, 12)}, f'{d}/small.pt')
cuda = lambda name, data: data.replace(b'X\x03\x00\x00\x00cpu', b'X\x06\x00\x00\x00cuda:0') if name.endswith('data.pkl') else data
rewrite(f'{d}/small.pt', f'{d}/cuda.pt', cuda)
assert torch.load(f'{d}/cuda.pt', map_location='cpu')['w'].shape == (2, 12)
rewrite(f'{d}/small.pt', f'{d}/missing_storage.pt', lambda name, data: None if name.endswith('data/0') else data)
rewrite(f'{d}/small.pt', f'{d}/no_pickle.pt', lambda name, data: None if name.endswith('data.pkl') else data)
torch.save({'w': base}, f'{d}/legacy.pt', _use_new_zipfile_serialization=False)
torch.jit.script(torch.nn.Linear(2, 2)).save(f'{d}/script.pt')
torch.save(torch.nn.Linear(2, 2), f'{d}/module.pt')
)");
    ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static fs::path file(const std::string& name) { return dir_->path() / name; }
  static TempDir* dir_;
};

TempDir* PythonTorchFiles::dir_ = nullptr;

TEST_F(PythonTorchFiles, KeepsViewsOffsetsStridesAndSharing) {
  const PyValue v = load_torch_file(file("views.pt"));
  const at::Tensor base = at::arange(24, at::kFloat);
  const at::Tensor& matrix = v.at("matrix").tensor();
  const at::Tensor& transposed = v.at("transposed").tensor();
  const at::Tensor& narrow = v.at("narrow").tensor();
  const at::Tensor& strided = v.at("strided").tensor();
  EXPECT_TRUE(at::equal(matrix, base.view({4, 6})));
  EXPECT_TRUE(at::equal(transposed, base.view({4, 6}).t()));
  EXPECT_EQ(transposed.strides(), (std::vector<std::int64_t>{1, 6}));
  EXPECT_TRUE(at::equal(narrow, base.narrow(0, 5, 6)));
  EXPECT_EQ(narrow.storage_offset(), 5);
  EXPECT_TRUE(
      at::equal(strided, at::tensor({1.0f, 4.0f, 7.0f, 10.0f, 13.0f, 16.0f, 19.0f, 22.0f})));
  EXPECT_EQ(strided.strides(), (std::vector<std::int64_t>{3}));

  // One storage behind all four: a write through one view shows in the others.
  EXPECT_EQ(transposed.data_ptr<float>(), matrix.data_ptr<float>());
  matrix[1][0].fill_(100.0f);  // element 6
  EXPECT_FLOAT_EQ(narrow[1].item<float>(), 100.0f);
  EXPECT_FLOAT_EQ(transposed[0][1].item<float>(), 100.0f);

  EXPECT_TRUE(at::equal(v.at("long").tensor(), at::arange(5, at::kLong)));
  EXPECT_EQ(v.at("bool").tensor().scalar_type(), at::kBool);
  EXPECT_TRUE(v.at("bool").tensor()[0].item<bool>());
  EXPECT_FALSE(v.at("bool").tensor()[1].item<bool>());
  EXPECT_TRUE(at::equal(v.at("double").tensor(), at::tensor({1.5, -2.0}, at::kDouble)));
  EXPECT_EQ(v.at("half").tensor().scalar_type(), at::kHalf);
  EXPECT_FLOAT_EQ(v.at("half").tensor().item<float>(), 0.5f);
  EXPECT_EQ(v.at("int").tensor().scalar_type(), at::kInt);
  EXPECT_EQ(v.at("int").tensor().item<int>(), -7);
  EXPECT_EQ(v.at("scalar").tensor().dim(), 0);
  EXPECT_FLOAT_EQ(v.at("scalar").tensor().item<float>(), 3.5f);
  EXPECT_EQ(shape(v.at("empty")), (std::vector<std::int64_t>{0, 3}));
  EXPECT_TRUE(v.at("param").tensor().requires_grad());
  EXPECT_TRUE(at::equal(v.at("param").tensor(), at::ones({2})));

  const PyValue& state = v.at("state_dict");
  EXPECT_TRUE(state.ordered());
  EXPECT_EQ(keys_of(state), (std::vector<std::string>{"weight", "bias"}));
  std::istringstream weights(read_file(file("linear_weight.txt")));
  const at::Tensor weight = state.at("weight").tensor().reshape({-1});
  for (std::int64_t i = 0; i < 6; ++i) {
    double expected = 0;
    weights >> expected;
    EXPECT_FLOAT_EQ(weight[i].item<float>(), static_cast<float>(expected));
  }

  const PyValue& info = v.at("info");
  EXPECT_EQ(info.at("ranges").kind(), Kind::Array);
  EXPECT_TRUE(at::equal(info.at("ranges").tensor(), at::tensor({-1.2f, 0.6f}).reshape({1, 2})));
  EXPECT_TRUE(info.at("none").is_none());
  EXPECT_EQ(info.at("mix").items()[2].as_string(), "x");
  EXPECT_EQ(v.at("device").as_string(), "cpu");
  EXPECT_TRUE(same(v.at("size"), PyValue::tuple({PyValue::integer(2), PyValue::integer(3)})));
}

TEST_F(PythonTorchFiles, GpuStoragesLoadOnTheCpu) {
  const PyValue v = load_torch_file(file("cuda.pt"));
  EXPECT_TRUE(v.at("w").tensor().device().is_cpu());
  EXPECT_TRUE(at::equal(v.at("w").tensor(), at::arange(24, at::kFloat).view({2, 12})));
}

TEST_F(PythonTorchFiles, BrokenAndForeignFilesAreFormatErrors) {
  EXPECT_THAT(format_error_of([] { load_torch_file(file("missing_storage.pt")); }),
              HasSubstr("storage entry small/data/0 is missing"));
  EXPECT_THAT(format_error_of([] { load_torch_file(file("no_pickle.pt")); }),
              HasSubstr("no <folder>/data.pkl entry"));
  EXPECT_THAT(format_error_of([] { load_torch_file(file("legacy.pt")); }),
              HasSubstr("legacy torch serialization"));
  EXPECT_THAT(format_error_of([] { load_torch_file(file("script.pt")); }),
              HasSubstr("TorchScript archives"));
  // A whole pickled nn.Module names its Python class: refused, never imported.
  EXPECT_THAT(format_error_of([] { load_torch_file(file("module.pt")); }),
              HasSubstr("disallowed global torch.nn.modules.linear.Linear"));
}

TEST(TorchFile, TruncatedCorruptAndMissingFilesAreFormatErrors) {
  TempDir dir;
  const std::string good = read_file(parity(1, "surrogate.pt"));
  EXPECT_THAT(format_error_of([&] { load_torch_file(dir / "nope.pt"); }), HasSubstr("nope.pt"));
  EXPECT_THAT(format_error_of([&] { load_torch_file(dir.write("empty.pt", "")); }),
              HasSubstr("empty.pt"));
  EXPECT_THAT(format_error_of([&] { load_torch_file(dir.write("text.pt", "hello\n")); }),
              HasSubstr("text.pt"));
  for (std::size_t size : {std::size_t{30}, good.size() / 3, good.size() / 2, good.size() - 10}) {
    SCOPED_TRACE(size);
    const auto path = dir.write("cut.pt", good.substr(0, size));
    EXPECT_THAT(format_error_of([&] { load_torch_file(path); }), HasSubstr("cut.pt"));
  }
  // Flip bytes inside the stored data.pkl: the CRC (or the unpickler) must notice.
  for (std::size_t at : {std::size_t{100}, std::size_t{500}, std::size_t{1500}}) {
    SCOPED_TRACE(at);
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x5A);
    const auto path = dir.write("flipped.pt", bad);
    EXPECT_THAT(format_error_of([&] { load_torch_file(path); }), HasSubstr("flipped.pt"));
  }
}

// ---------------------------------------------------------------------------------------
// Writing

PyValue written_value() {
  const at::Tensor base = at::arange(12, at::kFloat);
  return PyValue::dict({
      {str("epoch"), PyValue::integer(4)},
      {str("model_state_dict"),
       PyValue::dict(
           {{str("raw_model.0.weight"), PyValue::tensor(at::linspace(-1, 1, 14).view({2, 7}))},
            {str("raw_model.0.bias"), PyValue::tensor(at::tensor({0.25f, -0.5f}))}},
           true)},
      {str("info"),
       PyValue::dict(
           {{str("voltage_ranges"),
             PyValue::array(at::tensor({-1.2f, 0.6f, -0.7f, 0.3f}).view({2, 2}))},
            {str("amplitude"), PyValue::array(at::tensor({0.9, 1.05}, at::kDouble))},
            {str("clipping_value"), PyValue::none()},
            {str("hidden_sizes"), PyValue::list({PyValue::integer(90), PyValue::integer(90)})},
            {str("activation"), str("relu")}})},
      {str("matrix"), PyValue::tensor(base.view({3, 4}))},
      {str("transposed"), PyValue::tensor(base.view({3, 4}).t())},
      {str("tail"), PyValue::tensor(base.narrow(0, 8, 4))},
      {str("indices"), PyValue::tensor(at::tensor({3, 4}, at::kLong))},
      {str("flags"), PyValue::tensor(at::tensor({1, 0}, at::kInt).to(at::kBool))},
      {str("step"), PyValue::tensor(at::scalar_tensor(24.0, at::kFloat))},
      {str("betas"), PyValue::tuple({PyValue::floating(0.9), PyValue::floating(0.75)})},
      {str("min_val_loss"), PyValue::floating(INFINITY)},
  });
}

TEST(TorchFile, RoundTripsOurOwnFiles) {
  TempDir dir;
  const PyValue value = written_value();
  const auto path = dir / "training_data.pt";
  save_torch_file(path, value);
  const PyValue back = load_torch_file(path);
  EXPECT_TRUE(same(back, value));
  // Views of one tensor stay views of one storage.
  EXPECT_EQ(back.at("transposed").tensor().data_ptr<float>(),
            back.at("matrix").tensor().data_ptr<float>());
  EXPECT_EQ(back.at("tail").tensor().storage_offset(), 8);
  EXPECT_EQ(back.at("transposed").tensor().strides(), (std::vector<std::int64_t>{1, 4}));
}

TEST(TorchFile, RoundTripsTheReferenceFiles) {
  TempDir dir;
  const fs::path files[] = {parity(1, "surrogate.pt"), parity(2, "smg_training_data.pt"),
                            upstream("random_state_dict.pt"), upstream("training_data.pickle")};
  for (const fs::path& original : files) {
    SCOPED_TRACE(original.string());
    const PyValue value = load_torch_file(original);
    const auto copy = dir / original.filename();
    save_torch_file(copy, value);
    EXPECT_TRUE(same(load_torch_file(copy), value));
  }
  const PyValue smg = load_torch_file(dir / "smg_training_data.pt");
  EXPECT_EQ(smg.at("min_val_loss").tensor().data_ptr<float>(),
            smg.at("val_losses").tensor().data_ptr<float>() + 2);
}

TEST(TorchFile, PythonTorchLoadsWhatWeSave) {
  TempDir dir;
  save_torch_file(dir / "training_data.pt", written_value());
  for (const char* name : {"surrogate.pt", "smg_training_data.pt"})
    save_torch_file(dir / name, load_torch_file(parity(1, name)));
  save_torch_file(dir / "random_state_dict.pt", load_torch_file(upstream("random_state_dict.pt")));
  save_torch_file(dir / "training_data.pickle", load_torch_file(upstream("training_data.pickle")));

  const auto result = run_python("d = '" + dir.path().string() + "'\nref = '" +
                                 reference_dir().string() + "'\n" + R"(
import collections, math
import numpy as np
import torch

v = torch.load(f'{d}/training_data.pt')
assert type(v) is dict and v['epoch'] == 4
state = v['model_state_dict']
assert type(state) is collections.OrderedDict and list(state) == ['raw_model.0.weight', 'raw_model.0.bias']
assert torch.equal(state['raw_model.0.weight'], torch.linspace(-1, 1, 14).view(2, 7))
assert state['raw_model.0.bias'].tolist() == [0.25, -0.5]
info = v['info']
assert isinstance(info['voltage_ranges'], np.ndarray) and info['voltage_ranges'].dtype == np.float32
assert info['voltage_ranges'].tolist() == np.array([[-1.2, 0.6], [-0.7, 0.3]], dtype=np.float32).tolist()
assert info['amplitude'].dtype == np.float64 and info['amplitude'].tolist() == [0.9, 1.05]
assert info['clipping_value'] is None and info['hidden_sizes'] == [90, 90] and info['activation'] == 'relu'
base = torch.arange(12, dtype=torch.float32)
assert torch.equal(v['matrix'], base.view(3, 4)) and torch.equal(v['transposed'], base.view(3, 4).t())
assert v['transposed'].stride() == (1, 4) and v['tail'].storage_offset() == 8
assert v['transposed'].data_ptr() == v['matrix'].data_ptr()
v['matrix'][2, 0] = 100
assert v['tail'][0].item() == 100, 'views must share one storage'
assert v['indices'].dtype == torch.int64 and v['indices'].tolist() == [3, 4]
assert v['flags'].dtype == torch.bool and v['flags'].tolist() == [True, False]
assert v['step'].dim() == 0 and v['step'].item() == 24.0
assert v['betas'] == (0.9, 0.75) and math.isinf(v['min_val_loss'])

def same(a, b):
    if isinstance(a, torch.Tensor):
        return (type(b) is type(a) and a.dtype == b.dtype and a.shape == b.shape
                and a.stride() == b.stride() and torch.equal(a, b))
    if isinstance(a, np.ndarray):
        return type(b) is np.ndarray and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return type(a) is type(b) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b

for name, original in [('surrogate.pt', 'parity/seed1/surrogate.pt'),
                       ('smg_training_data.pt', 'parity/seed1/smg_training_data.pt'),
                       ('random_state_dict.pt', 'upstream-files/brainspy/random_state_dict.pt'),
                       ('training_data.pickle', 'upstream-files/brainspy/training_data.pickle')]:
    assert same(torch.load(f'{ref}/{original}'), torch.load(f'{d}/{name}')), name
s = torch.load(f'{d}/smg_training_data.pt')
assert s['min_val_loss'].storage_offset() == 2
assert s['min_val_loss'].data_ptr() == s['val_losses'].data_ptr() + 8
print('ok')
)");
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("ok"));
}

TEST(TorchFile, SaveRefusesWhatPythonCouldNotLoad) {
  TempDir dir;
  const auto path = dir / "bad.pt";
  EXPECT_THROW(save_torch_file(path, PyValue::dict({{PyValue::list(), PyValue::none()}})),
               ArgumentError);
  EXPECT_THROW(save_torch_file(path, PyValue::tensor(at::ones({2}, at::kComplexFloat))),
               ArgumentError);
  EXPECT_FALSE(fs::exists(path));  // nothing half-written
}

}  // namespace
}  // namespace brains::io
