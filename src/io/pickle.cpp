#include "brains/io/pickle.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "brains/core/error.h"

namespace brains::io {

namespace {

// Nesting beyond this is refused (reading) or reported (writing): deeper trees would
// overflow the stack of the recursive conversions, and no real file comes close.
constexpr int kMaxDepth = 1000;
// numpy allows 64 dimensions; torch files never come near.
constexpr std::size_t kMaxDims = 64;

// ---------------------------------------------------------------------------------------
// Globals: the only names a pickle may refer to. None of them is ever called as Python
// code; each selects one of the data constructors below.

enum class GlobalId {
  OrderedDict,
  RebuildTensorV2,
  RebuildParameter,
  RebuildParameterWithState,
  Storage,  // a torch storage class; `scalar_type` holds its element type
  TorchSize,
  TorchDevice,
  NumpyReconstruct,
  NumpyNdarray,
  NumpyDtype,
  NumpyScalar,
  NumpyFrombuffer,
  CodecsEncode,
  Bytes,
};

struct GlobalInfo {
  GlobalId id;
  at::ScalarType scalar_type = at::kByte;
  std::string name;  // "module.name", for messages
};

const std::map<std::string, GlobalInfo>& allowed_globals() {
  static const std::map<std::string, GlobalInfo> table = [] {
    std::map<std::string, GlobalInfo> t;
    auto add = [&](const std::string& name, GlobalId id, at::ScalarType type = at::kByte) {
      t.emplace(name, GlobalInfo{id, type, name});
    };
    add("collections.OrderedDict", GlobalId::OrderedDict);
    add("torch._utils._rebuild_tensor_v2", GlobalId::RebuildTensorV2);
    add("torch._utils._rebuild_parameter", GlobalId::RebuildParameter);
    add("torch._utils._rebuild_parameter_with_state", GlobalId::RebuildParameterWithState);
    const std::pair<const char*, at::ScalarType> storages[] = {
        {"FloatStorage", at::kFloat}, {"DoubleStorage", at::kDouble},
        {"HalfStorage", at::kHalf},   {"BFloat16Storage", at::kBFloat16},
        {"LongStorage", at::kLong},   {"IntStorage", at::kInt},
        {"ShortStorage", at::kShort}, {"CharStorage", at::kChar},
        {"ByteStorage", at::kByte},   {"BoolStorage", at::kBool}};
    for (const auto& [name, type] : storages) {
      add(std::string("torch.") + name, GlobalId::Storage, type);
      add(std::string("torch.cuda.") + name, GlobalId::Storage, type);
    }
    add("torch.UntypedStorage", GlobalId::Storage, at::kByte);
    add("torch.storage.UntypedStorage", GlobalId::Storage, at::kByte);
    add("torch.storage._UntypedStorage", GlobalId::Storage, at::kByte);
    add("torch.Size", GlobalId::TorchSize);
    add("torch.device", GlobalId::TorchDevice);
    for (const char* core : {"numpy.core", "numpy._core"}) {
      const std::string prefix = core;
      add(prefix + ".multiarray._reconstruct", GlobalId::NumpyReconstruct);
      add(prefix + ".multiarray.scalar", GlobalId::NumpyScalar);
      add(prefix + ".numeric._frombuffer", GlobalId::NumpyFrombuffer);
    }
    add("numpy.ndarray", GlobalId::NumpyNdarray);
    add("numpy.dtype", GlobalId::NumpyDtype);
    add("_codecs.encode", GlobalId::CodecsEncode);
    add("builtins.bytes", GlobalId::Bytes);
    add("__builtin__.bytes", GlobalId::Bytes);
    return t;
  }();
  return table;
}

// ---------------------------------------------------------------------------------------
// The unpickler's own object graph. Python objects are mutable and shared (the memo, BUILD
// and SETITEMS all act on an object after it was created), so the stack holds shared
// objects, and the PyValue tree is built once at the end.

struct NumpyDtype {
  std::string descr;     // numpy's "kind + itemsize" spelling: "f8", "b1", "O8", "U10"
  char byteorder = '=';  // '<', '>', '|' or '=' (native)
  bool structured = false;
};

struct Object;
using Ref = std::shared_ptr<Object>;

struct Object {
  enum class Type { Value, List, Tuple, Dict, Global, Dtype, Storage, PendingArray, Alias };
  Type type = Type::Value;
  std::size_t offset = 0;                    // where it was created, for messages
  PyValue value;                             // Value
  std::vector<Ref> items;                    // List, Tuple
  std::vector<std::pair<Ref, Ref>> entries;  // Dict
  bool ordered = false;                      // Dict
  const GlobalInfo* global = nullptr;        // Global
  NumpyDtype dtype;                          // Dtype
  at::Tensor storage;                        // Storage: 1-d, contiguous, of its type
  Ref target;                                // Alias: this object became `target`
};

const char* type_name(const Object& object) {
  switch (object.type) {
    case Object::Type::Value: return object.value.kind_name();
    case Object::Type::List: return "list";
    case Object::Type::Tuple: return "tuple";
    case Object::Type::Dict: return "dict";
    case Object::Type::Global: return "global";
    case Object::Type::Dtype: return "numpy.dtype";
    case Object::Type::Storage: return "torch storage";
    case Object::Type::PendingArray: return "numpy.ndarray";
    case Object::Type::Alias: return "object";
  }
  return "object";
}

// numpy dtype -> torch element type; at::ScalarType::Undefined for dtypes we do not read.
at::ScalarType numpy_scalar_type(const std::string& descr) {
  static const std::map<std::string, at::ScalarType> table = {
      {"f2", at::kHalf}, {"f4", at::kFloat}, {"f8", at::kDouble},
      {"i1", at::kChar}, {"i2", at::kShort}, {"i4", at::kInt},
      {"i8", at::kLong}, {"u1", at::kByte},  {"b1", at::kBool}};
  const auto it = table.find(descr);
  return it == table.end() ? at::ScalarType::Undefined : it->second;
}

bool is_object_dtype(const std::string& descr) { return !descr.empty() && descr[0] == 'O'; }

// Decodes UTF-8 into code points; false on malformed input.
bool decode_utf8(std::string_view text, std::vector<std::uint32_t>& out) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    if (c < 0x80) {
      extra = 0;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
    } else {
      return false;
    }
    if (text.size() - i < extra + 1) return false;
    std::uint32_t code = extra == 0 ? c : c & (0x3Fu >> extra);
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3Fu);
    }
    out.push_back(code);
    i += 1 + extra;
  }
  return true;
}

class Unpickler {
 public:
  Unpickler(std::string_view data, const PickleContext& context) : data_(data), context_(context) {}
  ~Unpickler() { release_all(); }
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  PyValue run() {
    try {
      // The root stays owned by the unpickler, which takes deep graphs apart iteratively.
      root_ = run_opcodes();
      return convert(root_, 0);
    } catch (const c10::Error& e) {
      fail(std::string("cannot unpickle: torch refused the data: ") +
           first_line(e.what_without_backtrace()));
    }
  }

 private:
  // ---- errors and input ------------------------------------------------------------

