#include "brains/io/npz.h"

#include "brains/core/error.h"
#include "brains/io/npy.h"
#include "brains/io/zip_archive.h"

namespace brains::io {

namespace {

constexpr std::string_view kSuffix = ".npy";

bool has_npy_suffix(const std::string& name) {
  return name.size() > kSuffix.size() &&
         name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0;
}

}  // namespace

NpzFile::NpzFile(std::filesystem::path path, NpzEntries entries)
    : path_(std::move(path)), entries_(std::move(entries)) {}

std::vector<std::string> NpzFile::names() const {
  std::vector<std::string> names;
  names.reserve(entries_.size());
  for (const auto& entry : entries_) names.push_back(entry.first);
  return names;
}

bool NpzFile::contains(std::string_view name) const {
  for (const auto& entry : entries_)
    if (entry.first == name) return true;
  return false;
}

const PyValue& NpzFile::get(std::string_view name) const {
  for (const auto& entry : entries_)
    if (entry.first == name) return entry.second;
  throw FormatError(path_.string(), "", "cannot find npz entry '" + std::string(name) + "'");
}

at::Tensor NpzFile::tensor(std::string_view name) const {
  const PyValue& value = get(name);
  if (!value.is_tensor_like())
    throw FormatError(
        path_.string(), "entry " + std::string(name) + std::string(kSuffix),
        std::string("cannot read npz entry: expected a numeric array, got ") + value.kind_name());
  return value.tensor();
}

NpzFile read_npz(const std::filesystem::path& path) {
  const ZipReader zip(path);
  NpzEntries entries;
  for (const std::string& member : zip.entry_names()) {
    const std::string bytes = zip.read(member);
    if (has_npy_suffix(member))
      entries.emplace_back(member.substr(0, member.size() - kSuffix.size()),
                           parse_npy_value(bytes, path.string(), member));
    else
      entries.emplace_back(member, PyValue::bytes(bytes));
  }
  return NpzFile(path, std::move(entries));
}

void write_npz(const std::filesystem::path& path, const NpzEntries& entries, bool compress) {
  ZipWriter zip(path);
  for (const auto& [name, value] : entries) {
    if (name.empty()) throw ArgumentError("cannot write npz entry: empty name");
    zip.add(name + std::string(kSuffix), npy_bytes(value), compress);
  }
  zip.commit();
}

void write_npz(const std::filesystem::path& path,
               const std::vector<std::pair<std::string, at::Tensor>>& arrays, bool compress) {
  NpzEntries entries;
  entries.reserve(arrays.size());
  for (const auto& [name, array] : arrays) entries.emplace_back(name, PyValue::array(array));
  write_npz(path, entries, compress);
}

}  // namespace brains::io
