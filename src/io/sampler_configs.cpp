#include "brains/io/sampler_configs.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>
#include <vector>

#include "brains/core/error.h"

namespace brains::io {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kYamlTag = "tag:yaml.org,2002:";

// "tag:yaml.org,2002:python/tuple" -> "python/tuple"; other tags unchanged.
std::string_view short_tag(const std::string& tag) {
  std::string_view view(tag);
  if (view.rfind(kYamlTag, 0) == 0) view.remove_prefix(kYamlTag.size());
  return view;
}

bool is_reconstruct_tag(std::string_view tag) {
  return tag == "python/object/apply:numpy.core.multiarray._reconstruct" ||
         tag == "python/object/apply:numpy._core.multiarray._reconstruct";
}

bool is_numpy_scalar_tag(std::string_view tag) {
  return tag == "python/object/apply:numpy.core.multiarray.scalar" ||
         tag == "python/object/apply:numpy._core.multiarray.scalar";
}

std::string child_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

class Decoder {
 public:
  explicit Decoder(std::string origin) : origin_(std::move(origin)) {}

  YAML::Node plain(const YAML::Node& node, const std::string& path) const {
    const std::string_view tag = short_tag(node.Tag());
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return YAML::Node(YAML::NodeType::Null);
      case YAML::NodeType::Scalar:
        return plain_scalar(node, tag, path);
      case YAML::NodeType::Sequence:
        // PyYAML writes an object/apply that has only args as the args sequence itself.
        if (is_numpy_scalar_tag(tag)) return decode_scalar(node, path);
        if (!is_plain_tag(tag, "seq") && tag != "python/tuple" && tag != "python/list")
          unsupported(tag, path);
        return plain_sequence(node, path);
      case YAML::NodeType::Map:
        if (is_reconstruct_tag(tag)) return decode_array(node, path);
        if (is_numpy_scalar_tag(tag)) return decode_scalar(node["args"], path);
        if (!is_plain_tag(tag, "map") && tag != "python/dict") unsupported(tag, path);
        return plain_map(node, path);
    }
    return {};
  }

 private:
  // Untagged ("?"), non-specific ("!") or the standard tag of that kind.
  static bool is_plain_tag(std::string_view tag, std::string_view standard) {
    return tag.empty() || tag == "?" || tag == "!" || tag == standard;
  }

  [[noreturn]] void fail(const std::string& path, const std::string& message) const {
    throw FormatError(origin_, path.empty() ? "" : "key " + path, message);
  }
  [[noreturn]] void unsupported(std::string_view tag, const std::string& path) const {
    fail(path, "cannot decode tag '!!" + std::string(tag) + "': not a numpy array or tuple");
  }

  YAML::Node plain_scalar(const YAML::Node& node, std::string_view tag,
                          const std::string& path) const {
    YAML::Node out(node.Scalar());
    if (tag == "!" || tag == "str" || tag == "python/str" || tag == "python/unicode") {
      out.SetTag("!");  // a quoted string: dump_plain_yaml keeps "1" a string
    } else if (!(tag.empty() || tag == "?" || tag == "int" || tag == "float" || tag == "bool" ||
                 tag == "null" || tag == "python/int" || tag == "python/float" ||
                 tag == "python/bool" || tag == "python/none")) {
      unsupported(tag, path);
    }
    return out;
  }

  YAML::Node plain_sequence(const YAML::Node& node, const std::string& path) const {
    YAML::Node out(YAML::NodeType::Sequence);
    std::size_t index = 0;
    for (const auto& item : node)
      out.push_back(plain(item, child_path(path, std::to_string(index++))));
    return out;
  }

  YAML::Node plain_map(const YAML::Node& node, const std::string& path) const {
    YAML::Node out(YAML::NodeType::Map);
    for (const auto& item : node) {
      const std::string key = item.first.IsScalar() ? item.first.Scalar() : "?";
      out[plain(item.first, path)] = plain(item.second, child_path(path, key));
    }
    return out;
  }

  // numpy dtype: `!!python/object/apply:numpy.dtype {args: [f8, false, true], state: (3, '<',
  // ...)}`.
  struct Dtype {
    char kind;  // 'f', 'i', 'u', 'b'
    int size;
    bool swap;  // big-endian data on this little-endian host
  };

