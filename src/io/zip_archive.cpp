#include "brains/io/zip_archive.h"

#include <zip.h>

#include <cstdint>
#include <fstream>
#include <limits>
#include <system_error>

#include "brains/core/error.h"

namespace brains::io {

namespace {

// Deflate cannot expand data by more than ~1032:1; a larger claim means a corrupt header
// and would otherwise make us allocate whatever size the file names.
constexpr std::uint64_t kMaxDeflateRatio = 1032;

std::string libzip_message(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string message = zip_error_strerror(&error);
  zip_error_fini(&error);
  return message;
}

std::string entry_position(const std::string& name) { return "entry " + name; }

// MS-DOS date of 1980-01-01 00:00, what numpy (Python's zipfile) writes: the same arrays
// then give the same bytes.
constexpr zip_uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;
constexpr zip_uint16_t kDosTime = 0;

// The end-of-central-directory record alone: an archive with no entries. libzip deletes
// the file instead of writing an empty archive.
std::string empty_archive() {
  std::string eocd(22, '\0');
  eocd[0] = 'P';
  eocd[1] = 'K';
  eocd[2] = 5;
  eocd[3] = 6;
  return eocd;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// ZipReader

struct ZipReader::Handle {
  zip_t* archive = nullptr;
  ~Handle() {
    if (archive) zip_discard(archive);  // read-only: nothing to write back
  }
};

ZipReader::ZipReader(const std::filesystem::path& path) : path_(path) {
  // libzip opens an empty file as an empty archive; for us it is a failed or truncated write.
  std::error_code size_error;
  if (std::filesystem::is_regular_file(path, size_error) &&
      std::filesystem::file_size(path, size_error) == 0 && !size_error)
    throw FormatError(path.string(), "", "cannot open zip archive: file is empty");
  int code = ZIP_ER_OK;
  zip_t* archive = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
  if (!archive)
    throw FormatError(path.string(), "", "cannot open zip archive: " + libzip_message(code));
  handle_ = std::make_unique<Handle>();
  handle_->archive = archive;
}

ZipReader::~ZipReader() = default;
ZipReader::ZipReader(ZipReader&&) noexcept = default;
ZipReader& ZipReader::operator=(ZipReader&&) noexcept = default;

std::vector<std::string> ZipReader::entry_names() const {
  std::vector<std::string> names;
  if (!handle_) return names;
  const zip_int64_t count = zip_get_num_entries(handle_->archive, 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* name = zip_get_name(handle_->archive, static_cast<zip_uint64_t>(i), 0);
    if (!name)
      throw FormatError(path_.string(), "entry #" + std::to_string(i),
                        std::string("cannot read entry name: ") + zip_strerror(handle_->archive));
    names.emplace_back(name);
  }
  return names;
}

bool ZipReader::contains(const std::string& name) const {
  return handle_ && zip_name_locate(handle_->archive, name.c_str(), 0) >= 0;
}

std::string ZipReader::read(const std::string& name) const {
  const std::string file = path_.string();
  const std::string position = entry_position(name);
  if (!handle_) throw FormatError(file, position, "cannot read zip entry: archive moved from");
  zip_t* archive = handle_->archive;

  const zip_int64_t index = zip_name_locate(archive, name.c_str(), 0);
  if (index < 0) throw FormatError(file, position, "cannot read zip entry: no such entry");
  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_stat_index(archive, static_cast<zip_uint64_t>(index), 0, &stat) != 0)
    throw FormatError(file, position,
                      std::string("cannot read zip entry: ") + zip_strerror(archive));
  constexpr zip_uint64_t kNeeded = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
  if ((stat.valid & kNeeded) != kNeeded)
    throw FormatError(file, position, "cannot read zip entry: sizes unknown");
  const bool stored = stat.comp_method == ZIP_CM_STORE;
  if ((stored && stat.size != stat.comp_size) ||
      stat.size / kMaxDeflateRatio > stat.comp_size + 1 ||
      stat.size > std::numeric_limits<std::size_t>::max() / 2)
    throw FormatError(file, position,
                      "cannot read zip entry: size " + std::to_string(stat.size) +
                          " is inconsistent with compressed size " +
                          std::to_string(stat.comp_size));

  zip_file_t* entry = zip_fopen_index(archive, static_cast<zip_uint64_t>(index), 0);
  if (!entry)
    throw FormatError(file, position,
                      std::string("cannot open zip entry: ") + zip_strerror(archive));
  // Read up to EOF, not just stat.size bytes: libzip checks the CRC only when it sees the end.
  std::string data(static_cast<std::size_t>(stat.size) + 1, '\0');
  std::size_t total = 0;
  std::string failure;
  for (;;) {
    const zip_int64_t n = zip_fread(entry, data.data() + total, data.size() - total);
    if (n < 0) {
      failure = zip_file_strerror(entry);
      break;
    }
    if (n == 0) break;
    total += static_cast<std::size_t>(n);
    if (total == data.size()) {
      failure = "entry is longer than its header says";
      break;
    }
  }
  zip_fclose(entry);
  if (failure.empty() && total != stat.size)
    failure =
        "entry has " + std::to_string(total) + " bytes, header says " + std::to_string(stat.size);
  if (!failure.empty()) throw FormatError(file, position, "cannot read zip entry: " + failure);
  data.resize(total);
  return data;
}

// ---------------------------------------------------------------------------------------
// ZipWriter

ZipWriter::ZipWriter(std::filesystem::path path) : path_(std::move(path)) {}

// Entries live in memory until commit(), so an uncommitted writer leaves nothing on disk.
ZipWriter::~ZipWriter() = default;

void ZipWriter::add(const std::string& name, std::string data, bool compress) {
  if (committed_) throw ArgumentError("cannot add zip entry " + name + ": archive committed");
  for (const Entry& entry : entries_)
    if (entry.name == name)
      throw ArgumentError("cannot add zip entry " + name + ": duplicate name");
  entries_.push_back({name, std::move(data), compress});
}

namespace {

void write_archive(const std::filesystem::path& target, const std::vector<std::string>& names,
                   const std::vector<const std::string*>& data, const std::vector<bool>& compress) {
  const std::string file = target.string();
  if (names.empty()) {
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    const std::string eocd = empty_archive();
    out.write(eocd.data(), static_cast<std::streamsize>(eocd.size()));
    if (!out) throw Error("cannot write zip archive " + file + ": write failed");
    return;
  }
  int code = ZIP_ER_OK;
  zip_t* archive = zip_open(target.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  if (!archive) throw Error("cannot create zip archive " + file + ": " + libzip_message(code));
  auto fail = [&](const std::string& what) {
    const std::string message = zip_strerror(archive);
    zip_discard(archive);
    throw Error("cannot " + what + " in zip archive " + file + ": " + message);
  };
  for (std::size_t i = 0; i < names.size(); ++i) {
    // The source borrows the buffer (freep = 0); it outlives zip_close.
    zip_source_t* source = zip_source_buffer(archive, data[i]->data(), data[i]->size(), 0);
    if (!source) fail("buffer entry " + names[i]);
    const zip_int64_t index =
        zip_file_add(archive, names[i].c_str(), source, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE);
    if (index < 0) {
      zip_source_free(source);
      fail("add entry " + names[i]);
    }
    const auto at = static_cast<zip_uint64_t>(index);
    if (zip_set_file_compression(archive, at, compress[i] ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) !=
            0 ||
        zip_file_set_dostime(archive, at, kDosTime, kDosDate, 0) != 0)
      fail("configure entry " + names[i]);
  }
  if (zip_close(archive) != 0) fail("write entries");
}

}  // namespace

void ZipWriter::commit() {
  if (committed_) throw ArgumentError("cannot commit zip archive " + path_.string() + ": twice");
  std::filesystem::path temporary = path_;
  temporary += ".tmp";
  std::vector<std::string> names;
  std::vector<const std::string*> data;
  std::vector<bool> compress;
  for (const Entry& entry : entries_) {
    names.push_back(entry.name);
    data.push_back(&entry.data);
    compress.push_back(entry.compress);
  }
  try {
    write_archive(temporary, names, data, compress);
    std::filesystem::rename(temporary, path_);
  } catch (const std::filesystem::filesystem_error& error) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw Error("cannot write zip archive " + path_.string() + ": " + error.what());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw;
  }
  committed_ = true;
  entries_.clear();
}

}  // namespace brains::io
