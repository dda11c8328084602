// SurrogateModel: the neural-network simulation of a device plus the effects of the
// measurement setup (brains-py spec §5), applied in this order:
//   y = model(x) · amplification;  y += noise_std · N(0, 1);  y = clamp(y, clipping).
// The effects come from `info.electrode_info` and can be overridden by a processor config's
// `electrode_effects` with brains-py's semantics: a key that is absent takes the info's value,
// an explicit value replaces it (with a warning), and null switches the effect off
// (voltage ranges cannot be switched off and keep the info's value). Keys:
//   voltage_ranges   (E, 2) list of [min, max] volts
//   amplification    list with one factor per output (or one number)
//   output_clipping  [min, max] nA; brains-py's docs spell it clipping_value, accepted too
//   noise            {type: gaussian, std: σ_nA}; brains-py's `variance` is accepted and, as
//                    there, used as the standard deviation; type `default` means no noise,
//                    any other type is a ConfigError (upstream silently dropped the noise)
//
// State-dict keys match brains-py: model.raw_model.N.weight/bias, voltage_ranges,
// amplification, output_clipping.
//
// Raises: ConfigError (bad effect values, naming the key path).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <optional>
#include <utility>

#include "brains/core/config.h"
#include "brains/processors/electrode_info.h"
#include "brains/processors/neural_network_model.h"

namespace brains::processors {

class SurrogateModelImpl : public torch::nn::Cloneable<SurrogateModelImpl> {
 public:
  explicit SurrogateModelImpl(ModelStructure structure = {});
  void reset() override;

  at::Tensor forward(const at::Tensor& x);
  // brains::SurrogateModel(D_in=7, hidden_sizes=[90,…], D_out=1, activation=relu, …)
  void pretty_print(std::ostream& stream) const override;

  // Effects from the electrode info, overridden by `electrode_effects` (may be null).
  void set_effects(const ElectrodeInfo& info, const std::optional<Config>& electrode_effects);

  // (E, 2) float32; E must equal the network's D_in.
  void set_voltage_ranges(const at::Tensor& ranges);
  // One factor per output (or a single factor); nullopt switches amplification off.
  void set_amplification(const std::optional<at::Tensor>& amplification);
  // [min, max] in nA with min <= max; nullopt switches clipping off.
  void set_output_clipping(const std::optional<std::pair<double, double>>& clipping);
  // Standard deviation of additive Gaussian output noise in nA; nullopt or 0: no noise.
  void set_noise_std(std::optional<double> noise_std_na);

  at::Tensor voltage_ranges() const { return voltage_ranges_; }
  // [min, max], or [-inf, inf] when clipping is off.
  at::Tensor clipping_value() const;
  std::optional<at::Tensor> amplification() const;
  std::optional<double> noise_std() const noexcept { return noise_std_na_; }

  NeuralNetworkModel model{nullptr};

 private:
  ModelStructure structure_;
  // Buffers, so .to(), clone() and state dicts carry them; empty means "not set".
  at::Tensor voltage_ranges_;
  at::Tensor amplification_;
  at::Tensor output_clipping_;
  std::optional<double> noise_std_na_;
};
TORCH_MODULE(SurrogateModel);

}  // namespace brains::processors