  Dtype decode_dtype(const YAML::Node& node, const std::string& path) const {
    const std::string_view tag = short_tag(node.Tag());
    if (!node.IsMap() || (tag != "python/object/apply:numpy.dtype"))
      fail(path, "cannot decode numpy array: dtype is not a numpy.dtype object");
    const YAML::Node args = node["args"];
    if (!args.IsSequence() || args.size() == 0 || !args[0].IsScalar())
      fail(path, "cannot decode numpy array: dtype has no type name");
    const std::string name = args[0].Scalar();
    std::string order = "|";
    const YAML::Node state = node["state"];
    if (state.IsSequence() && state.size() > 1 && state[1].IsScalar()) order = state[1].Scalar();

    Dtype dtype{name.empty() ? '?' : name[0], 0, order == ">"};
    const std::string size = name.size() > 1 ? name.substr(1) : "";
    std::from_chars(size.data(), size.data() + size.size(), dtype.size);
    const bool known =
        (dtype.kind == 'f' && (dtype.size == 4 || dtype.size == 8)) ||
        ((dtype.kind == 'i' || dtype.kind == 'u') &&
         (dtype.size == 1 || dtype.size == 2 || dtype.size == 4 || dtype.size == 8)) ||
        (dtype.kind == 'b' && dtype.size == 1);
    if (!known) fail(path, "cannot decode numpy array: unsupported dtype '" + name + "'");
    return dtype;
  }

