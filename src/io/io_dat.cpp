#include "brains/io/io_dat.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>

#include "brains/core/error.h"

namespace brains::io {

namespace fs = std::filesystem;

namespace {

std::string system_reason(int error) { return std::strerror(error); }

std::string at_line(std::int64_t line) { return "line " + std::to_string(line); }

std::string plural(std::int64_t count, const char* noun) {
  return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

std::string describe_counts(std::int64_t inputs, std::int64_t outputs) {
  return plural(inputs, "input") + " + " + plural(outputs, "output");
}

// A read-only view of a whole file. mmap rather than read(): a real IO.dat is gigabytes and
// the parser only needs each page once; the appender only touches the first and last page.
class MappedFile {
 public:
  explicit MappedFile(const fs::path& file) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw FormatError(file.string(), "", "cannot open file: " + system_reason(errno));
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
      const int error = errno;
      ::close(fd);
      throw FormatError(file.string(), "", "cannot open file: " + system_reason(error));
    }
    if (!S_ISREG(info.st_mode)) {
      ::close(fd);
      throw FormatError(file.string(), "", "cannot open file: not a regular file");
    }
    size_ = static_cast<std::size_t>(info.st_size);
    if (size_ > 0) {
      void* data = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      const int error = errno;
      ::close(fd);
      if (data == MAP_FAILED)
        throw FormatError(file.string(), "", "cannot map file: " + system_reason(error));
      ::madvise(data, size_, MADV_SEQUENTIAL);
      data_ = static_cast<const char*>(data);
    } else {
      ::close(fd);
    }
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::string_view text() const noexcept { return {data_ != nullptr ? data_ : "", size_}; }

 private:
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

// A file descriptor opened for writing; close() reports errors, the destructor only closes.
class WriteFile {
 public:
  WriteFile(const fs::path& file, int flags, const char* verb) : file_(file), verb_(verb) {
    fd_ = ::open(file.c_str(), flags | O_CLOEXEC, 0644);
    if (fd_ < 0) fail(errno);
  }
  ~WriteFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  WriteFile(const WriteFile&) = delete;
  WriteFile& operator=(const WriteFile&) = delete;

  int fd() const noexcept { return fd_; }

  void write_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t written = ::write(fd_, bytes.data(), bytes.size());
      if (written < 0) {
        if (errno == EINTR) continue;
        fail(errno);
      }
      bytes.remove_prefix(static_cast<std::size_t>(written));
    }
  }
  void sync() {
    if (::fsync(fd_) != 0) fail(errno);
  }
  void close() {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail(errno);
  }
  [[noreturn]] void fail(int error) const {
    throw Error(std::string("cannot ") + verb_ + " " + file_.string() + ": " +
                system_reason(error));
  }

 private:
  fs::path file_;
  const char* verb_;
  int fd_ = -1;
};

// Makes a newly created directory entry durable, not just the file's contents.
void sync_parent_directory(const fs::path& file) {
  const fs::path dir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: the file itself is already synced
  ::fsync(fd);
  ::close(fd);
}

constexpr bool is_blank(char c) noexcept { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && (is_blank(text.front()) || text.front() == '\n')) text.remove_prefix(1);
  while (!text.empty() && (is_blank(text.back()) || text.back() == '\n')) text.remove_suffix(1);
  return text;
}

enum class ColumnKind { input, output };

