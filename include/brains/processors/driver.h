// Driver: what a measurement backend implements to sit behind HardwareProcessor — the
// surrogate debug driver now, the virtual device and NI-DAQmx setups in their own layers.
// A driver knows nothing of DNPUs; it turns a voltage waveform into output currents.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>

namespace brains::processors {

class Driver {
 public:
  virtual ~Driver() = default;

  // Applies `waveform` ((L, E) float64 volts, already safety-checked, starting and ending
  // at 0 V on hardware) to the activation electrodes and returns the readout currents,
  // (L, readout_electrode_count()) float64 nA, one row per waveform sample.
  virtual at::Tensor measure(const at::Tensor& waveform) = 0;

  virtual std::int64_t activation_electrode_count() const = 0;
  virtual std::int64_t readout_electrode_count() const = 0;
  // (E, 2) float32 volts: the configured safe range of each activation electrode.
  virtual at::Tensor voltage_ranges() const = 0;
  // [min, max] nA the setup can report; [-inf, inf] when unknown.
  virtual at::Tensor clipping_value() const;
  // False for drivers that simulate (simulation_debug); they skip the 0 V end rule.
  virtual bool is_hardware() const { return true; }
  // Highest |V| any electrode may see, whatever the ranges say. A driver may lower the
  // 1.6 V limit (kAbsoluteLimitV in safety.h), never raise it.
  virtual double absolute_limit_v() const { return 1.6; }
  // Largest |V[t+1] - V[t]| between consecutive samples, when the setup limits dV/dt.
  virtual std::optional<double> max_step_v() const { return std::nullopt; }
  // Releases instruments; outputs end at 0 V. Idempotent.
  virtual void close() {}
  virtual std::string name() const = 0;

 protected:
  Driver() = default;
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;
};

}  // namespace brains::processors