  static int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  }

  // Standard base64 as PyYAML's !!binary writes it (line breaks allowed, '=' padding).
  std::string decode_base64(const std::string& text, const std::string& path) const {
    std::string bytes;
    std::uint32_t buffer = 0;
    int bits = 0;
    for (const char c : text) {
      if (c == '=' || std::isspace(static_cast<unsigned char>(c))) continue;
      const int value = base64_value(c);
      if (value < 0)
        fail(path, std::string("cannot decode !!binary: invalid character '") + c + "'");
      buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        bytes.push_back(static_cast<char>((buffer >> bits) & 0xFF));
      }
    }
    return bytes;
  }

  std::string binary_payload(const YAML::Node& node, const std::string& path) const {
    if (!node.IsScalar() || short_tag(node.Tag()) != "binary")
      fail(path, "cannot decode numpy array: data is not a !!binary scalar");
    return decode_base64(node.Scalar(), path);
  }

  // One element as a YAML scalar; floats as Python's repr, with PyYAML's ".0" so they stay
  // floats when read back by PyYAML.
  static YAML::Node element(const char* data, const Dtype& dtype) {
    unsigned char raw[8];
    std::memcpy(raw, data, dtype.size);
    if (dtype.swap) std::reverse(raw, raw + dtype.size);
    if (dtype.kind == 'f') {
      double value;
      if (dtype.size == 8) {
        std::memcpy(&value, raw, 8);
      } else {
        float single;
        std::memcpy(&single, raw, 4);
        value = single;
      }
      return YAML::Node(float_repr(value, dtype.size == 4));
    }
    if (dtype.kind == 'b') return YAML::Node(raw[0] != 0 ? "true" : "false");
    if (dtype.kind == 'u') {
      std::uint64_t value = 0;
      for (int i = dtype.size - 1; i >= 0; --i) value = (value << 8) | raw[i];
      return YAML::Node(std::to_string(value));
    }
    std::uint64_t bits = 0;
    for (int i = dtype.size - 1; i >= 0; --i) bits = (bits << 8) | raw[i];
    const int shift = 64 - 8 * dtype.size;  // sign-extend
    const auto value = static_cast<std::int64_t>(bits << shift) >> shift;
    return YAML::Node(std::to_string(value));
  }

  static std::string float_repr(double value, bool single) {
    if (std::isnan(value)) return ".nan";
    if (std::isinf(value)) return value < 0 ? "-.inf" : ".inf";
    char buffer[40];
    // A float32 prints as the shortest text that reads back to the same float32.
    const auto end =
        single ? std::to_chars(buffer, buffer + sizeof buffer, static_cast<float>(value)).ptr
               : std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
    std::string text(buffer, end);
    if (text.find('.') == std::string::npos) {
      const std::size_t e = text.find('e');
      text.insert(e == std::string::npos ? text.size() : e, ".0");
    }
    return text;
  }

  YAML::Node nested(const char* data, const Dtype& dtype, const std::vector<std::int64_t>& shape,
                    const std::vector<std::int64_t>& strides, std::size_t dim) const {
    if (dim == shape.size()) return element(data, dtype);
    YAML::Node out(YAML::NodeType::Sequence);
    for (std::int64_t i = 0; i < shape[dim]; ++i)
      out.push_back(nested(data + i * strides[dim], dtype, shape, strides, dim + 1));
    return out;
  }

  // `!!python/object/apply:numpy.core.multiarray._reconstruct` with
  // state (version, shape, dtype, is_fortran, raw bytes).
  YAML::Node decode_array(const YAML::Node& node, const std::string& path) const {
    const YAML::Node state = node["state"];
    if (!state.IsSequence() || state.size() != 5)
      fail(path, "cannot decode numpy array: state is not a 5-tuple");
    const Dtype dtype = decode_dtype(state[2], path);
    std::vector<std::int64_t> shape;
    for (const auto& extent : state[1]) {
      std::int64_t value = -1;
      if (extent.IsScalar()) {
        const std::string& text = extent.Scalar();
        std::from_chars(text.data(), text.data() + text.size(), value);
      }
      if (value < 0) fail(path, "cannot decode numpy array: invalid shape");
      shape.push_back(value);
    }
    const bool fortran = state[3].IsScalar() && state[3].Scalar() == "true";
    const std::string bytes = binary_payload(state[4], path);

    std::int64_t count = 1;
    for (const auto extent : shape) count *= extent;
    if (static_cast<std::int64_t>(bytes.size()) != count * dtype.size)
      fail(path, "cannot decode numpy array: " + std::to_string(bytes.size()) + " data bytes for " +
                     std::to_string(count) + " elements of " + std::to_string(dtype.size) +
                     " bytes");
    std::vector<std::int64_t> strides(shape.size());
    std::int64_t stride = dtype.size;
    for (std::size_t k = 0; k < shape.size(); ++k) {
      const std::size_t dim = fortran ? k : shape.size() - 1 - k;
      strides[dim] = stride;
      stride *= shape[dim];
    }
    return nested(bytes.data(), dtype, shape, strides, 0);
  }

  // `!!python/object/apply:numpy.core.multiarray.scalar` with args [dtype, raw bytes].
  YAML::Node decode_scalar(const YAML::Node& args, const std::string& path) const {
    if (!args.IsSequence() || args.size() != 2)
      fail(path, "cannot decode numpy scalar: args are not [dtype, data]");
    const Dtype dtype = decode_dtype(args[0], path);
    const std::string bytes = binary_payload(args[1], path);
    if (static_cast<int>(bytes.size()) != dtype.size)
      fail(path, "cannot decode numpy scalar: " + std::to_string(bytes.size()) +
                     " data bytes for a " + std::to_string(dtype.size) + "-byte value");
    return element(bytes.data(), dtype);
  }

  std::string origin_;
};

// True when a plain scalar with this text would not read back as a string.
bool resolves_to_non_string(const std::string& text) {
  static const char* const words[] = {
      "",      "~",   "null", "Null", "NULL",  "true",  "True", "TRUE", "false", "False",
      "FALSE", "yes", "Yes",  "YES",  "no",    "No",    "NO",   "on",   "On",    "ON",
      "off",   "Off", "OFF",  ".inf", "-.inf", "+.inf", ".nan", ".NaN", ".NAN",  ".Inf"};
  for (const char* word : words)
    if (text == word) return true;
  double value;
  const char* begin = text.data() + (!text.empty() && text[0] == '+' ? 1 : 0);
  const auto result = std::from_chars(begin, text.data() + text.size(), value);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

void emit(YAML::Emitter& out, const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out << YAML::Null;
      break;
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!" && resolves_to_non_string(node.Scalar()))
        out << YAML::DoubleQuoted << node.Scalar();
      else
        out << node.Scalar();
      break;
    case YAML::NodeType::Sequence:
      if (node.size() == 0) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        break;
      }
      out << YAML::Block << YAML::BeginSeq;
      for (const auto& item : node) emit(out, item);
      out << YAML::EndSeq;
      break;
    case YAML::NodeType::Map:
      if (node.size() == 0) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        break;
      }
      out << YAML::Block << YAML::BeginMap;
      for (const auto& item : node) {
        out << YAML::Key;
        emit(out, item.first);
        out << YAML::Value;
        emit(out, item.second);
      }
      out << YAML::EndMap;
      break;
  }
}