// "Input 12" -> input, "Output 0" -> output; anything else is not a column name.
std::optional<ColumnKind> column_kind(std::string_view name) {
  ColumnKind kind;
  if (name.rfind("Input ", 0) == 0) {
    kind = ColumnKind::input;
    name.remove_prefix(6);
  } else if (name.rfind("Output ", 0) == 0) {
    kind = ColumnKind::output;
    name.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  if (name.empty()) return std::nullopt;
  for (char c : name)
    if (c < '0' || c > '9') return std::nullopt;
  return kind;
}

// The leading comment block and, within it, the column-name header.
struct Preamble {
  std::vector<std::string> names;
  std::int64_t header_line = 0;  // 0 when no header was found
  std::int64_t input_names = 0;
  std::int64_t output_names = 0;
  std::size_t data_offset = 0;  // first byte after the comment block
  std::int64_t data_line = 1;   // line number at data_offset
};

// Parses "# Input 0, ..., Output 0"; returns false when the comment is not a header.
bool parse_header(std::string_view comment, std::int64_t line, const fs::path& file,
                  Preamble& preamble) {
  std::vector<std::string> names;
  std::int64_t inputs = 0, outputs = 0;
  while (true) {
    const std::size_t comma = comment.find(',');
    const std::string_view name = trim(comment.substr(0, comma));
    const auto kind = column_kind(name);
    if (!kind) return false;
    if (*kind == ColumnKind::input) {
      if (outputs > 0)
        throw FormatError(file.string(), at_line(line),
                          "cannot read header: input column '" + std::string(name) +
                              "' follows an output column");
      ++inputs;
    } else {
      ++outputs;
    }
    names.emplace_back(name);
    if (comma == std::string_view::npos) break;
    comment.remove_prefix(comma + 1);
  }
  preamble.names = std::move(names);
  preamble.header_line = line;
  preamble.input_names = inputs;
  preamble.output_names = outputs;
  return true;
}

[[noreturn]] void throw_truncated(const fs::path& file, std::int64_t line) {
  throw FormatError(file.string(), at_line(line),
                    "cannot read row: the last line has no line end (interrupted write?); "
                    "truncate_partial_last_line() removes it");
}

Preamble scan_preamble(std::string_view text, const fs::path& file) {
  Preamble preamble;
  std::size_t pos = 0;
  std::int64_t line = 1;
  while (pos < text.size()) {
    const std::size_t end = text.find('\n', pos);
    const std::string_view content = trim(text.substr(pos, end - pos));
    if (!content.empty() && content.front() != '#') break;
    if (end == std::string_view::npos) {
      if (!content.empty()) throw_truncated(file, line);
      pos = text.size();
      break;
    }
    if (!content.empty() && preamble.header_line == 0)
      parse_header(content.substr(1), line, file, preamble);
    pos = end + 1;
    ++line;
  }
  preamble.data_offset = pos;
  preamble.data_line = line;
  return preamble;
}

void check_header_counts(const Preamble& preamble, std::int64_t inputs, std::int64_t outputs,
                         const fs::path& file, const char* action) {
  if (preamble.header_line == 0) return;
  if (preamble.input_names == inputs && preamble.output_names == outputs) return;
  throw FormatError(file.string(), at_line(preamble.header_line),
                    std::string("cannot ") + action + ": the header names " +
                        describe_counts(preamble.input_names, preamble.output_names) +
                        " columns, expected " + describe_counts(inputs, outputs));
}

// numpy's loadtxt accepts a leading '+', from_chars does not.
inline const char* skip_plus(const char* p, const char* end) noexcept {
  return (*p == '+' && p + 1 != end && !is_blank(p[1])) ? p + 1 : p;
}

// Parses one number ending at a blank or the line end; nullptr when it is not a number.
inline const char* parse_number(const char* p, const char* end, double& value) {
  const char* start = skip_plus(p, end);
  auto [next, error] = std::from_chars(start, end, value);
  if (error == std::errc::result_out_of_range) {
    // Over- and underflow give ±inf and ±0, as numpy does; strtod needs a terminated copy.
    const std::string token(start, next);
    value = std::strtod(token.c_str(), nullptr);
  } else if (error != std::errc()) {
    return nullptr;
  }
  if (next != end && !is_blank(*next)) return nullptr;
  return next;
}

// Explains why a row failed: the first non-numeric token or the wrong value count.
[[noreturn]] void throw_row_error(const fs::path& file, std::int64_t line, const char* begin,
                                  const char* end, std::int64_t inputs, std::int64_t outputs) {
  std::int64_t found = 0;
  const char* p = begin;
  while (true) {
    while (p != end && is_blank(*p)) ++p;
    if (p == end) break;
    const char* token_end = p;
    while (token_end != end && !is_blank(*token_end)) ++token_end;
    double ignored;
    if (parse_number(p, token_end, ignored) != token_end) {
      std::string token(p, std::min<std::size_t>(token_end - p, 40));
      throw FormatError(
          file.string(), at_line(line),
          "cannot parse '" + token + "' as a number (column " + std::to_string(found + 1) + ")");
    }
    ++found;
    p = token_end;
  }
  throw FormatError(file.string(), at_line(line),
                    "cannot read row: expected " + std::to_string(inputs + outputs) + " values (" +
                        describe_counts(inputs, outputs) + "), found " + std::to_string(found));
}

std::size_t count_line_ends(std::string_view text) {
  std::size_t count = 0;
  const char* p = text.data();
  const char* end = p + text.size();
  while ((p = static_cast<const char*>(std::memchr(p, '\n', end - p))) != nullptr) {
    ++count;
    ++p;
  }
  return count;
}

IoData parse_rows(std::string_view text, const Preamble& preamble, std::int64_t inputs,
                  std::int64_t outputs, const fs::path& file) {
  const std::string_view data = text.substr(preamble.data_offset);
  // Every row ends with '\n' (a last line without one is an error), so this bounds N.
  const auto capacity = static_cast<std::int64_t>(count_line_ends(data));
  at::Tensor in = at::empty({capacity, inputs}, at::kDouble);
  at::Tensor out = at::empty({capacity, outputs}, at::kDouble);
  double* in_row = in.data_ptr<double>();
  double* out_row = out.data_ptr<double>();

  const char* p = data.data();
  const char* const end = p + data.size();
  std::int64_t line = preamble.data_line;
  std::int64_t rows = 0;
  while (p != end) {
    const char* line_end = static_cast<const char*>(std::memchr(p, '\n', end - p));
    if (line_end == nullptr) {
      while (p != end && is_blank(*p)) ++p;
      if (p != end) throw_truncated(file, line);
      break;
    }
    const char* q = p;
    while (q != line_end && is_blank(*q)) ++q;
    if (q != line_end) {  // blank lines are skipped, as numpy does
      bool ok = true;
      for (std::int64_t c = 0; ok && c < inputs + outputs; ++c) {
        while (q != line_end && is_blank(*q)) ++q;
        double& slot = c < inputs ? in_row[c] : out_row[c - inputs];
        q = q != line_end ? parse_number(q, line_end, slot) : nullptr;
        ok = q != nullptr;
      }
      if (ok)
        while (q != line_end && is_blank(*q)) ++q;
      if (!ok || q != line_end) throw_row_error(file, line, p, line_end, inputs, outputs);
      in_row += inputs;
      out_row += outputs;
      ++rows;
    }
    p = line_end + 1;
    ++line;
  }
  if (rows < capacity) {
    in = in.narrow(0, 0, rows);
    out = out.narrow(0, 0, rows);
  }
  return IoData{std::move(in), std::move(out), preamble.names};
}

void check_counts(std::int64_t inputs, std::int64_t outputs) {
  if (inputs < 0 || outputs < 0 || inputs + outputs == 0)
    throw ArgumentError("cannot read IO.dat: invalid column counts " + std::to_string(inputs) +
                        " inputs and " + std::to_string(outputs) + " outputs");
}

// %.18e exactly as Python formats it for numpy.savetxt (to_chars is correctly rounded like
// printf; NaN has no sign in Python).
inline void append_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "nan";
    return;
  }
  if (std::isinf(value)) {
    out += value < 0 ? "-inf" : "inf";
    return;
  }
  char buffer[40];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific, 18);
  out.append(buffer, result.ptr);
}

