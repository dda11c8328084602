#include "brains/io/py_value.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <regex>

#include "brains/core/error.h"

namespace brains::io {

PyValue PyValue::boolean(bool value) {
  PyValue v;
  v.kind_ = Kind::Bool;
  v.int_ = value ? 1 : 0;
  return v;
}

PyValue PyValue::integer(std::int64_t value) {
  PyValue v;
  v.kind_ = Kind::Int;
  v.int_ = value;
  return v;
}

PyValue PyValue::floating(double value) {
  PyValue v;
  v.kind_ = Kind::Float;
  v.float_ = value;
  return v;
}

PyValue PyValue::string(std::string value) {
  PyValue v;
  v.kind_ = Kind::String;
  v.string_ = std::move(value);
  return v;
}

PyValue PyValue::bytes(std::string value) {
  PyValue v;
  v.kind_ = Kind::Bytes;
  v.string_ = std::move(value);
  return v;
}

PyValue PyValue::list(Items items) {
  PyValue v;
  v.kind_ = Kind::List;
  v.items_ = std::make_shared<Items>(std::move(items));
  return v;
}

PyValue PyValue::tuple(Items items) {
  PyValue v;
  v.kind_ = Kind::Tuple;
  v.items_ = std::make_shared<Items>(std::move(items));
  return v;
}

PyValue PyValue::dict(DictItems items, bool ordered) {
  PyValue v;
  v.kind_ = Kind::Dict;
  v.ordered_ = ordered;
  v.dict_ = std::make_shared<DictItems>(std::move(items));
  return v;
}

PyValue PyValue::tensor(at::Tensor value) {
  PyValue v;
  v.kind_ = Kind::Tensor;
  v.tensor_ = std::move(value);
  return v;
}

PyValue PyValue::array(at::Tensor value) {
  PyValue v;
  v.kind_ = Kind::Array;
  v.tensor_ = std::move(value);
  return v;
}

const char* PyValue::kind_name() const noexcept {
  switch (kind_) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::List: return "list";
    case Kind::Tuple: return "tuple";
    case Kind::Dict: return "dict";
    case Kind::Tensor: return "tensor";
    case Kind::Array: return "ndarray";
  }
  return "unknown";
}

namespace {
[[noreturn]] void wrong_kind(const char* expected, const PyValue& value) {
  throw ArgumentError(std::string("cannot read value: expected ") + expected + ", got " +
                      value.kind_name());
}
}  // namespace

bool PyValue::as_bool() const {
  if (kind_ != Kind::Bool) wrong_kind("bool", *this);
  return int_ != 0;
}

std::int64_t PyValue::as_int() const {
  if (kind_ != Kind::Int) wrong_kind("int", *this);
  return int_;
}

double PyValue::as_double() const {
  if (kind_ == Kind::Float) return float_;
  if (kind_ == Kind::Int) return static_cast<double>(int_);
  wrong_kind("float", *this);
}

const std::string& PyValue::as_string() const {
  if (kind_ != Kind::String && kind_ != Kind::Bytes) wrong_kind("str", *this);
  return string_;
}

const PyValue::Items& PyValue::items() const {
  if (!is_sequence()) wrong_kind("list or tuple", *this);
  return *items_;
}

PyValue::Items& PyValue::items() {
  if (!is_sequence()) wrong_kind("list or tuple", *this);
  return *items_;
}

const PyValue::DictItems& PyValue::dict_items() const {
  if (!is_dict()) wrong_kind("dict", *this);
  return *dict_;
}

PyValue::DictItems& PyValue::dict_items() {
  if (!is_dict()) wrong_kind("dict", *this);
  return *dict_;
}

const at::Tensor& PyValue::tensor() const {
  if (!is_tensor_like()) wrong_kind("tensor or ndarray", *this);
  return tensor_;
}

const PyValue* PyValue::find(std::string_view key) const {
  if (!is_dict()) return nullptr;
  for (const auto& [k, v] : *dict_) {
    if (k.kind_ == Kind::String && k.string_ == key) return &v;
  }
  return nullptr;
}

const PyValue& PyValue::at(std::string_view key) const {
  if (!is_dict()) wrong_kind("dict", *this);
  if (const PyValue* value = find(key)) return *value;
  throw ArgumentError("cannot read value: no key '" + std::string(key) + "'");
}