  [[noreturn]] void fail(const std::string& message) const { fail_at(op_start_, message); }

  [[noreturn]] void fail_at(std::size_t offset, const std::string& message) const {
    std::string position = "byte " + std::to_string(offset);
    if (!context_.entry.empty()) position = "entry " + context_.entry + ", " + position;
    throw FormatError(context_.file.empty() ? "<pickle>" : context_.file, position, message);
  }

  static std::string first_line(const char* text) {
    std::string s(text);
    return s.substr(0, s.find('\n'));
  }

  void need(std::uint64_t n) const {
    if (n > data_.size() - pos_)
      fail("cannot unpickle: truncated data (" + std::to_string(n) + " bytes needed, " +
           std::to_string(data_.size() - pos_) + " left)");
  }

  std::uint64_t read_uint(int bytes) {
    need(static_cast<std::uint64_t>(bytes));
    std::uint64_t value = 0;
    for (int i = bytes - 1; i >= 0; --i)
      value = (value << 8) | static_cast<unsigned char>(data_[pos_ + static_cast<std::size_t>(i)]);
    pos_ += static_cast<std::size_t>(bytes);
    return value;
  }

  std::int32_t read_int32() {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(read_uint(4)));
  }

  std::string_view read_bytes(std::uint64_t n) {
    need(n);
    const std::string_view out = data_.substr(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return out;
  }

  std::string read_line() {
    const std::size_t end = data_.find('\n', pos_);
    if (end == std::string_view::npos) fail("cannot unpickle: truncated data (missing newline)");
    std::string line(data_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return line;
  }

  // ---- the stack -------------------------------------------------------------------

  Ref make(Object::Type type) {
    auto object = std::make_shared<Object>();
    object->type = type;
    object->offset = op_start_;
    return object;
  }

  Ref make_value(PyValue value) {
    Ref object = make(Object::Type::Value);
    object->value = std::move(value);
    return object;
  }

  // Values below the innermost MARK are out of reach until POP_MARK, as in Python.
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }

  void push(Ref object) { stack_.push_back(std::move(object)); }

  Ref pop() {
    if (stack_.size() <= floor()) fail("cannot unpickle: stack underflow");
    Ref object = std::move(stack_.back());
    stack_.pop_back();
    return object;
  }

  Ref& top() {
    if (stack_.size() <= floor()) fail("cannot unpickle: stack underflow");
    return stack_.back();
  }

  std::vector<Ref> pop_mark() {
    if (marks_.empty()) fail("cannot unpickle: no MARK on the stack");
    const std::size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<Ref> items(
        std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(mark)),
        std::make_move_iterator(stack_.end()));
    stack_.resize(mark);
    return items;
  }

  Ref tuple_of(std::vector<Ref> items) {
    Ref object = make(Object::Type::Tuple);
    object->items = std::move(items);
    return object;
  }

  static const Object& resolve(const Ref& ref) {
    const Object* object = ref.get();
    for (int hops = 0; object->type == Object::Type::Alias && hops < kMaxDepth; ++hops)
      object = object->target.get();
    return *object;
  }

  // ---- typed access to arguments ---------------------------------------------------

  const Object& expect(const Ref& ref, Object::Type type, const char* what) const {
    const Object& object = resolve(ref);
    if (object.type != type)
      fail(std::string("cannot unpickle: expected ") + what + ", got " + type_name(object));
    return object;
  }

  const PyValue& expect_value(const Ref& ref, PyValue::Kind kind, const char* what) const {
    const Object& object = resolve(ref);
    if (object.type != Object::Type::Value || object.value.kind() != kind)
      fail(std::string("cannot unpickle: expected ") + what + ", got " + type_name(object));
    return object.value;
  }

  std::int64_t expect_int(const Ref& ref, const char* what) const {
    const Object& object = resolve(ref);
    if (object.type == Object::Type::Value && object.value.kind() == PyValue::Kind::Bool)
      return object.value.as_bool() ? 1 : 0;
    return expect_value(ref, PyValue::Kind::Int, what).as_int();
  }

  bool expect_bool(const Ref& ref, const char* what) const { return expect_int(ref, what) != 0; }

  const std::string& expect_string(const Ref& ref, const char* what) const {
    const Object& object = resolve(ref);
    if (object.type != Object::Type::Value || (object.value.kind() != PyValue::Kind::String &&
                                               object.value.kind() != PyValue::Kind::Bytes))
      fail(std::string("cannot unpickle: expected ") + what + ", got " + type_name(object));
    return object.value.as_string();
  }

  const std::vector<Ref>& expect_args(const Ref& ref, std::size_t min, std::size_t max,
                                      const std::string& callee) const {
    const Object& args = expect(ref, Object::Type::Tuple, "an argument tuple");
    if (args.items.size() < min || args.items.size() > max)
      fail("cannot unpickle: " + callee + " takes " + std::to_string(min) +
           (max != min ? "-" + std::to_string(max) : "") + " arguments, got " +
           std::to_string(args.items.size()));
    return args.items;
  }

  std::vector<std::int64_t> expect_shape(const Ref& ref, const char* what) const {
    const Object& tuple = expect(ref, Object::Type::Tuple, what);
    if (tuple.items.size() > kMaxDims)
      fail(std::string("cannot unpickle: ") + what + " has more than 64 dimensions");
    std::vector<std::int64_t> shape;
    for (const Ref& item : tuple.items) {
      const std::int64_t n = expect_int(item, what);
      if (n < 0) fail(std::string("cannot unpickle: negative value in ") + what);
      shape.push_back(n);
    }
    return shape;
  }

  // Product of `shape`, or failure on overflow.
  std::int64_t element_count(const std::vector<std::int64_t>& shape) const {
    std::int64_t count = 1;
    for (std::int64_t n : shape) {
      if (n == 0) return 0;
    }
    for (std::int64_t n : shape) {
      if (__builtin_mul_overflow(count, n, &count)) fail("cannot unpickle: array shape overflows");
    }
    return count;
  }

  // ---- the opcode loop -------------------------------------------------------------

  Ref run_opcodes() {
    while (pos_ < data_.size()) {
      op_start_ = pos_;
      const auto op = static_cast<unsigned char>(data_[pos_++]);
      if (op == '.') return pop();  // STOP
      dispatch(op);
    }
    op_start_ = pos_;
    fail("cannot unpickle: truncated data (no STOP opcode)");
  }

  void dispatch(unsigned char op) {
    switch (op) {
      case 0x80: {  // PROTO
        const auto protocol = read_uint(1);
        if (protocol > 5) fail("cannot unpickle: unsupported protocol " + std::to_string(protocol));
        return;
      }
      case 0x95: read_uint(8); return;  // FRAME: only a read-ahead hint
      case 'c': {                       // GLOBAL
        std::string module = read_line();
        std::string name = read_line();
        return push(make_global(module, name));
      }
      case 0x93: {  // STACK_GLOBAL
        Ref name = pop();
        Ref module = pop();
        return push(make_global(expect_string(module, "a module name"),
                                expect_string(name, "a global name")));
      }
      case 'q': return memo_put(read_uint(1));
      case 'r': return memo_put(read_uint(4));
      case 0x94: return memo_put(memo_.size());  // MEMOIZE
      case 'h': return memo_get(read_uint(1));
      case 'j': return memo_get(read_uint(4));
      case '(': marks_.push_back(stack_.size()); return;  // MARK
      case '0':                                           // POP
        if (stack_.size() == floor() && !marks_.empty()) {
          marks_.pop_back();
        } else {
          pop();
        }
        return;
      case '1': pop_mark(); return;  // POP_MARK
      case '2': {                    // DUP
        Ref copy = top();
        return push(std::move(copy));
      }
      case 'N': return push(make_value(PyValue::none()));
      case 0x88: return push(make_value(PyValue::boolean(true)));
      case 0x89: return push(make_value(PyValue::boolean(false)));
      case 'J': return push(make_value(PyValue::integer(read_int32())));
      case 'K': return push(make_value(PyValue::integer(static_cast<std::int64_t>(read_uint(1)))));
      case 'M': return push(make_value(PyValue::integer(static_cast<std::int64_t>(read_uint(2)))));
      case 0x8a: return push_long(read_uint(1));  // LONG1
      case 0x8b: {                                // LONG4
        const std::int32_t n = read_int32();
        if (n < 0) fail("cannot unpickle: negative LONG4 length");
        return push_long(static_cast<std::uint64_t>(n));
      }
      case 'G': return push_float();
      case 'X': return push_text(read_uint(4), PyValue::Kind::String);
      case 0x8c: return push_text(read_uint(1), PyValue::Kind::String);
      case 0x8d: return push_text(read_uint(8), PyValue::Kind::String);
      case 'T': {  // BINSTRING (a Python 2 str)
        const std::int32_t n = read_int32();
        if (n < 0) fail("cannot unpickle: negative BINSTRING length");
        return push_text(static_cast<std::uint64_t>(n), PyValue::Kind::String);
      }
      case 'U': return push_text(read_uint(1), PyValue::Kind::String);  // SHORT_BINSTRING
      case 'B': return push_text(read_uint(4), PyValue::Kind::Bytes);
      case 'C': return push_text(read_uint(1), PyValue::Kind::Bytes);
      case 0x8e: return push_text(read_uint(8), PyValue::Kind::Bytes);
      case 0x96: return push_text(read_uint(8), PyValue::Kind::Bytes);  // BYTEARRAY8
      case ')': return push(tuple_of({}));
      case 0x85: return push_tuple(1);
      case 0x86: return push_tuple(2);
      case 0x87: return push_tuple(3);
      case 't': return push(tuple_of(pop_mark()));
      case ']': return push(make(Object::Type::List));
      case 'l': {  // LIST
        Ref list = make(Object::Type::List);
        list->items = pop_mark();
        return push(std::move(list));
      }
      case '}': return push(make(Object::Type::Dict));
      case 'd': {  // DICT
        Ref dict = make(Object::Type::Dict);
        std::vector<Ref> items = pop_mark();
        set_items(*dict, std::move(items));
        return push(std::move(dict));
      }
      case 'a': {  // APPEND
        Ref item = pop();
        return list_target().items.push_back(std::move(item));
      }
      case 'e': {  // APPENDS
        std::vector<Ref> items = pop_mark();
        Object& list = list_target();
        for (Ref& item : items) list.items.push_back(std::move(item));
        return;
      }
      case 's': {  // SETITEM
        Ref value = pop();
        Ref key = pop();
        std::vector<Ref> pair;
        pair.push_back(std::move(key));
        pair.push_back(std::move(value));
        return set_items(dict_target(), std::move(pair));
      }
      case 'u': {  // SETITEMS
        std::vector<Ref> items = pop_mark();
        return set_items(dict_target(), std::move(items));
      }
      case 'R': {  // REDUCE
        Ref args = pop();
        Ref callable = pop();
        return push(call(callable, args));
      }
      case 0x81: {  // NEWOBJ
        Ref args = pop();
        Ref cls = pop();
        return push(call(cls, args));
      }
      case 0x92: {  // NEWOBJ_EX
        Ref kwargs = pop();
        Ref args = pop();
        Ref cls = pop();
        if (!expect(kwargs, Object::Type::Dict, "keyword arguments").entries.empty())
          fail("cannot unpickle: keyword arguments are not supported");
        return push(call(cls, args));
      }
      case 'b': {  // BUILD
        Ref state = pop();
        return build(top(), state);
      }
      case 'Q': {  // BINPERSID
        Ref pid = pop();
        return push(persistent_load(pid));
      }
      case 0x8f:  // EMPTY_SET
      case 0x90:  // ADDITEMS
      case 0x91:  // FROZENSET
        fail("cannot unpickle: Python sets are not supported");
      case 0x97:  // NEXT_BUFFER
      case 0x98:  // READONLY_BUFFER
        fail("cannot unpickle: out-of-band buffers are not supported");
      default: {
        char text[64];
        std::snprintf(text, sizeof text, "cannot unpickle: unknown or unsupported opcode 0x%02x",
                      static_cast<unsigned>(op));
        fail(text);
      }
    }
  }

  void memo_put(std::uint64_t index) { memo_[index] = top(); }

  void memo_get(std::uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end())
      fail("cannot unpickle: memo index " + std::to_string(index) + " is not defined");
    push(it->second);
  }

  void push_tuple(std::size_t n) {
    if (stack_.size() < floor() + n) fail("cannot unpickle: stack underflow");
    std::vector<Ref> items(std::make_move_iterator(stack_.end() - static_cast<std::ptrdiff_t>(n)),
                           std::make_move_iterator(stack_.end()));
    stack_.resize(stack_.size() - n);
    push(tuple_of(std::move(items)));
  }

  // Little-endian two's complement, as Python's encode_long writes it.
  void push_long(std::uint64_t n) {
    const std::string_view bytes = read_bytes(n);
    std::size_t size = bytes.size();
    // Sign-extension bytes beyond 8 are allowed; real data beyond 64 bits is not.
    while (size > 8) {
      const auto last = static_cast<unsigned char>(bytes[size - 1]);
      const auto prev = static_cast<unsigned char>(bytes[size - 2]);
      if (!((last == 0 && prev < 0x80) || (last == 0xFF && prev >= 0x80))) break;
      --size;
    }
    if (size > 8) fail("cannot unpickle: integer does not fit in 64 bits");
    std::uint64_t value = 0;
    for (std::size_t i = size; i-- > 0;)
      value = (value << 8) | static_cast<unsigned char>(bytes[i]);
    if (size > 0 && size < 8 && (static_cast<unsigned char>(bytes[size - 1]) & 0x80))
      value |= ~std::uint64_t{0} << (8 * size);  // sign-extend
    push(make_value(PyValue::integer(static_cast<std::int64_t>(value))));
  }

  void push_float() {
    // BINFLOAT is big-endian.
    const std::string_view bytes = read_bytes(8);
    std::uint64_t bits = 0;
    for (char c : bytes) bits = (bits << 8) | static_cast<unsigned char>(c);
    double value;
    std::memcpy(&value, &bits, sizeof value);
    push(make_value(PyValue::floating(value)));
  }

  void push_text(std::uint64_t n, PyValue::Kind kind) {
    std::string text(read_bytes(n));
    push(make_value(kind == PyValue::Kind::String ? PyValue::string(std::move(text))
                                                  : PyValue::bytes(std::move(text))));
  }

  Object& list_target() {
    Object& object = *top();
    if (object.type != Object::Type::List)
      fail(std::string("cannot unpickle: cannot append to a ") + type_name(object));
    return object;
  }

  Object& dict_target() {
    Object& object = *top();
    if (object.type != Object::Type::Dict)
      fail(std::string("cannot unpickle: cannot set items of a ") + type_name(object));
    return object;
  }

  void set_items(Object& dict, std::vector<Ref> items) {
    if (items.size() % 2 != 0) fail("cannot unpickle: odd number of dict items");
    for (std::size_t i = 0; i < items.size(); i += 2)
      dict.entries.emplace_back(std::move(items[i]), std::move(items[i + 1]));
  }

  // ---- globals and calls -----------------------------------------------------------

  Ref make_global(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    const auto& table = allowed_globals();
    const auto it = table.find(full);
    if (it == table.end()) fail("cannot unpickle: disallowed global " + full);
    Ref object = make(Object::Type::Global);
    object->global = &it->second;
    return object;
  }

  Ref call(const Ref& callable_ref, const Ref& args_ref) {
    const Object& callable = expect(callable_ref, Object::Type::Global, "a callable global");
    const GlobalInfo& global = *callable.global;
    switch (global.id) {
      case GlobalId::OrderedDict: {
        expect_args(args_ref, 0, 0, global.name);
        Ref dict = make(Object::Type::Dict);
        dict->ordered = true;
        return dict;
      }
      case GlobalId::RebuildTensorV2:
        return rebuild_tensor(expect_args(args_ref, 6, 7, global.name));
      case GlobalId::RebuildParameter:
        return rebuild_parameter(expect_args(args_ref, 3, 3, global.name));
      case GlobalId::RebuildParameterWithState:
        return rebuild_parameter(expect_args(args_ref, 4, 4, global.name));
      case GlobalId::TorchSize: {
        const auto& args = expect_args(args_ref, 1, 1, global.name);
        const std::vector<std::int64_t> sizes = expect_shape(args[0], "torch.Size");
        std::vector<Ref> items;
        for (std::int64_t n : sizes) items.push_back(make_value(PyValue::integer(n)));
        return tuple_of(std::move(items));
      }
      case GlobalId::TorchDevice: {
        const auto& args = expect_args(args_ref, 1, 2, global.name);
        std::string device = expect_string(args[0], "a device type");
        if (args.size() == 2) device += ":" + std::to_string(expect_int(args[1], "a device index"));
        return make_value(PyValue::string(device));
      }
      case GlobalId::NumpyReconstruct: {
        const auto& args = expect_args(args_ref, 3, 3, global.name);
        const Object& cls = expect(args[0], Object::Type::Global, "numpy.ndarray");
        if (cls.global->id != GlobalId::NumpyNdarray)
          fail("cannot unpickle: cannot reconstruct a " + cls.global->name);
        return make(Object::Type::PendingArray);
      }
      case GlobalId::NumpyDtype: return make_dtype(expect_args(args_ref, 1, 3, global.name));
      case GlobalId::NumpyScalar: return numpy_scalar(expect_args(args_ref, 1, 2, global.name));
      case GlobalId::NumpyFrombuffer: {
        const auto& args = expect_args(args_ref, 4, 4, global.name);
        const std::string& order = expect_string(args[3], "an array order");
        return make_value(PyValue::array(numpy_array(
            expect_string(args[0], "a buffer"), expect_shape(args[2], "an array shape"),
            expect(args[1], Object::Type::Dtype, "a numpy dtype").dtype, order == "F")));
      }
      case GlobalId::CodecsEncode: return codecs_encode(expect_args(args_ref, 1, 2, global.name));
      case GlobalId::Bytes: {
        expect_args(args_ref, 0, 0, global.name);
        return make_value(PyValue::bytes(""));
      }
      case GlobalId::Storage:
      case GlobalId::NumpyNdarray: break;
    }
    fail("cannot unpickle: " + global.name + " cannot be called");
  }

  // _codecs.encode(text, 'latin1'): how protocol 2 spells bytes (numpy array data).
  Ref codecs_encode(const std::vector<Ref>& args) {
    const std::string& text = expect_value(args[0], PyValue::Kind::String, "a str").as_string();
    std::string encoding = args.size() > 1 ? expect_string(args[1], "an encoding") : "utf-8";
    std::transform(encoding.begin(), encoding.end(), encoding.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (encoding == "utf-8" || encoding == "utf8") return make_value(PyValue::bytes(text));
    if (encoding != "latin1" && encoding != "latin-1" && encoding != "iso-8859-1")
      fail("cannot unpickle: unsupported encoding " + encoding);
    std::vector<std::uint32_t> code_points;
    if (!decode_utf8(text, code_points)) fail("cannot unpickle: malformed UTF-8 in str");
    std::string bytes;
    bytes.reserve(code_points.size());
    for (std::uint32_t c : code_points) {
      if (c > 0xFF) fail("cannot unpickle: character outside latin1 in encoded bytes");
      bytes.push_back(static_cast<char>(c));
    }
    return make_value(PyValue::bytes(std::move(bytes)));
  }

  // ---- torch -----------------------------------------------------------------------

  // ('storage', storage class, key, location, numel); any location loads on the CPU.
  Ref persistent_load(const Ref& pid_ref) {
    const Object& pid = expect(pid_ref, Object::Type::Tuple, "a persistent id tuple");
    if (pid.items.size() != 5 || expect_string(pid.items[0], "'storage'") != "storage")
      fail("cannot unpickle: unsupported persistent id (expected a torch storage)");
    const Object& cls = expect(pid.items[1], Object::Type::Global, "a storage class");
    if (cls.global->id != GlobalId::Storage)
      fail("cannot unpickle: " + cls.global->name + " is not a storage class");
    const std::string& key = expect_string(pid.items[2], "a storage key");
    expect_string(pid.items[3], "a storage location");
    const std::int64_t numel = expect_int(pid.items[4], "a storage size");
    const at::ScalarType type = cls.global->scalar_type;

    Ref storage = make(Object::Type::Storage);
    const auto cached = storages_.find(key);
    if (cached != storages_.end()) {
      if (cached->second.scalar_type() != type)
        fail("cannot unpickle: storage " + key + " is used with two element types");
      storage->storage = cached->second;
      return storage;
    }
    if (!context_.read_storage)
      fail("cannot unpickle: the pickle references torch storage " + key +
           " but no storage reader was given");
    const std::int64_t item = static_cast<std::int64_t>(c10::elementSize(type));
    std::int64_t nbytes = 0;
    if (numel < 0 || __builtin_mul_overflow(numel, item, &nbytes))
      fail("cannot unpickle: invalid storage size " + std::to_string(numel));
    const std::string bytes = context_.read_storage(key);
    if (static_cast<std::uint64_t>(bytes.size()) != static_cast<std::uint64_t>(nbytes))
      fail("cannot unpickle: storage " + key + " has " + std::to_string(bytes.size()) +
           " bytes, expected " + std::to_string(nbytes));
    at::Tensor data = at::empty({numel}, at::TensorOptions().dtype(type));
    if (nbytes > 0) std::memcpy(data.data_ptr(), bytes.data(), bytes.size());
    storages_.emplace(key, data);
    storage->storage = std::move(data);
    return storage;
  }

  // _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]):
  // a strided view of the storage, so tensors that share it share memory.
  Ref rebuild_tensor(const std::vector<Ref>& args) {
    const at::Tensor& storage = expect(args[0], Object::Type::Storage, "a torch storage").storage;
    const std::int64_t offset = expect_int(args[1], "a storage offset");
    const std::vector<std::int64_t> sizes = expect_shape(args[2], "a tensor size");
    const std::vector<std::int64_t> strides = expect_shape(args[3], "a tensor stride");
    const bool requires_grad = expect_bool(args[4], "requires_grad");
    if (sizes.size() != strides.size())
      fail("cannot unpickle: tensor size and stride have different lengths");
    if (offset < 0) fail("cannot unpickle: negative storage offset");

    // The last element reached must lie inside the storage.
    std::int64_t last = offset;
    bool empty = false;
    for (std::size_t d = 0; d < sizes.size(); ++d) {
      if (sizes[d] == 0) empty = true;
      std::int64_t step = 0;
      if (sizes[d] > 0 && (__builtin_mul_overflow(sizes[d] - 1, strides[d], &step) ||
                           __builtin_add_overflow(last, step, &last)))
        fail("cannot unpickle: tensor extent overflows");
    }
    const std::int64_t numel = storage.numel();
    if (empty ? offset > numel : last >= numel)
      fail("cannot unpickle: tensor view (offset " + std::to_string(offset) +
           ") reaches beyond its storage of " + std::to_string(numel) + " elements");
    at::Tensor tensor = storage.as_strided(sizes, strides, offset);
    if (requires_grad) set_requires_grad(tensor);
    return make_value(PyValue::tensor(std::move(tensor)));
  }

  // _rebuild_parameter(data, requires_grad, hooks[, state]): a tensor; hooks and state are
  // Python-only.
  Ref rebuild_parameter(const std::vector<Ref>& args) {
    at::Tensor tensor = expect_value(args[0], PyValue::Kind::Tensor, "a tensor").tensor();
    if (expect_bool(args[1], "requires_grad")) set_requires_grad(tensor);
    return make_value(PyValue::tensor(std::move(tensor)));
  }

  void set_requires_grad(at::Tensor& tensor) const {
    if (!at::isFloatingType(tensor.scalar_type()))
      fail("cannot unpickle: requires_grad on a non-floating-point tensor");
    tensor.requires_grad_(true);
  }

  // ---- numpy -----------------------------------------------------------------------

  // numpy.dtype(descr, align, copy); BUILD then sets the byte order.
  Ref make_dtype(const std::vector<Ref>& args) {
    std::string descr = expect_string(args[0], "a dtype name");
    Ref dtype = make(Object::Type::Dtype);
    if (!descr.empty() && std::string("<>|=").find(descr[0]) != std::string::npos) {
      dtype->dtype.byteorder = descr[0];
      descr.erase(0, 1);
    }
    dtype->dtype.descr = std::move(descr);
    return dtype;
  }

  // (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
  void build_dtype(Object& dtype, const Ref& state_ref) {
    const Object& state = expect(state_ref, Object::Type::Tuple, "a dtype state tuple");
    if (state.items.size() < 2) fail("cannot unpickle: dtype state tuple is too short");
    const std::string& order = expect_string(state.items[1], "a byte order");
    if (order.size() != 1 || std::string("<>|=").find(order[0]) == std::string::npos)
      fail("cannot unpickle: invalid byte order '" + order + "'");
    dtype.dtype.byteorder = order[0];
    for (std::size_t i = 2; i < 5 && i < state.items.size(); ++i) {
      const Object& part = resolve(state.items[i]);
      if (!(part.type == Object::Type::Value && part.value.is_none()))
        dtype.dtype.structured = true;
    }
  }

  // The bytes of an array (C or Fortran order, either byte order) as a C-contiguous tensor.
  at::Tensor numpy_array(std::string_view data, const std::vector<std::int64_t>& shape,
                         const NumpyDtype& dtype, bool fortran) const {
    const at::ScalarType type = numpy_scalar_type(dtype.descr);
    if (dtype.structured || type == at::ScalarType::Undefined)
      fail("cannot unpickle: unsupported numpy dtype '" + std::string(1, dtype.byteorder) +
           dtype.descr + "'");
    const std::int64_t count = element_count(shape);
    const auto item = static_cast<std::int64_t>(c10::elementSize(type));
    if (static_cast<std::uint64_t>(data.size()) / static_cast<std::uint64_t>(item) !=
            static_cast<std::uint64_t>(count) ||
        data.size() % static_cast<std::size_t>(item) != 0)
      fail("cannot unpickle: numpy array data has " + std::to_string(data.size()) +
           " bytes, expected " + std::to_string(count) + " elements of " + std::to_string(item));

    std::vector<std::int64_t> memory_shape = shape;
    if (fortran) std::reverse(memory_shape.begin(), memory_shape.end());
    const at::ScalarType memory_type = type == at::kBool ? at::kByte : type;
    at::Tensor tensor = at::empty(memory_shape, at::TensorOptions().dtype(memory_type));
    auto* out = static_cast<char*>(tensor.data_ptr());
    if (!data.empty()) std::memcpy(out, data.data(), data.size());
    if (dtype.byteorder == '>' && item > 1) {
      for (std::size_t i = 0; i < data.size(); i += static_cast<std::size_t>(item))
        std::reverse(out + i, out + i + item);
    }
    if (type == at::kBool) tensor = tensor.ne(0);
    if (fortran && shape.size() > 1) {
      std::vector<std::int64_t> reversed(shape.size());
      for (std::size_t d = 0; d < shape.size(); ++d)
        reversed[d] = static_cast<std::int64_t>(shape.size() - 1 - d);
      tensor = tensor.permute(reversed).contiguous();
    }
    return tensor;
  }

  // ndarray.__setstate__((version, shape, dtype, is_fortran, data)); version is optional.
  void build_array(Object& array, const Ref& state_ref) {
    const Object& state = expect(state_ref, Object::Type::Tuple, "an array state tuple");
    const std::size_t n = state.items.size();
    if (n != 4 && n != 5)
      fail("cannot unpickle: array state tuple has " + std::to_string(n) + " items");
    const std::size_t base = n - 4;
    const std::vector<std::int64_t> shape = expect_shape(state.items[base], "an array shape");
    const NumpyDtype& dtype =
        expect(state.items[base + 1], Object::Type::Dtype, "a numpy dtype").dtype;
    const bool fortran = expect_bool(state.items[base + 2], "is_fortran");
    const Ref& data = state.items[base + 3];

    if (is_object_dtype(dtype.descr)) {
      const Object& list = expect(data, Object::Type::List, "a list of array elements");
      if (static_cast<std::uint64_t>(list.items.size()) !=
          static_cast<std::uint64_t>(element_count(shape)))
        fail("cannot unpickle: object array has " + std::to_string(list.items.size()) +
             " elements, its shape needs " + std::to_string(element_count(shape)));
      if (shape.empty()) {
        // A 0-d object array stands for its single element (npz sampling_configs).
        array.type = Object::Type::Alias;
        array.target = list.items[0];
        return;
      }
      std::size_t next = 0;
      Ref nested = nest(list.items, shape, 0, next);
      array.type = Object::Type::List;
      array.items = std::move(nested->items);
      return;
    }
    array.type = Object::Type::Value;
    array.value =
        PyValue::array(numpy_array(expect_string(data, "array data"), shape, dtype, fortran));
  }

  // Elements in C order -> nested lists by shape.
  Ref nest(const std::vector<Ref>& flat, const std::vector<std::int64_t>& shape, std::size_t dim,
           std::size_t& next) {
    Ref list = make(Object::Type::List);
    for (std::int64_t i = 0; i < shape[dim]; ++i)
      list->items.push_back(dim + 1 == shape.size() ? flat[next++]
                                                    : nest(flat, shape, dim + 1, next));
    return list;
  }

  // numpy.core.multiarray.scalar(dtype, bytes): a numpy scalar becomes a plain number.
  Ref numpy_scalar(const std::vector<Ref>& args) {
    const NumpyDtype& dtype = expect(args[0], Object::Type::Dtype, "a numpy dtype").dtype;
    if (is_object_dtype(dtype.descr) && args.size() == 2) return args[1];
    if (args.size() != 2) fail("cannot unpickle: numpy scalar without data");
    const at::Tensor value = numpy_array(expect_string(args[1], "scalar data"), {}, dtype, false);
    if (value.scalar_type() == at::kBool) return make_value(PyValue::boolean(value.item<bool>()));
    if (at::isFloatingType(value.scalar_type()))
      return make_value(PyValue::floating(value.item<double>()));
    return make_value(PyValue::integer(value.item<std::int64_t>()));
  }

  void build(const Ref& target_ref, const Ref& state) {
    Object& target = *target_ref;
    switch (target.type) {
      case Object::Type::PendingArray: return build_array(target, state);
      case Object::Type::Dtype: return build_dtype(target, state);
      // An OrderedDict's attributes (a state dict's _metadata) and a Parameter's state are
      // Python-only.
      case Object::Type::Dict: return;
      case Object::Type::Value:
        if (target.value.kind() == PyValue::Kind::Tensor) return;
        break;
      default: break;
    }
    fail(std::string("cannot unpickle: cannot set the state of a ") + type_name(target));
  }

  // ---- the PyValue tree ------------------------------------------------------------

  PyValue convert(const Ref& ref, int depth) {
    if (depth > kMaxDepth)
      fail_at(ref->offset,
              "cannot unpickle: nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    const Object& object = *ref;
    if (object.type == Object::Type::Value) return object.value;
    if (object.type == Object::Type::Alias) return convert(object.target, depth + 1);
    const auto done = converted_.find(&object);
    if (done != converted_.end()) return done->second;
    if (!in_progress_.insert(&object).second)
      fail_at(object.offset, "cannot unpickle: recursive structure (an object contains itself)");

    PyValue value;
    switch (object.type) {
      case Object::Type::List:
      case Object::Type::Tuple: {
        PyValue::Items items;
        items.reserve(object.items.size());
        for (const Ref& item : object.items) items.push_back(convert(item, depth + 1));
        value = object.type == Object::Type::List ? PyValue::list(std::move(items))
                                                  : PyValue::tuple(std::move(items));
        break;
      }
      case Object::Type::Dict: value = convert_dict(object, depth); break;
      case Object::Type::PendingArray:
        fail_at(object.offset, "cannot unpickle: numpy array without state");
      default:
        fail_at(object.offset, std::string("cannot unpickle: a ") + type_name(object) +
                                   " cannot be represented as a value");
    }
    in_progress_.erase(&object);
    converted_.emplace(&object, value);
    return value;
  }

  // A key repeated in the stream replaces the earlier value in place, as in Python.
  PyValue convert_dict(const Object& object, int depth) {
    PyValue::DictItems items;
    items.reserve(object.entries.size());
    std::unordered_map<std::string, std::size_t> index;
    for (const auto& [key_ref, value_ref] : object.entries) {
      PyValue key = convert(key_ref, depth + 1);
      PyValue value = convert(value_ref, depth + 1);
      const std::string identity = scalar_identity(key);
      if (!identity.empty()) {
        const auto [it, inserted] = index.emplace(identity, items.size());
        if (!inserted) {
          items[it->second].second = std::move(value);
          continue;
        }
      }
      items.emplace_back(std::move(key), std::move(value));
    }
    return PyValue::dict(std::move(items), object.ordered);
  }

  // A string that equals another's iff the keys compare equal in Python (empty: no check).
  static std::string scalar_identity(const PyValue& key) {
    switch (key.kind()) {
      case PyValue::Kind::String: return "s" + key.as_string();
      case PyValue::Kind::Bytes: return "b" + key.as_string();
      case PyValue::Kind::None: return "n";
      case PyValue::Kind::Bool: return key.as_bool() ? "i1" : "i0";
      case PyValue::Kind::Int: return "i" + std::to_string(key.as_int());
      default: return "";
    }
  }

  // Python allows object graphs deeper than our stack: take them apart iteratively.
  void release_all() {
    std::vector<Ref> work;
    work.push_back(std::move(root_));
    for (Ref& ref : stack_) work.push_back(std::move(ref));
    for (auto& [index, ref] : memo_) work.push_back(std::move(ref));
    stack_.clear();
    memo_.clear();
    while (!work.empty()) {
      Ref ref = std::move(work.back());
      work.pop_back();
      if (!ref) continue;
      for (Ref& item : ref->items) work.push_back(std::move(item));
      for (auto& [key, value] : ref->entries) {
        work.push_back(std::move(key));
        work.push_back(std::move(value));
      }
      ref->items.clear();
      ref->entries.clear();
      if (ref->target) work.push_back(std::move(ref->target));
    }
  }

  std::string_view data_;
  const PickleContext& context_;
  std::size_t pos_ = 0;
  std::size_t op_start_ = 0;
  Ref root_;
  std::vector<Ref> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, Ref> memo_;
  std::map<std::string, at::Tensor> storages_;
  std::unordered_map<const Object*, PyValue> converted_;
  std::unordered_set<const Object*> in_progress_;
};

}  // namespace