at::Tensor as_cpu_double_matrix(const at::Tensor& tensor, const char* name) {
  if (!tensor.defined() || tensor.dim() != 2)
    throw ArgumentError(std::string("cannot format IO.dat rows: ") + name +
                        " must be a 2-D tensor (samples, columns)" +
                        (tensor.defined() ? ", got " + std::to_string(tensor.dim()) + "-D"
                                          : ", got an undefined tensor"));
  return tensor.to(at::kCPU, at::kDouble).contiguous();
}

}  // namespace

IoData read_io_dat(const fs::path& file, std::int64_t input_count, std::int64_t output_count) {
  check_counts(input_count, output_count);
  const MappedFile mapped(file);
  const Preamble preamble = scan_preamble(mapped.text(), file);
  check_header_counts(preamble, input_count, output_count, file, "read IO.dat");
  return parse_rows(mapped.text(), preamble, input_count, output_count, file);
}

IoData read_io_dat(const fs::path& file) {
  const MappedFile mapped(file);
  const Preamble preamble = scan_preamble(mapped.text(), file);
  if (preamble.header_line == 0)
    throw FormatError(file.string(), "",
                      "cannot infer column counts: no '# Input 0, ..., Output 0' header line");
  return parse_rows(mapped.text(), preamble, preamble.input_names, preamble.output_names, file);
}

