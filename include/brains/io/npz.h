// NumPy .npz archives: a zip of .npy members, read whole into memory.
//
// Numeric members become PyValue::array(tensor); object members ('|O', such as the
// sampling_configs dict of brainspy-smg files) become the unpickled value. Members not named
// "*.npy" are kept as PyValue::bytes, as numpy does.
//
// Errors: a missing, truncated or corrupt archive, or a member that is not a readable array,
// raises brains::FormatError (file, entry); a missing name in get() too, since the file lacks
// what the caller needs. Writing raises brains::ArgumentError for bad names or dtypes and
// brains::Error when the file cannot be written.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "brains/io/py_value.h"

namespace brains::io {

using NpzEntries = std::vector<std::pair<std::string, PyValue>>;

class NpzFile {
 public:
  NpzFile() = default;
  NpzFile(std::filesystem::path path, NpzEntries entries);

  const std::filesystem::path& path() const noexcept { return path_; }
  // Names without the ".npy" suffix, in archive order.
  const NpzEntries& entries() const noexcept { return entries_; }
  std::vector<std::string> names() const;
  bool contains(std::string_view name) const;
  const PyValue& get(std::string_view name) const;
  // A numeric member; FormatError when it is missing or holds an object.
  at::Tensor tensor(std::string_view name) const;

 private:
  std::filesystem::path path_;
  NpzEntries entries_;
};

NpzFile read_npz(const std::filesystem::path& path);

// Each entry becomes "<name>.npy": tensors and arrays as numeric arrays, any other value
// (e.g. a dict) as a 0-d object array, which numpy reads with allow_pickle=True. The file is
// replaced atomically; compress=true deflates the members (np.savez_compressed).
void write_npz(const std::filesystem::path& path, const NpzEntries& entries, bool compress = false);
void write_npz(const std::filesystem::path& path,
               const std::vector<std::pair<std::string, at::Tensor>>& arrays,
               bool compress = false);

}  // namespace brains::io
