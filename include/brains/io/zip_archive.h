// Minimal RAII access to zip archives through libzip: the container of .npz and .pt files.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace brains::io {

// Read-only view of a zip archive. Throws FormatError (file, entry) on a missing, truncated
// or corrupt archive.
class ZipReader {
 public:
  explicit ZipReader(const std::filesystem::path& path);
  ~ZipReader();
  ZipReader(ZipReader&&) noexcept;
  ZipReader& operator=(ZipReader&&) noexcept;
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  std::vector<std::string> entry_names() const;
  bool contains(const std::string& name) const;
  // Whole entry, decompressed and CRC-checked.
  std::string read(const std::string& name) const;

 private:
  struct Handle;
  std::filesystem::path path_;
  std::unique_ptr<Handle> handle_;
};

// Writes a zip archive atomically: entries go to "<path>.tmp", which replaces <path> on
// commit(). Without commit() (an exception on the way) the previous file is left untouched.
class ZipWriter {
 public:
  explicit ZipWriter(std::filesystem::path path);
  ~ZipWriter();
  ZipWriter(const ZipWriter&) = delete;
  ZipWriter& operator=(const ZipWriter&) = delete;

  // compress=true deflates the entry; otherwise it is stored.
  void add(const std::string& name, std::string data, bool compress = false);
  void commit();

 private:
  struct Entry {
    std::string name;
    std::string data;
    bool compress;
  };
  std::filesystem::path path_;
  std::vector<Entry> entries_;
  bool committed_ = false;
};

}  // namespace brains::io
