#include "durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "brains/core/error.h"

namespace brains::smg::detail {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const char* verb, const fs::path& file, int error) {
  throw Error(std::string("cannot ") + verb + " " + file.string() + ": " + std::strerror(error));
}

}  // namespace

void write_file(const fs::path& file, const std::string& text, WriteMode mode, bool sync) {
  const int flags = mode == WriteMode::create    ? (O_WRONLY | O_CREAT | O_EXCL)
                    : mode == WriteMode::replace ? (O_WRONLY | O_CREAT | O_TRUNC)
                                                 : (O_WRONLY | O_APPEND);
  const char* verb = mode == WriteMode::append ? "append to" : "write";
  const int fd = ::open(file.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) fail(verb, file, errno);
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      fail(verb, file, error);
    }
    done += static_cast<std::size_t>(n);
  }
  if (sync && ::fsync(fd) != 0) {
    const int error = errno;
    ::close(fd);
    fail("sync", file, error);
  }
  if (::close(fd) != 0) fail(verb, file, errno);
}

void replace_file_synced(const fs::path& file, const std::string& text) {
  const fs::path temporary = file.string() + ".tmp";
  write_file(temporary, text, WriteMode::replace, true);
  if (::rename(temporary.c_str(), file.c_str()) != 0) fail("write", file, errno);
}

void sync_path(const fs::path& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) fail("open", path, errno);
  const int result = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (result != 0) fail("sync", path, error);
}

}  // namespace brains::smg::detail
