#include "brains/io/npy.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <system_error>

#include "brains/core/error.h"
#include "brains/io/pickle.h"

namespace brains::io {

namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr std::size_t kAlignment = 64;  // numpy aligns the data so it can be memory-mapped

// Where an error happened: the npz entry (if any) and a byte offset (if known).
std::string position_of(const std::string& entry, std::optional<std::size_t> byte = {}) {
  std::string position = entry.empty() ? "" : "entry " + entry;
  if (byte)
    position += (position.empty() ? "" : ", ") + std::string("byte ") + std::to_string(*byte);
  return position;
}

// ---------------------------------------------------------------------------------------
// dtypes

struct Dtype {
  at::ScalarType type;
  std::size_t size;
  bool swap;  // big-endian on disk
};

// The numpy dtypes we map to torch (torch 1.13 has no unsigned types wider than a byte).
struct DtypeCode {
  at::ScalarType type;
  char kind;
  std::size_t size;
};
constexpr DtypeCode kDtypeCodes[] = {
    {at::kHalf, 'f', 2}, {at::kFloat, 'f', 4}, {at::kDouble, 'f', 8},
    {at::kChar, 'i', 1}, {at::kShort, 'i', 2}, {at::kInt, 'i', 4},
    {at::kLong, 'i', 8}, {at::kByte, 'u', 1},  {at::kBool, 'b', 1},
};

std::optional<at::ScalarType> scalar_type_for(char kind, std::size_t size) {
  for (const DtypeCode& code : kDtypeCodes)
    if (code.kind == kind && code.size == size) return code.type;
  return std::nullopt;
}

// A numeric descr such as "<f8"; nullopt for anything we do not read.
std::optional<Dtype> parse_dtype(const std::string& descr) {
  if (descr.size() < 3) return std::nullopt;
  const char order = descr[0];
  const char kind = descr[1];
  const std::string digits = descr.substr(2);
  if (digits.size() > 2 || !std::all_of(digits.begin(), digits.end(),
                                        [](unsigned char c) { return std::isdigit(c) != 0; }))
    return std::nullopt;
  const std::size_t size = std::stoul(digits);
  if (order != '<' && order != '>' && order != '=' && !(order == '|' && size == 1))
    return std::nullopt;
  const auto type = scalar_type_for(kind, size);
  if (!type) return std::nullopt;
  return Dtype{*type, size, order == '>' && size > 1};
}

std::string descr_for(at::ScalarType type) {
  for (const DtypeCode& code : kDtypeCodes)
    if (code.type == type)
      return std::string(1, code.size == 1 ? '|' : '<') + code.kind + std::to_string(code.size);
  throw ArgumentError(std::string("cannot write npy array: unsupported dtype ") +
                      c10::toString(type));
}

// ---------------------------------------------------------------------------------------
// The header: a Python dict literal such as
// {'descr': '<f8', 'fortran_order': False, 'shape': (94, 7), }

class HeaderParser {
 public:
  HeaderParser(std::string_view text, std::size_t offset, const std::string& file,
               const std::string& entry)
      : text_(text), offset_(offset), file_(file), entry_(entry) {}

  void parse(NpyHeader& header) {
    bool has_descr = false, has_order = false, has_shape = false;
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = parse_string();
      expect(':');
      if (key == "descr") {
        header.descr = parse_descr();
        has_descr = true;
      } else if (key == "fortran_order") {
        header.fortran_order = parse_bool();
        has_order = true;
      } else if (key == "shape") {
        header.shape = parse_shape();
        has_shape = true;
      } else {
        fail("unexpected key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') fail("expected ',' or '}'");
    }
    ++pos_;
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the header dict");
    if (!has_descr || !has_order || !has_shape)
      fail("header lacks one of 'descr', 'fortran_order', 'shape'");
  }

 private:
  [[noreturn]] void fail(const std::string& reason) const {
    throw FormatError(file_, position_of(entry_, offset_ + pos_),
                      "cannot parse npy header: " + reason);
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  std::string parse_string() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a string");
    const std::size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string value(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return value;
  }

  // A dtype string, or the raw text of a structured dtype (a list), kept for the message.
  std::string parse_descr() {
    skip_space();
    if (peek() == '\'' || peek() == '"') return parse_string();
    const std::size_t start = pos_;
    int depth = 0;
    for (; pos_ < text_.size(); ++pos_) {
      const char c = text_[pos_];
      if (c == '[' || c == '(') ++depth;
      if (c == ']' || c == ')') --depth;
      if (depth == 0 && (c == ',' || c == '}')) break;
      if (depth == 0 && (c == ']' || c == ')')) {
        ++pos_;
        break;
      }
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  bool parse_bool() {
    skip_space();
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail("expected True or False");
  }

  std::vector<std::int64_t> parse_shape() {
    std::vector<std::int64_t> shape;
    expect('(');
    for (;;) {
      skip_space();
      if (peek() == ')') break;
      shape.push_back(parse_dimension());
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != ')') fail("expected ',' or ')' in shape");
    }
    ++pos_;
    return shape;
  }

  std::int64_t parse_dimension() {
    const std::size_t start = pos_;
    std::int64_t value = 0;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      if (value > (std::numeric_limits<std::int64_t>::max() - 9) / 10) fail("dimension too large");
      value = value * 10 + (text_[pos_++] - '0');
    }
    if (pos_ == start) fail("expected a non-negative integer dimension");
    if (peek() == 'L') ++pos_;  // Python 2 longs, in files written by old numpy
    return value;
  }

  std::string_view text_;
  std::size_t offset_;
  const std::string& file_;
  const std::string& entry_;
  std::size_t pos_ = 0;
};

std::uint32_t read_le(std::string_view bytes, std::size_t offset, std::size_t width) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < width; ++i)
    value |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[offset + i])) << (8 * i);
  return value;
}

