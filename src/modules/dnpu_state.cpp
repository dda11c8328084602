#include "brains/modules/dnpu_state.h"

#include <ATen/ATen.h>

#include "brains/core/error.h"
#include "brains/processors/state_dict.h"

namespace brains::modules {

namespace {

const at::Tensor* find_tensor(const io::PyValue& state, const std::string& key) {
  const io::PyValue* value = state.find(key);
  return value && value->is_tensor_like() ? &value->tensor() : nullptr;
}

// A derived buffer stored in the file must agree with the DNPU's own (brains-py stores
// the unique scale/offset as a single value, hence the broadcast).
void check_agrees(const io::PyValue& state, const std::string& key, const at::Tensor& derived,
                  const std::string& origin) {
  const at::Tensor* stored = find_tensor(state, key);
  if (!stored || stored->numel() == 0) return;
  bool same = false;
  try {
    same = at::allclose(stored->to(at::kDouble).expand_as(derived), derived.to(at::kDouble), 1e-5, 1e-6);
  } catch (const c10::Error&) {
    same = false;
  }
  if (!same)
    throw FormatError(origin, "key " + key,
                      "cannot load DNPU state: stored value does not match the DNPU's "
                      "(different device, surrogate or indices?)");
}

}  // namespace

io::PyValue select_prefix(const io::PyValue& state_dict, const std::string& prefix) {
  io::PyValue selected = io::PyValue::dict({}, /*ordered=*/true);
  for (const auto& [key, value] : state_dict.dict_items()) {
    if (key.kind() != io::PyValue::Kind::String) continue;
    const std::string& name = key.as_string();
    if (name.compare(0, prefix.size(), prefix) == 0)
      selected.dict_items().emplace_back(io::PyValue::string(name.substr(prefix.size())), value);
  }
  return selected;
}

void load_dnpu_state(DNPUImpl& dnpu, const io::PyValue& state_dict, const std::string& prefix,
                     const std::string& origin) {
  if (!state_dict.is_dict())
    throw FormatError(origin, "", "cannot load DNPU state: expected a state dict");
  const io::PyValue state = select_prefix(state_dict, prefix);
  const auto require = [&](const std::string& key) -> const at::Tensor& {
    const at::Tensor* tensor = find_tensor(state, key);
    if (!tensor) throw FormatError(origin, "key " + prefix + key, "cannot load DNPU state: missing");
    return *tensor;
  };
  const bool same_indices = at::equal(require("data_input_indices").to(at::kLong), dnpu.data_input_indices());
  if (!same_indices)
    throw FormatError(origin, "key " + prefix + "data_input_indices",
                      "cannot load DNPU state: the file's data-input electrodes differ from the "
                      "DNPU's; build the DNPU with the same data_input_indices");
  processors::load_state_dict(*dnpu.processor(), select_prefix(state, "processor."), origin);
  const at::Tensor& voltages = require("control_voltages");
  try {
    dnpu.set_control_voltages(voltages.to(dnpu.control_voltages_parameter().scalar_type()));
  } catch (const ArgumentError& e) {
    throw FormatError(origin, "key " + prefix + "control_voltages", e.what());
  }
  check_agrees(state, "data_input_ranges", dnpu.data_input_ranges(), origin);
  check_agrees(state, "control_ranges", dnpu.control_ranges(), origin);
  check_agrees(state, "control_indices", dnpu.control_indices(), origin);

  const at::Tensor* range = find_tensor(state, "raw_input_range");
  if (range && range->numel() > 0) {
    const at::Tensor* clip = find_tensor(state, "input_clip");
    // brains-py does not save strictness; its default is strict.
    const bool strict = clip ? clip->item<bool>() : true;
    dnpu.add_input_transform(*range, strict);
    const at::Tensor scale = dnpu.named_buffers(false)["scale"];
    const at::Tensor offset = dnpu.named_buffers(false)["offset"];
    check_agrees(state, "scale", scale, origin);
    check_agrees(state, "offset", offset, origin);
  } else {
    dnpu.remove_input_transform();
  }
}

}  // namespace brains::modules
