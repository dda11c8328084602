// SurrogateDriver: a SurrogateModel behind the hardware path (`processor_type:
// simulation_debug`), so waveforms, masks and safety checks can be exercised without a
// device. It is not hardware: no 0 V end rule.
#pragma once

#include "brains/processors/driver.h"
#include "brains/processors/surrogate_model.h"

namespace brains::processors {

class SurrogateDriver : public Driver {
 public:
  explicit SurrogateDriver(SurrogateModel model);

  at::Tensor measure(const at::Tensor& waveform) override;
  std::int64_t activation_electrode_count() const override;
  std::int64_t readout_electrode_count() const override;
  at::Tensor voltage_ranges() const override;
  at::Tensor clipping_value() const override;
  bool is_hardware() const override { return false; }
  std::string name() const override { return "simulation_debug"; }

  SurrogateModel& model() { return model_; }

 private:
  SurrogateModel model_;
};

}  // namespace brains::processors