void PyValue::set(std::string key, PyValue value) {
  if (!is_dict()) wrong_kind("dict", *this);
  for (auto& [k, v] : *dict_) {
    if (k.kind_ == Kind::String && k.string_ == key) {
      v = std::move(value);
      return;
    }
  }
  dict_->emplace_back(PyValue::string(std::move(key)), std::move(value));
}

// ---------------------------------------------------------------------------------------
// YAML

namespace {

constexpr const char* kStrTag = "tag:yaml.org,2002:str";

// The shortest decimal spelling that reads back as the same value (Python's repr rule:
// fixed notation for exponents in [-4, 16), scientific otherwise), always with a '.' so
// both we and PyYAML read it back as a float.
std::string format_float(double value, bool single) {
  if (std::isnan(value)) return ".nan";
  if (std::isinf(value)) return value > 0 ? ".inf" : "-.inf";
  char buf[40];
  int digits = 1;
  for (; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*e", digits - 1, value);
    const double back = std::strtod(buf, nullptr);
    if (single ? static_cast<float>(back) == static_cast<float>(value) : back == value) break;
  }
  // buf is "[-]d.ddde[+-]XX": split into sign, mantissa digits and exponent.
  std::string text(buf);
  const bool negative = text[0] == '-';
  if (negative) text.erase(0, 1);
  const std::size_t e = text.find('e');
  const int exponent = std::atoi(text.c_str() + e + 1);
  std::string mantissa = text.substr(0, e);
  mantissa.erase(std::remove(mantissa.begin(), mantissa.end(), '.'), mantissa.end());
  while (mantissa.size() > 1 && mantissa.back() == '0') mantissa.pop_back();

  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + mantissa;
    } else if (mantissa.size() <= static_cast<std::size_t>(exponent) + 1) {
      out += mantissa + std::string(exponent + 1 - mantissa.size(), '0') + ".0";
    } else {
      out += mantissa.substr(0, exponent + 1) + "." + mantissa.substr(exponent + 1);
    }
    return out;
  }
  out += mantissa.substr(0, 1) + "." + (mantissa.size() > 1 ? mantissa.substr(1) : "0");
  char exp_text[16];
  std::snprintf(exp_text, sizeof exp_text, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out + exp_text;
}

