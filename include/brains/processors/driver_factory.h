// The hardware processor types and the Driver each one builds from a processor config
// (`driver.*` keys). Processor routes every type listed here through HardwareProcessor.
//
// Raises: ConfigError (unknown type, listing the valid ones; bad driver keys),
//         HardwareError (the instrument or its library cannot be opened).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "brains/core/config.h"
#include "brains/processors/driver.h"

namespace brains::processors {

// Types served by a Driver built from the config alone (no surrogate needed).
const std::vector<std::string>& hardware_processor_types();

// The Driver for `type`, configured from the whole processor config.
std::shared_ptr<Driver> make_hardware_driver(const std::string& type, const Config& configs);

}  // namespace brains::processors