PyValue unpickle(std::string_view bytes, const PickleContext& context) {
  Unpickler unpickler(bytes, context);
  return unpickler.run();
}

// =========================================================================================
// Writing

namespace {

struct NumpyDescr {
  const char* name;  // "f8"
  char byteorder;    // '<' or '|'
};

bool numpy_descr(at::ScalarType type, NumpyDescr& out) {
  switch (type) {
    case at::kHalf: out = {"f2", '<'}; return true;
    case at::kFloat: out = {"f4", '<'}; return true;
    case at::kDouble: out = {"f8", '<'}; return true;
    case at::kChar: out = {"i1", '|'}; return true;
    case at::kShort: out = {"i2", '<'}; return true;
    case at::kInt: out = {"i4", '<'}; return true;
    case at::kLong: out = {"i8", '<'}; return true;
    case at::kByte: out = {"u1", '|'}; return true;
    case at::kBool: out = {"b1", '|'}; return true;
    default: return false;
  }
}

const char* storage_class(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "FloatStorage";
    case at::kDouble: return "DoubleStorage";
    case at::kHalf: return "HalfStorage";
    case at::kBFloat16: return "BFloat16Storage";
    case at::kLong: return "LongStorage";
    case at::kInt: return "IntStorage";
    case at::kShort: return "ShortStorage";
    case at::kChar: return "CharStorage";
    case at::kByte: return "ByteStorage";
    case at::kBool: return "BoolStorage";
    default: return nullptr;
  }
}