bool is_yaml_null(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

// PyYAML's (YAML 1.1) booleans, so configs written by Python read the same here.
bool parse_yaml_bool(const std::string& s, bool& out) {
  static const char* const truthy[] = {"true", "True", "TRUE", "yes", "Yes",
                                       "YES",  "on",   "On",   "ON"};
  static const char* const falsy[] = {"false", "False", "FALSE", "no", "No",
                                      "NO",    "off",   "Off",   "OFF"};
  for (const char* t : truthy) {
    if (s == t) return out = true, true;
  }
  for (const char* f : falsy) {
    if (s == f) return out = false, true;
  }
  return false;
}

bool parse_yaml_int(const std::string& s, std::int64_t& out) {
  static const std::regex pattern("[-+]?[0-9]+");
  if (!std::regex_match(s, pattern)) return false;
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(s.c_str(), &end, 10);
  if (errno == ERANGE) return false;  // too large: read as float
  out = value;
  return true;
}

bool parse_yaml_float(const std::string& s, double& out) {
  static const std::regex pattern("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  static const std::regex inf("[-+]?\\.(inf|Inf|INF)");
  static const std::regex nan("\\.(nan|NaN|NAN)");
  if (std::regex_match(s, inf)) {
    out = s[0] == '-' ? -std::numeric_limits<double>::infinity()
                      : std::numeric_limits<double>::infinity();
    return true;
  }
  if (std::regex_match(s, nan)) {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (!std::regex_match(s, pattern)) return false;
  out = std::strtod(s.c_str(), nullptr);
  return true;
}

// True when a plain scalar spelled `s` would read back as something other than a string.
bool looks_like_non_string(const std::string& s) {
  bool b;
  std::int64_t i;
  double d;
  return is_yaml_null(s) || parse_yaml_bool(s, b) || parse_yaml_int(s, i) || parse_yaml_float(s, d);
}

YAML::Node scalar_node(std::string text) { return YAML::Node(std::move(text)); }

YAML::Node tensor_to_yaml(const at::Tensor& tensor) {
  const at::Tensor t = tensor.detach().cpu();
  const auto type = t.scalar_type();
  const bool is_bool = type == at::kBool;
  const bool is_integral = at::isIntegralType(type, /*includeBool=*/false);
  const bool single = type == at::kFloat || type == at::kHalf || type == at::kBFloat16;
  const at::Tensor flat =
      (is_bool || is_integral ? t.to(at::kLong) : t.to(at::kDouble)).contiguous().reshape({-1});
  auto element = [&](std::int64_t i) {
    if (is_bool) return YAML::Node(flat.data_ptr<std::int64_t>()[i] != 0);
    if (is_integral) return YAML::Node(flat.data_ptr<std::int64_t>()[i]);
    return scalar_node(format_float(flat.data_ptr<double>()[i], single));
  };
  if (t.dim() == 0) return element(0);

  // Recursive nesting by dimension, rows in flow style.
  const auto sizes = t.sizes().vec();
  std::function<YAML::Node(std::size_t, std::int64_t)> build = [&](std::size_t dim,
                                                                   std::int64_t start) {
    YAML::Node node(YAML::NodeType::Sequence);
    std::int64_t stride = 1;
    for (std::size_t d = dim + 1; d < sizes.size(); ++d) stride *= sizes[d];
    for (std::int64_t i = 0; i < sizes[dim]; ++i) {
      node.push_back(dim + 1 == sizes.size() ? element(start + i)
                                             : build(dim + 1, start + i * stride));
    }
    if (dim + 1 == sizes.size()) node.SetStyle(YAML::EmitterStyle::Flow);
    return node;
  };
  return build(0, 0);
}

}  // namespace

YAML::Node to_yaml(const PyValue& value) {
  using Kind = PyValue::Kind;
  switch (value.kind()) {
    case Kind::None: return YAML::Node(YAML::NodeType::Null);
    case Kind::Bool: return YAML::Node(value.as_bool());
    case Kind::Int: return YAML::Node(value.as_int());
    case Kind::Float: return scalar_node(format_float(value.as_double(), false));
    case Kind::String: {
      YAML::Node node(value.as_string());
      // Keep "1.5" or "true" a string when the tree is written and read back.
      if (looks_like_non_string(value.as_string())) node.SetTag(kStrTag);
      return node;
    }
    case Kind::Bytes: {
      const std::string& data = value.as_string();
      return YAML::Node(
          YAML::Binary(reinterpret_cast<const unsigned char*>(data.data()), data.size()));
    }
    case Kind::List:
    case Kind::Tuple: {
      YAML::Node node(YAML::NodeType::Sequence);
      for (const PyValue& item : value.items()) node.push_back(to_yaml(item));
      return node;
    }
    case Kind::Dict: {
      YAML::Node node(YAML::NodeType::Map);
      for (const auto& [key, item] : value.dict_items())
        node.force_insert(to_yaml(key), to_yaml(item));
      return node;
    }
    case Kind::Tensor:
    case Kind::Array: return tensor_to_yaml(value.tensor());
  }
  return {};
}

namespace {

PyValue scalar_from_yaml(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  const std::string& tag = node.Tag();
  if (tag == "!" || tag == kStrTag) return PyValue::string(text);  // quoted or !!str
  if (tag == "tag:yaml.org,2002:binary") {
    const std::vector<unsigned char> data = YAML::DecodeBase64(text);
    return PyValue::bytes(std::string(data.begin(), data.end()));
  }
  if (tag == "tag:yaml.org,2002:float") {
    double d;
    if (parse_yaml_float(text, d)) return PyValue::floating(d);
  }
  if (is_yaml_null(text)) return PyValue::none();
  bool b;
  if (parse_yaml_bool(text, b)) return PyValue::boolean(b);
  std::int64_t i;
  if (parse_yaml_int(text, i)) return PyValue::integer(i);
  double d;
  if (parse_yaml_float(text, d)) return PyValue::floating(d);
  return PyValue::string(text);
}

}  // namespace

PyValue from_yaml(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null: return PyValue::none();
    case YAML::NodeType::Scalar: return scalar_from_yaml(node);
    case YAML::NodeType::Sequence: {
      PyValue::Items items;
      items.reserve(node.size());
      for (const YAML::Node& item : node) items.push_back(from_yaml(item));
      return PyValue::list(std::move(items));
    }
    case YAML::NodeType::Map: {
      PyValue::DictItems items;
      items.reserve(node.size());
      for (const auto& entry : node)
        items.emplace_back(from_yaml(entry.first), from_yaml(entry.second));
      return PyValue::dict(std::move(items));
    }
  }
  return PyValue::none();
}

}  // namespace brains::io
