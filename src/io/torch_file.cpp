#include "brains/io/torch_file.h"

#include <fstream>
#include <string>
#include <vector>

#include "brains/core/error.h"
#include "brains/io/pickle.h"
#include "brains/io/zip_archive.h"

namespace brains::io {

namespace {

// torch.save before 1.6 wrote a bare pickle stream starting with a pickled magic number.
void reject_legacy_format(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path.string(), "", "cannot open torch file: cannot read the file");
  char head[2] = {0, 0};
  in.read(head, 2);
  if (in.gcount() == 2 && head[0] == '\x80' && head[1] >= 2 && head[1] <= 5)
    throw FormatError(path.string(), "",
                      "cannot load torch file: legacy torch serialization (before torch 1.6) is "
                      "not supported; re-save it with a recent torch.save");
}

// The folder that holds data.pkl: torch names it after the file stem, or "archive".
std::string archive_prefix(const ZipReader& zip) {
  const std::vector<std::string> names = zip.entry_names();
  std::string prefix;
  bool found = false;
  for (const std::string& name : names) {
    const std::size_t slash = name.find('/');
    if (slash == std::string::npos || name.compare(slash, std::string::npos, "/data.pkl") != 0)
      continue;
    prefix = name.substr(0, slash);
    found = true;
    break;
  }
  if (!found)
    throw FormatError(zip.path().string(), "",
                      "cannot load torch file: no <folder>/data.pkl entry (not a torch.save file)");
  if (zip.contains(prefix + "/constants.pkl") || zip.contains(prefix + "/code/"))
    throw FormatError(zip.path().string(), "",
                      "cannot load torch file: TorchScript archives (torch.jit.save) are not "
                      "supported");
  return prefix;
}

void check_byte_order(const ZipReader& zip, const std::string& prefix) {
  const std::string name = prefix + "/byteorder";
  if (!zip.contains(name)) return;
  const std::string order = zip.read(name);
  if (order != "little")
    throw FormatError(zip.path().string(), "entry " + name,
                      "cannot load torch file: byte order '" + order + "' is not supported");
}

std::string archive_name(const std::filesystem::path& path) {
  const std::string stem = path.stem().string();
  return stem.empty() ? "archive" : stem;
}

}  // namespace

PyValue load_torch_file(const std::filesystem::path& path) {
  reject_legacy_format(path);
  const ZipReader zip(path);
  const std::string prefix = archive_prefix(zip);
  check_byte_order(zip, prefix);

  PickleContext context;
  context.file = path.string();
  context.entry = prefix + "/data.pkl";
  context.read_storage = [&](const std::string& key) {
    const std::string name = prefix + "/data/" + key;
    if (!zip.contains(name))
      throw FormatError(path.string(), "entry " + context.entry,
                        "cannot load tensor: storage entry " + name + " is missing");
    return zip.read(name);
  };
  return unpickle(zip.read(context.entry), context);
}

void save_torch_file(const std::filesystem::path& path, const PyValue& value) {
  const std::string prefix = archive_name(path);
  std::vector<std::pair<std::string, std::string>> storages;
  PickleWriteOptions options;
  options.protocol = 2;
  options.write_storage = [&](const std::string& key, std::string bytes) {
    storages.emplace_back(prefix + "/data/" + key, std::move(bytes));
  };
  std::string data = pickle(value, options);

  // The entry order of torch.save: data.pkl, byteorder, the storages, version.
  ZipWriter zip(path);
  zip.add(prefix + "/data.pkl", std::move(data));
  zip.add(prefix + "/byteorder", "little");
  for (auto& [name, bytes] : storages) zip.add(name, std::move(bytes));
  zip.add(prefix + "/version", "3\n");
  zip.commit();
}

}  // namespace brains::io
