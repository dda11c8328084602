#include "brains/processors/surrogate_file.h"

#include "brains/core/error.h"
#include "brains/io/torch_file.h"

namespace brains::processors {

SurrogateFile SurrogateFile::load(const std::filesystem::path& file) {
  const io::PyValue content = io::load_torch_file(file);
  if (!content.is_dict())
    throw FormatError(file.string(), "",
                      std::string("cannot load surrogate: expected a dict, found ") +
                          content.kind_name());
  SurrogateFile surrogate;
  surrogate.extras = io::PyValue::dict();
  bool has_info = false;
  bool has_state = false;
  for (const auto& [key, value] : content.dict_items()) {
    const std::string name = key.kind() == io::PyValue::Kind::String ? key.as_string() : "";
    if (name == "info") {
      surrogate.info = io::to_yaml(value);
      has_info = true;
    } else if (name == "model_state_dict") {
      surrogate.model_state_dict = value;
      has_state = true;
    } else {
      surrogate.extras.dict_items().emplace_back(key, value);
    }
  }
  if (!has_info || !has_state)
    throw FormatError(file.string(), "",
                      std::string("cannot load surrogate: missing '") +
                          (has_info ? "model_state_dict" : "info") +
                          "' (expected a brainspy-smg training_data.pt)");
  if (!surrogate.model_state_dict.is_dict())
    throw FormatError(file.string(), "", "cannot load surrogate: 'model_state_dict' is not a dict");
  return surrogate;
}

void SurrogateFile::save(const std::filesystem::path& file) const {
  io::PyValue content = io::PyValue::dict();
  content.set("info", io::from_yaml(info));
  content.set("model_state_dict", model_state_dict);
  if (extras.is_dict())
    for (const auto& [key, value] : extras.dict_items()) content.dict_items().emplace_back(key, value);
  io::save_torch_file(file, content);
}

}  // namespace brains::processors