std::string io_dat_column_names(std::int64_t input_count, std::int64_t output_count) {
  std::string names;
  for (std::int64_t i = 0; i < input_count; ++i)
    names += (names.empty() ? "Input " : ", Input ") + std::to_string(i);
  for (std::int64_t i = 0; i < output_count; ++i)
    names += (names.empty() ? "Output " : ", Output ") + std::to_string(i);
  return names;
}

std::string io_dat_header(std::int64_t input_count, std::int64_t output_count) {
  return "# " + io_dat_column_names(input_count, output_count) + "\n";
}

void write_io_dat_header(const fs::path& file, std::int64_t input_count,
                         std::int64_t output_count) {
  check_counts(input_count, output_count);
  WriteFile out(file, O_WRONLY | O_CREAT | O_EXCL, "create");
  out.write_all(io_dat_header(input_count, output_count));
  out.sync();
  out.close();
  sync_parent_directory(file);
}

std::string format_io_dat_rows(const at::Tensor& inputs, const at::Tensor& outputs) {
  const at::Tensor in = as_cpu_double_matrix(inputs, "inputs");
  const at::Tensor out = as_cpu_double_matrix(outputs, "outputs");
  const std::int64_t rows = in.size(0);
  if (out.size(0) != rows)
    throw ArgumentError("cannot format IO.dat rows: inputs have " + std::to_string(rows) +
                        " rows, outputs " + std::to_string(out.size(0)));
  const std::int64_t d = in.size(1), r = out.size(1);
  const double* in_row = in.data_ptr<double>();
  const double* out_row = out.data_ptr<double>();
  std::string text;
  text.reserve(static_cast<std::size_t>(rows * (d + r) * 26));
  for (std::int64_t row = 0; row < rows; ++row, in_row += d, out_row += r) {
    for (std::int64_t c = 0; c < d + r; ++c) {
      if (c > 0) text += ' ';
      append_value(text, c < d ? in_row[c] : out_row[c - d]);
    }
    text += '\n';
  }
  return text;
}

void append_io_dat_rows(const fs::path& file, const at::Tensor& inputs, const at::Tensor& outputs) {
  const std::string rows = format_io_dat_rows(inputs, outputs);
  {
    const MappedFile mapped(file);
    const std::string_view text = mapped.text();
    if (!text.empty() && text.back() != '\n')
      throw FormatError(file.string(), "",
                        "cannot append rows: the last line has no line end (interrupted "
                        "write?); truncate_partial_last_line() removes it");
    check_header_counts(scan_preamble(text, file), inputs.size(1), outputs.size(1), file,
                        "append rows");
  }
  WriteFile out(file, O_WRONLY | O_APPEND, "append to");
  out.write_all(rows);
  out.sync();
  out.close();
}

std::uint64_t truncate_partial_last_line(const fs::path& file) {
  std::size_t size = 0, keep = 0;
  {
    const MappedFile mapped(file);
    const std::string_view text = mapped.text();
    size = text.size();
    const std::size_t last = text.rfind('\n');
    keep = last == std::string_view::npos ? 0 : last + 1;
  }
  if (keep == size) return 0;
  WriteFile out(file, O_WRONLY, "truncate");
  if (::ftruncate(out.fd(), static_cast<off_t>(keep)) != 0) out.fail(errno);
  out.sync();
  out.close();
  return size - keep;
}

}  // namespace brains::io
