// NumPy .npy arrays (format versions 1.0, 2.0 and 3.0) as CPU tensors.
//
// Numeric dtypes read: '<f2' '<f4' '<f8', '|i1' '<i2' '<i4' '<i8', '|u1', '|b1', in either
// byte order ('>' is swapped on read). Fortran-order files come back C-contiguous with the
// same values. An object array ('|O') holds a pickle; the *_value functions return it
// unpickled (a 0-d object array gives its single element, e.g. the sampling_configs dict).
//
// Errors: every malformed or unsupported input raises brains::FormatError naming the file
// (and the npz entry, if any); a tensor that cannot be written raises brains::ArgumentError;
// a file that cannot be written raises brains::Error.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "brains/io/py_value.h"

namespace brains::io {

// The header of an .npy file, as written ("descr" is the numpy dtype string).
struct NpyHeader {
  int major_version = 1;
  std::string descr;  // e.g. "<f8", "|O"; the raw text for structured dtypes
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
  std::size_t data_offset = 0;  // bytes from the start of the file to the data
};

// `file` names the source in errors; `entry` is the npz member, empty for a plain file.
NpyHeader parse_npy_header(std::string_view bytes, const std::string& file,
                           const std::string& entry = "");

// A numeric array; an object array raises FormatError (use parse_npy_value).
at::Tensor parse_npy(std::string_view bytes, const std::string& file,
                     const std::string& entry = "");
at::Tensor read_npy(const std::filesystem::path& path);

// Numeric arrays as PyValue::array(tensor); object arrays unpickled.
PyValue parse_npy_value(std::string_view bytes, const std::string& file,
                        const std::string& entry = "");
PyValue read_npy_value(const std::filesystem::path& path);

// The bytes of an .npy file holding `array` (moved to the CPU, written in C order).
// Supported dtypes: float16/32/64, int8/16/32/64, uint8, bool.
std::string npy_bytes(const at::Tensor& array);
// A Tensor or Array value as a numeric array; anything else (a dict, a list, ...) as a 0-d
// object array holding the value, which numpy reads with allow_pickle=True.
std::string npy_bytes(const PyValue& value);

// Write atomically (through "<path>.tmp").
void write_npy(const std::filesystem::path& path, const at::Tensor& array);
void write_npy(const std::filesystem::path& path, const PyValue& value);

}  // namespace brains::io
