// IO.dat: the sampler's text data (brainspy-smg spec §4.1). One "# Input 0, ..., Output 0"
// header line, then one row per sample: the activation inputs (V), then the outputs (nA),
// each "%.18e", separated by single spaces. Rows are appended batch by batch while a device is
// measured, so appends are fsync'ed and a row cut short by a crash is detected, not misread.
//
// Raises: FormatError (file, "line N") for an unreadable or malformed file, ArgumentError for
// bad arguments, Error for a failed write.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace brains::io {

struct IoData {
  at::Tensor inputs;                // (N, D) float64, volts
  at::Tensor outputs;               // (N, r) float64, nA
  std::vector<std::string> header;  // column names from the header line; empty without one
};

// Reads an IO.dat with D = input_count and r = output_count columns. Leading '#' lines are
// comments; the one that lists "Input k"/"Output k" names is the header and must agree with
// the counts. Every row must hold D + r numbers. A header without rows gives N = 0.
// Accepts "\n" and "\r\n" line ends and extra spaces or tabs between and after values.
// A last line without a line end is an interrupted write and raises FormatError.
IoData read_io_dat(const std::filesystem::path& file, std::int64_t input_count,
                   std::int64_t output_count);

// The same, with D and r counted from the header's "Input k" and "Output k" names
// (FormatError when the file has no such header).
IoData read_io_dat(const std::filesystem::path& file);

// "Input 0, ..., Input {D-1}, Output 0, ..., Output {r-1}" (upstream get_header).
std::string io_dat_column_names(std::int64_t input_count, std::int64_t output_count);

// The header line as numpy's savetxt writes it: "# " + io_dat_column_names(D, r) + "\n".
std::string io_dat_header(std::int64_t input_count, std::int64_t output_count);

// Creates a new IO.dat holding only the header. Refuses to replace an existing file, so
// measured data is never overwritten. The file is fsync'ed before returning.
void write_io_dat_header(const std::filesystem::path& file, std::int64_t input_count,
                         std::int64_t output_count);

// Appends one row per sample, inputs (N, D) then outputs (N, r), formatted byte for byte as
// numpy's savetxt("%.18e"), and fsyncs. Checks D and r against the file's header and refuses
// to append after a partial last line (call truncate_partial_last_line first).
void append_io_dat_rows(const std::filesystem::path& file, const at::Tensor& inputs,
                        const at::Tensor& outputs);

// Formats rows exactly as append_io_dat_rows writes them (no file access).
std::string format_io_dat_rows(const at::Tensor& inputs, const at::Tensor& outputs);

// Cuts a trailing line that has no line end (left by an interrupted append), so sampling can
// resume. Returns the number of bytes removed (0 when the file ends with a line end).
std::uint64_t truncate_partial_last_line(const std::filesystem::path& file);

}  // namespace brains::io
