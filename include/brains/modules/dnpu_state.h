// Loading DNPU state saved by brains-cpp or by brains-py (a model's state dict with keys
// such as `dnpu.control_voltages`, `dnpu.raw_input_range`,
// `dnpu.processor.processor.model.raw_model.0.weight`).
//
// Raises: FormatError naming the origin and the key that is missing or does not match.
#pragma once

#include <string>

#include "brains/io/py_value.h"
#include "brains/modules/dnpu.h"

namespace brains::modules {

// Entries of `state_dict` whose key starts with `prefix`, with the prefix removed.
io::PyValue select_prefix(const io::PyValue& state_dict, const std::string& prefix);

// Restores indices, control voltages, input transform and the surrogate's weights from
// the entries under `prefix` ("dnpu." for brains-py's examples). Derived buffers that are
// present (ranges, control indices, scale, offset) must agree with what the DNPU derives.
void load_dnpu_state(DNPUImpl& dnpu, const io::PyValue& state_dict, const std::string& prefix,
                     const std::string& origin);

}  // namespace brains::modules
