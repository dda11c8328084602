// torch.save / torch.load files (the zip format of PyTorch >= 1.6): surrogate models
// (training_data.pt), state dicts and brains-py result pickles.
//
// Reading goes through the restricted unpickler (pickle.h), so a file can hold numpy arrays,
// None and any nesting of dicts, lists and tuples, but never runs code. Storages saved on a
// GPU (location "cuda:0") load on the CPU; tensors that shared a storage still do.
//
// Errors: a missing, truncated or corrupt file, a legacy (pre-1.6) or TorchScript file, or a
// pickle the restricted unpickler refuses raises brains::FormatError naming the file;
// save_torch_file raises brains::ArgumentError for a value that cannot be pickled and
// brains::Error when the file cannot be written.
#pragma once

#include <filesystem>

#include "brains/io/py_value.h"

namespace brains::io {

PyValue load_torch_file(const std::filesystem::path& path);

// Writes the layout of torch.save: "<stem>/data.pkl" (pickle protocol 2), "<stem>/data/<n>"
// (one per storage), "<stem>/byteorder" and "<stem>/version". The file is replaced atomically.
// Example: save_torch_file("training_data.pt", PyValue::dict({{PyValue::string("info"), info},
//          {PyValue::string("model_state_dict"), state}}));
void save_torch_file(const std::filesystem::path& path, const PyValue& value);

}  // namespace brains::io
