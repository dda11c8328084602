// State dicts in brains-py's naming, as PyValue ordered dicts of tensors, so they travel
// through .pt files in both directions.
//
// Raises: FormatError naming the origin file and the offending key (missing, unexpected
// or wrongly shaped entries).
#pragma once

#include <torch/nn/module.h>

#include <string>

#include "brains/io/py_value.h"

namespace brains::processors {

// Copies every parameter and buffer of `module` from `state_dict` (strict: no missing, no
// extra keys, shapes equal). A `module.` prefix (DataParallel) on every key is accepted.
// Buffers that are empty (an effect that is not set) take the stored shape; when absent they
// stay unset. A dict that names none of `module`'s entries but those of a direct child loads
// into that child (a file's raw_model.* dict into a SurrogateModel's network, as brains-py does).
void load_state_dict(torch::nn::Module& module, const io::PyValue& state_dict,
                     const std::string& origin);
// Parameters and non-empty buffers as an OrderedDict of detached CPU tensors.
io::PyValue state_dict_value(const torch::nn::Module& module);

}  // namespace brains::processors