// numel * itemsize, or nullopt on overflow.
std::optional<std::size_t> data_size(const std::vector<std::int64_t>& shape, std::size_t item) {
  std::size_t total = item;
  for (const std::int64_t dim : shape) {
    const auto d = static_cast<std::size_t>(dim);
    if (d != 0 && total > std::numeric_limits<std::size_t>::max() / d) return std::nullopt;
    total *= d;
  }
  return total;
}

void swap_bytes(char* data, std::size_t count, std::size_t item) {
  for (std::size_t i = 0; i < count; ++i) std::reverse(data + i * item, data + (i + 1) * item);
}

at::Tensor numeric_array(std::string_view bytes, const NpyHeader& header, const Dtype& dtype,
                         const std::string& file, const std::string& entry) {
  const auto expected = data_size(header.shape, dtype.size);
  const std::size_t present = bytes.size() - header.data_offset;
  if (!expected)
    throw FormatError(file, position_of(entry), "cannot read npy array: shape too large");
  if (*expected != present)
    throw FormatError(file, position_of(entry, header.data_offset),
                      "cannot read npy array: header says " + std::to_string(*expected) +
                          " bytes of data, file has " + std::to_string(present));

  // Fortran order is C order of the reversed shape; transpose back afterwards.
  std::vector<std::int64_t> stored_shape = header.shape;
  if (header.fortran_order) std::reverse(stored_shape.begin(), stored_shape.end());
  // Bools go through uint8 so that any non-zero byte becomes a valid true.
  const at::ScalarType stored_type = dtype.type == at::kBool ? at::kByte : dtype.type;
  at::Tensor array;
  try {
    array = at::empty(stored_shape, at::TensorOptions().dtype(stored_type));
  } catch (const c10::Error&) {
    throw FormatError(file, position_of(entry), "cannot read npy array: shape too large");
  }
  if (present > 0) {
    auto* data = static_cast<char*>(array.data_ptr());
    std::memcpy(data, bytes.data() + header.data_offset, present);
    if (dtype.swap) swap_bytes(data, present / dtype.size, dtype.size);
  }
  if (dtype.type == at::kBool) array = array.ne(0);
  if (header.fortran_order && array.dim() > 1) {
    std::vector<std::int64_t> reversed(static_cast<std::size_t>(array.dim()));
    for (std::size_t i = 0; i < reversed.size(); ++i)
      reversed[i] = static_cast<std::int64_t>(reversed.size() - 1 - i);
    array = array.permute(reversed).contiguous();
  }
  return array;
}

std::string shape_repr(at::IntArrayRef shape) {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  if (shape.size() == 1) text += ",";
  return text + ")";
}

// Magic, version, length and the dict, padded with spaces to the alignment, ending in '\n'.
std::string header_bytes(const std::string& descr, at::IntArrayRef shape) {
  const std::string dict =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape_repr(shape) + ", }";
  for (const int version : {1, 2}) {
    const std::size_t prefix = kMagic.size() + 2 + (version == 1 ? 2 : 4);
    const std::size_t unpadded = prefix + dict.size() + 1;
    const std::size_t total = (unpadded + kAlignment - 1) / kAlignment * kAlignment;
    const std::size_t length = total - prefix;
    if (version == 1 && length > 0xFFFF) continue;
    std::string out(kMagic);
    out += static_cast<char>(version);
    out += '\0';
    for (std::size_t i = 0; i < prefix - kMagic.size() - 2; ++i)
      out += static_cast<char>((length >> (8 * i)) & 0xFF);
    out += dict;
    out.append(total - out.size() - 1, ' ');
    out += '\n';
    return out;
  }
  throw ArgumentError("cannot write npy header: too long");  // unreachable for real shapes
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw FormatError(
        path.string(), "",
        "cannot open file: " + std::error_code(errno, std::generic_category()).message());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw FormatError(path.string(), "", "cannot read file: read failed");
  return std::move(buffer).str();
}

