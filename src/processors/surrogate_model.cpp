#include "brains/processors/surrogate_model.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <ostream>

#include "brains/core/error.h"
#include "brains/core/log.h"

namespace brains::processors {

namespace {

// How an electrode_effects key is given: absent or "default" (take the info's value), null
// (switch the effect off) or an explicit value.
enum class Setting { info_default, off, value };

Setting setting_of(const std::optional<Config>& effects, const std::string& key) {
  if (!effects || !effects->contains(key)) return Setting::info_default;
  const YAML::Node node = effects->node()[key];
  if (node.IsNull()) return Setting::off;
  if (node.IsScalar() && node.Scalar() == "default") return Setting::info_default;
  return Setting::value;
}

std::string numbers_text(const at::Tensor& values) {
  const at::Tensor flat = values.detach().to(at::kDouble).cpu().reshape({-1});
  std::string out;
  for (std::int64_t i = 0; i < flat.numel(); ++i)
    out += (i ? ", " : "") + fmt::format("{:g}", flat[i].item<double>());
  return "[" + out + "]";
}

at::Tensor amplification_tensor(const std::vector<double>& factors) {
  return at::tensor(std::vector<float>(factors.begin(), factors.end()), at::kFloat);
}

// Replaces a buffer's contents in place: the registered tensor object stays the same, so
// the module's buffer list, clones and .to() keep seeing it.
void assign(at::Tensor& buffer, const at::Tensor& value) {
  at::NoGradGuard no_grad;
  buffer.set_(value.to(buffer.options()).clone());
}

void clear(at::Tensor& buffer) {
  at::NoGradGuard no_grad;
  buffer.set_(at::empty({0}, buffer.options()));
}

struct Effects {
  std::optional<at::Tensor> amplification;
  std::optional<std::pair<double, double>> clipping;
  at::Tensor voltage_ranges;
  std::optional<double> noise_std;
};

std::optional<at::Tensor> read_amplification(const ElectrodeInfo& info,
                                             const std::optional<Config>& effects) {
  switch (setting_of(effects, "amplification")) {
    case Setting::info_default: return amplification_tensor(info.amplification);
    case Setting::off:
      log::warn("{}: null, amplification switched off", effects->key_path("amplification"));
      return std::nullopt;
    case Setting::value: break;
  }
  const Config value = effects->at("amplification");
  at::Tensor factors =
      amplification_tensor(amplification_from_config(value, info.output_electrode_no));
  log::warn("{}: {} overrides the amplification {} of the surrogate's info", value.key_path(),
            numbers_text(factors), numbers_text(amplification_tensor(info.amplification)));
  return factors;
}

// brains-py reads `output_clipping`; its docs and tests write `clipping_value`. Both work.
std::optional<std::pair<double, double>> read_clipping(const ElectrodeInfo& info,
                                                      const std::optional<Config>& effects) {
  std::string key = "output_clipping";
  if (effects && !effects->contains(key) && effects->contains("clipping_value")) {
    key = "clipping_value";
    log::info("{}: read as the output clipping (brains-py's key is output_clipping)",
              effects->key_path(key));
  } else if (effects && effects->contains(key) && effects->contains("clipping_value")) {
    log::warn("{}: ignored, {} is used", effects->key_path("clipping_value"),
              effects->key_path(key));
  }
  switch (setting_of(effects, key)) {
    case Setting::info_default: return info.clipping_value;
    case Setting::off:
      log::warn("{}: null, output clipping switched off", effects->key_path(key));
      return std::nullopt;
    case Setting::value: break;
  }
  const Config value = effects->at(key);
  const auto clipping = clipping_from_config(value);
  log::warn("{}: [{:g}, {:g}] overrides the clipping value of the surrogate's info",
            value.key_path(), clipping.first, clipping.second);
  return clipping;
}

at::Tensor read_voltage_ranges(const ElectrodeInfo& info, const std::optional<Config>& effects) {
  switch (setting_of(effects, "voltage_ranges")) {
    case Setting::info_default: return info.voltage_ranges;
    case Setting::off:
      log::warn("{}: null, but voltage ranges cannot be switched off; using the info's",
                effects->key_path("voltage_ranges"));
      return info.voltage_ranges;
    case Setting::value: break;
  }
  const Config value = effects->at("voltage_ranges");
  at::Tensor ranges = voltage_ranges_from_config(value, info.activation_electrode_no);
  log::warn("{}: overrides the voltage ranges of the surrogate's info", value.key_path());
  return ranges;
}

// {type: gaussian, std: σ} (brains-py spells σ `variance`, but uses it as a standard
// deviation); absent, "default", {type: default} and null: no noise.
std::optional<double> read_noise(const std::optional<Config>& effects) {
  if (setting_of(effects, "noise") != Setting::value) return std::nullopt;
  const Config noise = effects->at("noise");
  if (!noise.node().IsMap())
    throw ConfigError(noise.key_path(), "expected a mapping {type: gaussian, std: <nA>}, got " +
                                            (noise.node().IsScalar() ? "'" + noise.node().Scalar() + "'"
                                                                     : std::string("a list")));
  noise.warn_unknown_keys({"type", "std", "variance"});
  const std::string type = noise.get<std::string>("type");
  if (type == "default") return std::nullopt;
  if (type != "gaussian")
    throw ConfigError(noise.key_path("type"),
                      "expected 'gaussian' or 'default', got '" + type + "'");
  std::string used;
  const auto std_config = noise.find_any({"std", "variance"}, &used);
  if (!std_config) throw ConfigError(noise.key_path("std"), "missing required key");
  if (used == "variance")
    log::info("{}: used as the standard deviation of the noise, as brains-py does",
              std_config->key_path());
  const double std_na = std_config->as<double>();
  if (!(std_na >= 0) || !std::isfinite(std_na))
    throw ConfigError(std_config->key_path(),
                      "expected a non-negative standard deviation in nA, got " +
                          std_config->node().Scalar());
  return std_na;
}

}  // namespace

SurrogateModelImpl::SurrogateModelImpl(ModelStructure structure)
    : structure_(std::move(structure)) {
  reset();
}

void SurrogateModelImpl::reset() {
  model = register_module("model", NeuralNetworkModel(structure_));
  voltage_ranges_ = register_buffer("voltage_ranges", at::empty({0}, at::kFloat));
  amplification_ = register_buffer("amplification", at::empty({0}, at::kFloat));
  output_clipping_ = register_buffer("output_clipping", at::empty({0}, at::kFloat));
}

at::Tensor SurrogateModelImpl::forward(const at::Tensor& x) {
  at::Tensor y = model->forward(x);
  // Without autograd history the network's output is ours to modify in place.
  const bool in_place = !y.requires_grad();
  if (amplification_.numel() != 0) y = in_place ? y.mul_(amplification_) : y * amplification_;
  if (noise_std_na_ && *noise_std_na_ > 0) {
    const at::Tensor noise = at::randn_like(y).mul_(*noise_std_na_);
    y = in_place ? y.add_(noise) : y + noise;
  }
  if (output_clipping_.numel() != 0) {
    const at::Tensor bounds = output_clipping_.to(at::kDouble).cpu();
    const double low = bounds[0].item<double>();
    const double high = bounds[1].item<double>();
    y = in_place ? y.clamp_(low, high) : y.clamp(low, high);
  }
  return y;
}

void SurrogateModelImpl::set_effects(const ElectrodeInfo& info,
                                     const std::optional<Config>& electrode_effects) {
  if (info.activation_electrode_no != structure_.d_in)
    throw ConfigError("electrode_info.activation_electrodes.electrode_no",
                      "expected " + std::to_string(structure_.d_in) +
                          " (the network's D_in), got " +
                          std::to_string(info.activation_electrode_no));
  std::optional<Config> effects = electrode_effects;
  if (effects && (!effects->node().IsDefined() || effects->node().IsNull())) effects.reset();
  if (effects && !effects->node().IsMap())
    throw ConfigError(effects->key_path(), "expected a mapping of electrode effects");
  if (effects)
    effects->warn_unknown_keys(
        {"voltage_ranges", "amplification", "output_clipping", "clipping_value", "noise"});

  // Read and check everything first, so a bad value leaves the model unchanged.
  Effects next;
  next.amplification = read_amplification(info, effects);
  next.clipping = read_clipping(info, effects);
  next.voltage_ranges = read_voltage_ranges(info, effects);
  next.noise_std = read_noise(effects);

  set_amplification(next.amplification);
  set_output_clipping(next.clipping);
  set_voltage_ranges(next.voltage_ranges);
  set_noise_std(next.noise_std);
}

void SurrogateModelImpl::set_voltage_ranges(const at::Tensor& ranges) {
  const std::string key = "electrode_effects.voltage_ranges";
  if (ranges.dim() != 2 || ranges.size(0) != structure_.d_in || ranges.size(1) != 2)
    throw ConfigError(key, "expected shape [" + std::to_string(structure_.d_in) +
                               ", 2] (one [min, max] per activation electrode), got " +
                               c10::str(ranges.sizes()));
  const at::Tensor values = ranges.detach().to(at::kFloat).cpu();
  if (!at::isfinite(values).all().item<bool>() ||
      (values.select(1, 0) > values.select(1, 1)).any().item<bool>())
    throw ConfigError(key, "expected finite [min, max] rows with min <= max, got " +
                               numbers_text(values));
  assign(voltage_ranges_, values);
}

void SurrogateModelImpl::set_amplification(const std::optional<at::Tensor>& amplification) {
  if (!amplification) return clear(amplification_);
  const at::Tensor factors = amplification->detach().to(at::kFloat).cpu().reshape({-1});
  if (factors.numel() != 1 && factors.numel() != structure_.d_out)
    throw ConfigError("electrode_effects.amplification",
                      "expected 1 or " + std::to_string(structure_.d_out) +
                          " factors (one per output), got " + std::to_string(factors.numel()));
  if (!at::isfinite(factors).all().item<bool>())
    throw ConfigError("electrode_effects.amplification",
                      "expected finite factors, got " + numbers_text(factors));
  assign(amplification_, factors);
}

void SurrogateModelImpl::set_output_clipping(
    const std::optional<std::pair<double, double>>& clipping) {
  if (!clipping) return clear(output_clipping_);
  const auto [low, high] = *clipping;
  if (std::isnan(low) || std::isnan(high) || low > high)
    throw ConfigError("electrode_effects.output_clipping",
                      fmt::format("expected [min, max] with min <= max, got [{:g}, {:g}]", low, high));
  assign(output_clipping_, at::tensor({low, high}, at::kDouble));
}

void SurrogateModelImpl::set_noise_std(std::optional<double> noise_std_na) {
  if (noise_std_na && (!std::isfinite(*noise_std_na) || *noise_std_na < 0))
    throw ConfigError("electrode_effects.noise.std",
                      fmt::format("expected a non-negative standard deviation in nA, got {:g}",
                                  *noise_std_na));
  noise_std_na_ = noise_std_na;
}

at::Tensor SurrogateModelImpl::clipping_value() const {
  if (output_clipping_.numel() != 0) return output_clipping_.clone();
  const double inf = std::numeric_limits<double>::infinity();
  return at::tensor({-inf, inf}, output_clipping_.options());
}

std::optional<at::Tensor> SurrogateModelImpl::amplification() const {
  if (amplification_.numel() == 0) return std::nullopt;
  return amplification_.clone();
}

void SurrogateModelImpl::pretty_print(std::ostream& stream) const {
  const auto& s = structure_;
  std::string hidden;
  for (auto size : s.hidden_sizes) hidden += (hidden.empty() ? "" : ",") + std::to_string(size);
  stream << "brains::SurrogateModel(D_in=" << s.d_in << ", hidden_sizes=[" << hidden
         << "], D_out=" << s.d_out << ", activation=" << s.activation << ", amplification="
         << (amplification_.numel() ? numbers_text(amplification_) : "none")
         << ", output_clipping="
         << (output_clipping_.numel() ? numbers_text(output_clipping_) : "none")
         << ", noise_std=" << (noise_std_na_ ? fmt::format("{:g}", *noise_std_na_) : "none")
         << ")";
}

}  // namespace brains::processors
