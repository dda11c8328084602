#include "brains/processors/driver_factory.h"

#include "brains/core/error.h"
#include "brains/processors/nidaqmx/driver.h"
#include "brains/processors/virtual_driver.h"

namespace brains::processors {

const std::vector<std::string>& hardware_processor_types() {
  static const std::vector<std::string> types{"virtual", "cdaq_to_cdaq", "cdaq_to_nidaq"};
  return types;
}

std::shared_ptr<Driver> make_hardware_driver(const std::string& type, const Config& configs) {
  if (type == "virtual") return make_virtual_driver(configs);
  if (type == "cdaq_to_cdaq" || type == "cdaq_to_nidaq")
    return nidaqmx::NidaqmxDriver::from_config(type, configs);
  throw ConfigError(configs.key_path("processor_type"),
                    "'" + type + "' is not a hardware processor type");
}

}  // namespace brains::processors