void write_file_atomically(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::path temporary = path;
  temporary += ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(temporary, ignored);
      throw Error("cannot write file " + path.string() + ": write failed");
    }
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw Error("cannot write file " + path.string() + ": " + error.message());
  }
}

// numpy files hold no torch tensors: write any inside a value as numpy arrays.
PyValue tensors_as_arrays(const PyValue& value) {
  switch (value.kind()) {
    case PyValue::Kind::Tensor:
      return PyValue::array(value.tensor());
    case PyValue::Kind::List:
    case PyValue::Kind::Tuple: {
      PyValue::Items items;
      for (const PyValue& item : value.items()) items.push_back(tensors_as_arrays(item));
      return value.kind() == PyValue::Kind::List ? PyValue::list(std::move(items))
                                                 : PyValue::tuple(std::move(items));
    }
    case PyValue::Kind::Dict: {
      PyValue::DictItems items;
      for (const auto& [key, item] : value.dict_items())
        items.emplace_back(key, tensors_as_arrays(item));
      return PyValue::dict(std::move(items), value.ordered());
    }
    default:
      return value;
  }
}

}  // namespace

NpyHeader parse_npy_header(std::string_view bytes, const std::string& file,
                           const std::string& entry) {
  if (bytes.size() < kMagic.size() + 2 || bytes.substr(0, kMagic.size()) != kMagic)
    throw FormatError(file, position_of(entry, 0),
                      "cannot read npy array: bad magic (not an npy file)");
  NpyHeader header;
  header.major_version = static_cast<unsigned char>(bytes[kMagic.size()]);
  if (header.major_version < 1 || header.major_version > 3)
    throw FormatError(file, position_of(entry, kMagic.size()),
                      "cannot read npy array: unsupported format version " +
                          std::to_string(header.major_version));
  const std::size_t width = header.major_version == 1 ? 2 : 4;
  const std::size_t prefix = kMagic.size() + 2 + width;
  if (bytes.size() < prefix)
    throw FormatError(file, position_of(entry, bytes.size()),
                      "cannot read npy array: truncated header");
  const std::size_t length = read_le(bytes, kMagic.size() + 2, width);
  if (length > bytes.size() - prefix)
    throw FormatError(
        file, position_of(entry, prefix),
        "cannot read npy array: header length " + std::to_string(length) + " exceeds the file");
  // Version 3 only allows UTF-8 in the header; our dict grammar is ASCII either way.
  HeaderParser(bytes.substr(prefix, length), prefix, file, entry).parse(header);
  header.data_offset = prefix + length;
  return header;
}

at::Tensor parse_npy(std::string_view bytes, const std::string& file, const std::string& entry) {
  const NpyHeader header = parse_npy_header(bytes, file, entry);
  if (header.descr == "|O")
    throw FormatError(file, position_of(entry),
                      "cannot read npy array: object array ('|O'), not a numeric one");
  const auto dtype = parse_dtype(header.descr);
  if (!dtype)
    throw FormatError(file, position_of(entry),
                      "cannot read npy array: unsupported dtype " + header.descr);
  return numeric_array(bytes, header, *dtype, file, entry);
}

at::Tensor read_npy(const std::filesystem::path& path) {
  return parse_npy(read_file(path), path.string());
}

PyValue parse_npy_value(std::string_view bytes, const std::string& file, const std::string& entry) {
  const NpyHeader header = parse_npy_header(bytes, file, entry);
  if (header.descr != "|O") return PyValue::array(parse_npy(bytes, file, entry));
  // The pickle holds the whole ndarray; the unpickler returns a 0-d one as its element.
  PickleContext context;
  context.file = file;
  context.entry = entry;
  return unpickle(bytes.substr(header.data_offset), context);
}

PyValue read_npy_value(const std::filesystem::path& path) {
  return parse_npy_value(read_file(path), path.string());
}

std::string npy_bytes(const at::Tensor& array) {
  if (!array.defined()) throw ArgumentError("cannot write npy array: undefined tensor");
  const at::Tensor data = array.detach().cpu().contiguous();
  std::string out = header_bytes(descr_for(data.scalar_type()), data.sizes());
  const std::size_t size = static_cast<std::size_t>(data.numel()) * data.element_size();
  out.append(static_cast<const char*>(data.data_ptr()), size);
  return out;
}

std::string npy_bytes(const PyValue& value) {
  if (value.is_tensor_like()) return npy_bytes(value.tensor());
  PickleWriteOptions options;
  options.protocol = 3;  // as np.save
  options.as_object_array = true;
  return header_bytes("|O", {}) + pickle(tensors_as_arrays(value), options);
}

void write_npy(const std::filesystem::path& path, const at::Tensor& array) {
  write_file_atomically(path, npy_bytes(array));
}

void write_npy(const std::filesystem::path& path, const PyValue& value) {
  write_file_atomically(path, npy_bytes(value));
}

}  // namespace brains::io