bool valid_utf8(std::string_view text) {
  std::vector<std::uint32_t> ignored;
  return decode_utf8(text, ignored);
}

// Python pickles bytes in protocol 2 as _codecs.encode(<latin1 text>, 'latin1'): the text
// holds one code point per byte, written as UTF-8.
std::string latin1_to_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

class Pickler {
 public:
  explicit Pickler(const PickleWriteOptions& options) : options_(options) {
    if (options.protocol != 2 && options.protocol != 3)
      throw ArgumentError("cannot pickle: protocol " + std::to_string(options.protocol) +
                          " is not supported (use 2 or 3)");
  }

  std::string run(const PyValue& value) {
    out_ += '\x80';
    out_ += static_cast<char>(options_.protocol);
    if (options_.as_object_array) {
      write_object_array(value);
    } else {
      write(value, 0);
    }
    out_ += '.';
    return std::move(out_);
  }

 private:
  void op(char code) { out_ += code; }

  void put_uint(std::uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) out_ += static_cast<char>((value >> (8 * i)) & 0xFF);
  }

  void write(const PyValue& value, int depth) {
    if (depth > kMaxDepth)
      throw ArgumentError("cannot pickle value: nesting deeper than " + std::to_string(kMaxDepth) +
                          " levels (or a container that contains itself)");
    using Kind = PyValue::Kind;
    switch (value.kind()) {
      case Kind::None: return op('N');
      case Kind::Bool: return op(value.as_bool() ? '\x88' : '\x89');
      case Kind::Int: return write_int(value.as_int());
      case Kind::Float: return write_float(value.as_double());
      case Kind::String: return write_string(value.as_string());
      case Kind::Bytes: return write_bytes(value.as_string());
      case Kind::Tuple: return write_tuple(value.items(), depth);
      case Kind::List: return write_list(value.items(), depth);
      case Kind::Dict: return write_dict(value, depth);
      case Kind::Tensor: return write_tensor(value.tensor());
      case Kind::Array: return write_array(value.tensor(), depth);
    }
  }

  void write_int(std::int64_t v) {
    if (v >= 0 && v < 256) {
      op('K');
      put_uint(static_cast<std::uint64_t>(v), 1);
    } else if (v >= 0 && v < 65536) {
      op('M');
      put_uint(static_cast<std::uint64_t>(v), 2);
    } else if (v >= std::numeric_limits<std::int32_t>::min() &&
               v <= std::numeric_limits<std::int32_t>::max()) {
      op('J');
      put_uint(static_cast<std::uint32_t>(static_cast<std::int32_t>(v)), 4);
    } else {
      // LONG1: the shortest little-endian two's complement.
      std::string bytes;
      auto u = static_cast<std::uint64_t>(v);
      for (int i = 0; i < 8; ++i) bytes += static_cast<char>((u >> (8 * i)) & 0xFF);
      while (bytes.size() > 1) {
        const auto last = static_cast<unsigned char>(bytes.back());
        const auto prev = static_cast<unsigned char>(bytes[bytes.size() - 2]);
        if ((last == 0 && prev < 0x80) || (last == 0xFF && prev >= 0x80)) {
          bytes.pop_back();
        } else {
          break;
        }
      }
      op('\x8a');
      put_uint(bytes.size(), 1);
      out_ += bytes;
    }
  }

  void write_float(double v) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    op('G');
    for (int i = 7; i >= 0; --i) out_ += static_cast<char>((bits >> (8 * i)) & 0xFF);
  }

  void write_string(std::string_view text) {
    if (!valid_utf8(text)) throw ArgumentError("cannot pickle str: not valid UTF-8");
    if (text.size() > std::numeric_limits<std::uint32_t>::max())
      throw ArgumentError("cannot pickle str: longer than 4 GiB");
    op('X');
    put_uint(text.size(), 4);
    out_.append(text.data(), text.size());
  }

  void write_bytes(std::string_view bytes) {
    if (bytes.size() > std::numeric_limits<std::uint32_t>::max())
      throw ArgumentError("cannot pickle bytes: longer than 4 GiB");
    if (options_.protocol >= 3) {
      if (bytes.size() < 256) {
        op('C');
        put_uint(bytes.size(), 1);
      } else {
        op('B');
        put_uint(bytes.size(), 4);
      }
      out_.append(bytes.data(), bytes.size());
      return;
    }
    write_global("_codecs", "encode");
    write_string(latin1_to_utf8(bytes));
    write_string("latin1");
    op('\x86');  // TUPLE2
    op('R');
  }

  // Each global is written once and fetched from the memo afterwards.
  void write_global(const std::string& module, const std::string& name) {
    const std::string key = module + "\n" + name;
    const auto it = global_memo_.find(key);
    if (it != global_memo_.end()) {
      memo_get(it->second);
      return;
    }
    op('c');
    out_ += key + "\n";
    const std::uint32_t index = next_memo_++;
    global_memo_.emplace(key, index);
    if (index < 256) {
      op('q');
      put_uint(index, 1);
    } else {
      op('r');
      put_uint(index, 4);
    }
  }

  void memo_get(std::uint32_t index) {
    if (index < 256) {
      op('h');
      put_uint(index, 1);
    } else {
      op('j');
      put_uint(index, 4);
    }
  }

  void write_tuple(const PyValue::Items& items, int depth) {
    if (items.empty()) return op(')');
    if (items.size() > 3) op('(');
    for (const PyValue& item : items) write(item, depth + 1);
    static const char sized[] = {'\x85', '\x86', '\x87'};
    op(items.size() <= 3 ? sized[items.size() - 1] : 't');
  }

  void write_list(const PyValue::Items& items, int depth) {
    op(']');
    // APPENDS in batches of 1000, as Python does.
    for (std::size_t start = 0; start < items.size(); start += 1000) {
      const std::size_t end = std::min(items.size(), start + 1000);
      op('(');
      for (std::size_t i = start; i < end; ++i) write(items[i], depth + 1);
      op('e');
    }
  }

  void write_dict(const PyValue& dict, int depth) {
    if (dict.ordered()) {
      write_global("collections", "OrderedDict");
      op(')');
      op('R');
    } else {
      op('}');
    }
    const auto& items = dict.dict_items();
    for (std::size_t start = 0; start < items.size(); start += 1000) {
      const std::size_t end = std::min(items.size(), start + 1000);
      op('(');
      for (std::size_t i = start; i < end; ++i) {
        check_hashable(items[i].first);
        write(items[i].first, depth + 1);
        write(items[i].second, depth + 1);
      }
      op('u');
    }
  }

  static void check_hashable(const PyValue& key) {
    using Kind = PyValue::Kind;
    if (key.kind() == Kind::List || key.kind() == Kind::Dict || key.kind() == Kind::Array)
      throw ArgumentError(std::string("cannot pickle dict: a ") + key.kind_name() +
                          " key is not hashable in Python");
    if (key.kind() == Kind::Tuple) {
      for (const PyValue& item : key.items()) check_hashable(item);
    }
  }

  // torch._utils._rebuild_tensor_v2(('storage', torch.XStorage, key, 'cpu', numel), offset,
  // size, stride, requires_grad, OrderedDict()); storages are written once each.
  void write_tensor(const at::Tensor& input) {
    if (!input.defined()) return op('N');
    if (input.layout() != at::kStrided || input.is_quantized())
      throw ArgumentError("cannot pickle tensor: only dense strided tensors can be saved");
    const at::Tensor tensor = input.device().is_cpu() ? input : input.cpu();
    const char* cls = storage_class(tensor.scalar_type());
    if (!cls)
      throw ArgumentError(std::string("cannot pickle tensor: unsupported dtype ") +
                          c10::toString(tensor.scalar_type()));
    if (!options_.write_storage)
      throw ArgumentError("cannot pickle tensor: no storage writer (tensors need a torch file)");

    const c10::Storage& storage = tensor.storage();
    const auto item = static_cast<std::int64_t>(tensor.element_size());
    const auto numel = static_cast<std::int64_t>(storage.nbytes()) / item;
    const auto identity = std::make_pair(static_cast<const void*>(storage.unsafeGetStorageImpl()),
                                         static_cast<int>(tensor.scalar_type()));
    auto it = storage_keys_.find(identity);
    if (it == storage_keys_.end()) {
      const std::string key = std::to_string(storage_keys_.size());
      const auto* data = static_cast<const char*>(storage.data());
      options_.write_storage(key,
                             std::string(data, data ? static_cast<std::size_t>(numel * item) : 0));
      it = storage_keys_.emplace(identity, key).first;
    }

    write_global("torch._utils", "_rebuild_tensor_v2");
    op('(');
    op('(');
    write_string("storage");
    write_global("torch", cls);
    write_string(it->second);
    write_string("cpu");
    write_int(numel);
    op('t');
    op('Q');  // BINPERSID
    write_int(tensor.storage_offset());
    write_int_tuple(tensor.sizes());
    write_int_tuple(tensor.strides());
    op(tensor.requires_grad() ? '\x88' : '\x89');
    write_global("collections", "OrderedDict");
    op(')');
    op('R');
    op('t');
    op('R');
  }

  void write_int_tuple(at::IntArrayRef values) {
    PyValue::Items items;
    for (std::int64_t v : values) items.push_back(PyValue::integer(v));
    write_tuple(items, 0);
  }

  // numpy.dtype(name, False, True) with state (3, order, None, None, None, -1, -1, flags).
  void write_numpy_dtype(const std::string& name, char byteorder, int flags) {
    write_global("numpy", "dtype");
    write_string(name);
    op('\x89');
    op('\x88');
    op('\x87');
    op('R');
    op('(');
    write_int(3);
    write_string(std::string(1, byteorder));
    op('N');
    op('N');
    op('N');
    write_int(-1);
    write_int(-1);
    write_int(flags);
    op('t');
    op('b');
  }

  // numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b'), then BUILD with the
  // state; numpy's own spelling, which numpy 1.x and 2.x both read.
  void write_array_head() {
    write_global("numpy.core.multiarray", "_reconstruct");
    write_global("numpy", "ndarray");
    write_int(0);
    op('\x85');
    write_bytes("b");
    op('\x87');
    op('R');
  }

  void write_array(const at::Tensor& input, int depth) {
    const at::Tensor array = input.detach().cpu().contiguous();
    if (!options_.arrays_as_numpy) return write(nested_list(array), depth);
    NumpyDescr descr{};
    if (!numpy_descr(array.scalar_type(), descr))
      throw ArgumentError(std::string("cannot pickle ndarray: dtype ") +
                          c10::toString(array.scalar_type()) + " has no numpy equivalent");
    write_array_head();
    op('(');
    write_int(1);
    write_int_tuple(array.sizes());
    write_numpy_dtype(descr.name, descr.byteorder, 0);
    op('\x89');  // C order
    write_bytes(std::string_view(static_cast<const char*>(array.data_ptr()),
                                 static_cast<std::size_t>(array.numel() * array.element_size())));
    op('t');
    op('b');
  }

  // A 0-d object array holding `value` (np.load(allow_pickle=True) returns the array;
  // .item() or .tolist() gives the value).
  void write_object_array(const PyValue& value) {
    write_array_head();
    op('(');
    write_int(1);
    op(')');
    write_numpy_dtype("O8", '|', 63);
    op('\x89');
    op(']');
    write(value, 1);
    op('a');
    op('t');
    op('b');
  }

  // ndarray.tolist(): nested lists of Python numbers.
  static PyValue nested_list(const at::Tensor& array) {
    const auto type = array.scalar_type();
    const bool is_bool = type == at::kBool;
    const bool integral = at::isIntegralType(type, /*includeBool=*/false);
    const at::Tensor flat =
        (is_bool || integral ? array.to(at::kLong) : array.to(at::kDouble)).reshape({-1});
    auto element = [&](std::int64_t i) {
      if (is_bool) return PyValue::boolean(flat.data_ptr<std::int64_t>()[i] != 0);
      if (integral) return PyValue::integer(flat.data_ptr<std::int64_t>()[i]);
      return PyValue::floating(flat.data_ptr<double>()[i]);
    };
    if (array.dim() == 0) return element(0);
    const auto sizes = array.sizes().vec();
    std::int64_t next = 0;
    std::function<PyValue(std::size_t)> build = [&](std::size_t dim) {
      PyValue::Items items;
      for (std::int64_t i = 0; i < sizes[dim]; ++i)
        items.push_back(dim + 1 == sizes.size() ? element(next++) : build(dim + 1));
      return PyValue::list(std::move(items));
    };
    return build(0);
  }

  const PickleWriteOptions& options_;
  std::string out_;
  std::map<std::string, std::uint32_t> global_memo_;
  std::uint32_t next_memo_ = 0;
  std::map<std::pair<const void*, int>, std::string> storage_keys_;
};

}  // namespace

std::string pickle(const PyValue& value, const PickleWriteOptions& options) {
  Pickler pickler(options);
  return pickler.run(value);
}

}  // namespace brains::io
