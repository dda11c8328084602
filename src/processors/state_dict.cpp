#include "brains/processors/state_dict.h"

#include <ATen/ATen.h>

#include <map>
#include <vector>

#include "brains/core/error.h"

namespace brains::processors {

namespace {

constexpr std::string_view kDataParallelPrefix = "module.";

std::string shape_text(at::IntArrayRef sizes) { return c10::str(sizes); }

// Every parameter and buffer by its state-dict key, in PyTorch's order (a module's own
// parameters, its own buffers, then its children).
void collect(const torch::nn::Module& module, const std::string& prefix,
             std::vector<std::pair<std::string, at::Tensor>>& out) {
  for (const auto& item : module.named_parameters(/*recurse=*/false))
    out.emplace_back(prefix + item.key(), item.value());
  for (const auto& item : module.named_buffers(/*recurse=*/false))
    out.emplace_back(prefix + item.key(), item.value());
  for (const auto& child : module.named_children())
    collect(*child.value(), prefix + child.key() + ".", out);
}

// The state dict's entries keyed by name, with a DataParallel `module.` prefix removed when
// every key carries it.
std::map<std::string, const io::PyValue*> entries_by_key(const io::PyValue& state_dict,
                                                         const std::string& origin) {
  if (!state_dict.is_dict())
    throw FormatError(origin, "", std::string("cannot load state dict: expected a dict, got ") +
                                      state_dict.kind_name());
  bool prefixed = !state_dict.dict_items().empty();
  for (const auto& [key, value] : state_dict.dict_items()) {
    if (key.kind() != io::PyValue::Kind::String)
      throw FormatError(origin, "", std::string("cannot load state dict: expected string keys, got ") +
                                        key.kind_name());
    prefixed = prefixed && key.as_string().rfind(kDataParallelPrefix, 0) == 0;
  }
  std::map<std::string, const io::PyValue*> out;
  for (const auto& [key, value] : state_dict.dict_items())
    out[prefixed ? key.as_string().substr(kDataParallelPrefix.size()) : key.as_string()] = &value;
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> entries_of(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  collect(module, "", out);
  return out;
}

bool names_any(const std::vector<std::pair<std::string, at::Tensor>>& targets,
               const std::map<std::string, const io::PyValue*>& entries) {
  for (const auto& target : targets)
    if (entries.count(target.first)) return true;
  return false;
}

// The module the dict describes: `module` itself, or, when no key names one of its entries,
// the direct child whose keys the dict uses (brains-py hands a file's raw_model.* dict to the
// SurrogateModel, which loads it into its network).
torch::nn::Module& module_for(torch::nn::Module& module,
                              const std::map<std::string, const io::PyValue*>& entries) {
  if (names_any(entries_of(module), entries)) return module;
  for (const auto& child : module.named_children())
    if (names_any(entries_of(*child.value()), entries)) return *child.value();
  return module;
}

std::string quoted_list(const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& key : keys) out += (out.empty() ? "'" : ", '") + key + "'";
  return out;
}

}  // namespace

void load_state_dict(torch::nn::Module& module, const io::PyValue& state_dict,
                     const std::string& origin) {
  auto entries = entries_by_key(state_dict, origin);
  const auto targets = entries_of(module_for(module, entries));

  // Check everything before copying anything, so a bad dict leaves the module unchanged.
  std::vector<std::string> missing;
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;
  for (const auto& [key, target] : targets) {
    const auto found = entries.find(key);
    if (found == entries.end()) {
      if (target.numel() != 0) missing.push_back(key);  // an empty buffer is an unset effect
      continue;
    }
    const io::PyValue& value = *found->second;
    if (!value.is_tensor_like())
      throw FormatError(origin, "", "cannot load state dict: key '" + key +
                                        "': expected a tensor, got " + value.kind_name());
    const at::Tensor& source = value.tensor();
    if (target.numel() != 0 && source.sizes() != target.sizes())
      throw FormatError(origin, "", "cannot load state dict: key '" + key + "': expected shape " +
                                        shape_text(target.sizes()) + ", got " +
                                        shape_text(source.sizes()));
    copies.emplace_back(target, source);
    entries.erase(found);
  }
  if (!missing.empty())
    throw FormatError(origin, "", "cannot load state dict: missing key" +
                                      std::string(missing.size() > 1 ? "s " : " ") +
                                      quoted_list(missing));
  if (!entries.empty()) {
    std::vector<std::string> unexpected;
    for (const auto& entry : entries) unexpected.push_back(entry.first);
    throw FormatError(origin, "", "cannot load state dict: unexpected key" +
                                      std::string(unexpected.size() > 1 ? "s " : " ") +
                                      quoted_list(unexpected));
  }

  at::NoGradGuard no_grad;
  for (auto& [target, source] : copies) {
    if (target.numel() == 0 && source.numel() != 0)
      // An unset buffer takes the stored shape; set_ keeps the registered tensor object.
      target.set_(source.to(target.options()).clone());
    else
      target.copy_(source);
  }
}

io::PyValue state_dict_value(const torch::nn::Module& module) {
  io::PyValue::DictItems items;
  for (const auto& [key, tensor] : entries_of(module))
    if (tensor.numel() != 0)
      items.emplace_back(io::PyValue::string(key), io::PyValue::tensor(tensor.detach().cpu().clone()));
  return io::PyValue::dict(std::move(items), /*ordered=*/true);
}

}  // namespace brains::processors
