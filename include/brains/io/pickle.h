// Python pickles as PyValue trees: a restricted unpickler for the pickles inside torch `.pt`
// files and numpy object arrays, and a writer whose output Python's torch.load / np.load read.
//
// The unpickler never executes anything: it understands the opcodes of protocols 2-5 that
// torch and numpy emit, and only these globals (as data constructors):
//   collections.OrderedDict; torch._utils._rebuild_tensor_v2, _rebuild_parameter(_with_state);
//   torch.<X>Storage (and torch.cuda.<X>Storage), torch.UntypedStorage; torch.Size, torch.device;
//   numpy.core.multiarray._reconstruct / .scalar (also numpy._core.*), numpy.ndarray,
//   numpy.dtype; _codecs.encode and builtins.bytes (bytes in protocol 2).
// numpy arrays of dtypes f2 f4 f8 i1 i2 i4 i8 u1 b1 (either byte order, C or Fortran order)
// become PyValue::array; object arrays become a List (nested by shape), and a 0-d object
// array becomes its element (the sampling_configs dict of npz files). Python sets and other
// objects are rejected.
//
// Errors: unpickle raises brains::FormatError(file, "byte N", ...) on any malformed,
// truncated or disallowed input (e.g. "disallowed global os.system"); pickle raises
// brains::ArgumentError for a value Python could not read back (e.g. a list as a dict key).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "brains/io/py_value.h"

namespace brains::io {

struct PickleContext {
  std::string file;   // names the source in errors
  std::string entry;  // the archive member holding the pickle, if any ("archive/data.pkl")
  // Raw little-endian bytes of the torch storage `key` (the zip member "<prefix>/data/<key>").
  // Called once per key: tensors naming the same key share memory. Without it, a pickle that
  // references a storage raises FormatError.
  std::function<std::string(const std::string& key)> read_storage;
};

// The value held by `bytes` (up to the STOP opcode).
PyValue unpickle(std::string_view bytes, const PickleContext& context = {});

struct PickleWriteOptions {
  // 2 (what torch.save writes; bytes go through _codecs.encode) or 3 (what np.save writes).
  int protocol = 2;
  // true: numpy arrays (Kind::Array) as numpy ndarrays; false: as nested lists (tolist()).
  bool arrays_as_numpy = true;
  // Wrap the value in a 0-d numpy object array: the payload of an npy '|O' member.
  bool as_object_array = false;
  // Receives each torch tensor storage once, as (key, raw little-endian bytes); keys are "0",
  // "1", ... in order of first use, and tensors that share a storage share its key.
  // Required when the value holds tensors (Kind::Tensor).
  std::function<void(const std::string& key, std::string bytes)> write_storage;
};

// A pickle of `value` (dicts with ordered() become collections.OrderedDict).
std::string pickle(const PyValue& value, const PickleWriteOptions& options = {});

}  // namespace brains::io