bool is_base64_text(std::string_view text) {
  for (const char c : text)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=')
      return false;
  return !text.empty();
}

std::size_t leading_spaces(std::string_view line) {
  const std::size_t count = line.find_first_not_of(' ');
  return count == std::string_view::npos ? line.size() : count;
}

// If `line` ends in "!!binary |" (or ">", with indicators), returns the part before the
// block indicator ("  - !!binary").
std::optional<std::string_view> binary_block_header(std::string_view line) {
  const std::size_t tag = line.rfind("!!binary");
  if (tag == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(tag + 8);
  const std::size_t indicator = rest.find_first_not_of(' ');
  if (indicator == 0 || indicator == std::string_view::npos ||
      (rest[indicator] != '|' && rest[indicator] != '>'))
    return std::nullopt;
  rest.remove_prefix(indicator + 1);
  const std::size_t end = rest.find_last_not_of(' ');
  if (end != std::string_view::npos &&
      rest.substr(0, end + 1).find_first_not_of("+-0123456789") != std::string_view::npos)
    return std::nullopt;
  return line.substr(0, tag + 8);
}

// yaml-cpp 0.7 cannot parse a tagged block scalar as a sequence item ("- !!binary |", its
// issue #1163), which is how PyYAML writes every numpy payload. Base64 is a valid plain
// scalar, so each such block becomes "- !!binary <base64>" on one line; the lines it took
// stay as blank lines so that error positions keep their line numbers.
std::string inline_binary_blocks(const std::string& text) {
  std::vector<std::string_view> lines;
  for (std::size_t pos = 0; pos <= text.size();) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    pos = end + 1;
  }
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto header = binary_block_header(lines[i]);
    std::string payload;
    std::size_t next = i + 1;
    if (header) {
      const std::size_t indent = leading_spaces(lines[i]);
      for (; next < lines.size(); ++next) {
        const std::size_t spaces = leading_spaces(lines[next]);
        if (spaces < lines[next].size() && spaces <= indent) break;
        payload += lines[next].substr(spaces);
      }
    }
    if (header && is_base64_text(payload)) {
      out.append(*header).append(" ").append(payload).append(next - i, '\n');
      i = next - 1;
    } else {
      out.append(lines[i]).append(i + 1 < lines.size() ? "\n" : "");
    }
  }
  return out;
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw FormatError(file.string(), "", "cannot open file: " + std::string(std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

YAML::Node decode_python_tags(const YAML::Node& node, const std::string& origin) {
  return Decoder(origin).plain(node, "");
}

YAML::Node read_sampler_configs(const fs::path& file) {
  const std::string text = read_text(file);
  YAML::Node raw;
  try {
    raw = YAML::Load(inline_binary_blocks(text));
  } catch (const YAML::Exception& error) {
    throw FormatError(file.string(),
                      "line " + std::to_string(error.mark.line + 1) + ", column " +
                          std::to_string(error.mark.column + 1),
                      "cannot parse YAML: " + error.msg);
  }
  return decode_python_tags(raw, file.string());
}

std::string dump_plain_yaml(const YAML::Node& node) {
  YAML::Emitter out;
  out.SetNullFormat(YAML::LowerNull);
  emit(out, decode_python_tags(node));
  if (!out.good()) throw Error("cannot write YAML: " + out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

void save_sampler_configs(const fs::path& file, const YAML::Node& configs) {
  const std::string text = dump_plain_yaml(configs);
  const fs::path temporary = file.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw Error("cannot write " + file.string() + ": " + std::strerror(errno));
  }
  std::error_code error;
  fs::rename(temporary, file, error);
  if (error) {
    fs::remove(temporary, error);
    throw Error("cannot write " + file.string() + ": " + error.message());
  }
}

}  // namespace brains::io
