// PyValue: the tree of Python objects that torch and numpy files hold (None, bool, int,
// float, str, bytes, list, tuple, dict, torch tensors and numpy arrays). The restricted
// unpickler builds it; the pickler writes it; to_yaml turns it into a config tree.
#pragma once

#include <ATen/core/Tensor.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace brains::io {

// Copies of a list or dict PyValue share their contents (as Python references do), so an
// object that appears twice in a pickle stays one object; copy the items to get a new one.
class PyValue {
 public:
  enum class Kind { None, Bool, Int, Float, String, Bytes, List, Tuple, Dict, Tensor, Array };
  using Items = std::vector<PyValue>;
  using DictItems = std::vector<std::pair<PyValue, PyValue>>;  // insertion order kept

  PyValue() = default;  // None
  static PyValue none() { return {}; }
  static PyValue boolean(bool value);
  static PyValue integer(std::int64_t value);
  static PyValue floating(double value);
  static PyValue string(std::string value);
  static PyValue bytes(std::string value);
  static PyValue list(Items items = {});
  static PyValue tuple(Items items = {});
  // ordered=true marks a collections.OrderedDict (state dicts); plain dicts keep order too.
  static PyValue dict(DictItems items = {}, bool ordered = false);
  static PyValue tensor(at::Tensor value);  // a torch tensor
  static PyValue array(at::Tensor value);   // a numpy ndarray, held as a CPU tensor

  Kind kind() const noexcept { return kind_; }
  const char* kind_name() const noexcept;
  bool is_none() const noexcept { return kind_ == Kind::None; }
  bool is_dict() const noexcept { return kind_ == Kind::Dict; }
  bool is_sequence() const noexcept { return kind_ == Kind::List || kind_ == Kind::Tuple; }
  bool is_tensor_like() const noexcept { return kind_ == Kind::Tensor || kind_ == Kind::Array; }
  bool ordered() const noexcept { return ordered_; }

  // Typed access; each throws brains::ArgumentError naming the expected and actual kind.
  bool as_bool() const;
  std::int64_t as_int() const;
  double as_double() const;  // accepts Int and Float
  const std::string& as_string() const;  // String or Bytes
  const Items& items() const;            // List or Tuple
  Items& items();
  const DictItems& dict_items() const;
  DictItems& dict_items();
  const at::Tensor& tensor() const;  // Tensor or Array

  // Dict lookup by string key; nullptr when absent (or when this is not a dict).
  const PyValue* find(std::string_view key) const;
  const PyValue& at(std::string_view key) const;  // throws ArgumentError when absent
  void set(std::string key, PyValue value);      // insert or replace, keeps order

 private:
  Kind kind_ = Kind::None;
  bool ordered_ = false;
  std::int64_t int_ = 0;  // also holds bool
  double float_ = 0.0;
  std::string string_;
  std::shared_ptr<Items> items_;
  std::shared_ptr<DictItems> dict_;
  at::Tensor tensor_;
};

// A config tree view of a value: dicts -> maps, lists/tuples -> sequences, tensors and
// arrays -> nested sequences of numbers, None -> null.
YAML::Node to_yaml(const PyValue& value);
// The inverse for plain data (maps, sequences, scalars). Scalars become int, float, bool or
// str by their YAML spelling.
PyValue from_yaml(const YAML::Node& node);

}  // namespace brains::io
