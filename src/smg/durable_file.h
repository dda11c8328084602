// Whole-file writes for the sampler's run directory, with the durability each file needs:
// data appended and fsync'ed per batch, state replaced atomically, directories synced once.
//
// Raises: Error naming the file and the system's reason.
#pragma once

#include <filesystem>
#include <string>

namespace brains::smg::detail {

enum class WriteMode { create, replace, append };  // create refuses an existing file

// Writes `text` as a new file, a replacement or an append; fsync'ed when `sync`.
void write_file(const std::filesystem::path& file, const std::string& text, WriteMode mode, bool sync);

// Writes "<file>.tmp", fsyncs it and renames it over `file`: readers see the old or the new
// contents, never a torn file. The directory is not synced (see sync_path).
void replace_file_synced(const std::filesystem::path& file, const std::string& text);

// fsync of a file, or of a directory to make new entries in it durable.
void sync_path(const std::filesystem::path& path, bool directory);

}  // namespace brains::smg::detail
