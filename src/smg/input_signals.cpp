#include "brains/smg/input_signals.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>

#include "brains/core/error.h"

namespace brains::smg {

namespace {

constexpr double kPi = 3.141592653589793;

at::Tensor vector_of(const at::Tensor& x, std::int64_t size, const char* name) {
  if (!x.defined() || x.numel() != size)
    throw ArgumentError(fmt::format("cannot make input wave: {} must have {} values, got {}", name,
                                    size, x.defined() ? x.numel() : 0));
  return x.to(at::kCPU, at::kDouble).contiguous().reshape({size});
}

// numpy's float remainder: the sign of the divisor, and +0 for exact multiples.
double python_mod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0.0) {
    if ((b < 0) != (m < 0)) m += b;
  } else {
    m = std::copysign(0.0, b);
  }
  return m;
}

// scipy.signal.sawtooth(theta, width=0.5), evaluated as scipy does.
double scipy_triangle(double theta) {
  constexpr double width = 0.5;
  const double t = python_mod(theta, 2 * kPi);
  if (t < width * 2 * kPi) return t / (kPi * width) - 1;
  return (kPi * (width + 1) - t) / (kPi * (1 - width));
}

template <typename Shape>
at::Tensor make_wave(const at::Tensor& t, const at::Tensor& frequency, const at::Tensor& phase,
                     const at::Tensor& amplitude, const at::Tensor& offset, Shape shape) {
  if (!t.defined() || t.dim() != 1)
    throw ArgumentError("cannot make input wave: time must be a 1-D tensor of seconds");
  const std::int64_t d = frequency.defined() ? frequency.numel() : 0;
  const at::Tensor time = t.to(at::kCPU, at::kDouble).contiguous();
  const at::Tensor f = vector_of(frequency, d, "frequency");
  const at::Tensor p = vector_of(phase, d, "phase");
  const at::Tensor a = vector_of(amplitude, d, "amplitude");
  const at::Tensor o = vector_of(offset, d, "offset");
  const std::int64_t n = time.numel();
  at::Tensor out = at::empty({d, n}, at::kDouble);
  const double* tv = time.data_ptr<double>();
  double* x = out.data_ptr<double>();
  for (std::int64_t i = 0; i < d; ++i) {
    const double fi = f.data_ptr<double>()[i], pi = p.data_ptr<double>()[i];
    const double ai = a.data_ptr<double>()[i], oi = o.data_ptr<double>()[i];
    // numpy: ((2 * pi) * f) * t + phase, left to right.
    const double omega = 2 * kPi * fi;
    for (std::int64_t j = 0; j < n; ++j) x[i * n + j] = ai * shape(omega * tv[j] + pi) + oi;
  }
  return out;
}

}  // namespace

WaveShape wave_shape_from_name(const std::string& name, const std::string& key_path) {
  if (name == "sine") return WaveShape::sine;
  if (name == "sawtooth" || name == "triangle") return WaveShape::triangle;
  throw ConfigError(key_path, "unknown input distribution '" + name +
                                  "' (valid: sine, sawtooth, triangle)");
}

std::string wave_shape_name(WaveShape shape) {
  return shape == WaveShape::sine ? "sine" : "sawtooth";
}

at::Tensor input_frequencies(const std::vector<double>& q, double factor,
                             double sampling_frequency_hz) {
  at::Tensor out = at::empty({static_cast<std::int64_t>(q.size())}, at::kDouble);
  for (std::size_t i = 0; i < q.size(); ++i)
    out.data_ptr<double>()[i] = std::sqrt(q[i]) * factor * sampling_frequency_hz;
  return out;
}

at::Tensor sine_wave(const at::Tensor& t, const at::Tensor& frequency, const at::Tensor& phase,
                     const at::Tensor& amplitude, const at::Tensor& offset) {
  return make_wave(t, frequency, phase, amplitude, offset, [](double theta) { return std::sin(theta); });
}

at::Tensor triangle_wave(const at::Tensor& t, const at::Tensor& frequency, const at::Tensor& phase,
                         const at::Tensor& amplitude, const at::Tensor& offset) {
  return make_wave(t, frequency, phase, amplitude, offset,
                   [](double theta) { return scipy_triangle(theta + kPi / 2); });
}

at::Tensor input_wave(WaveShape shape, const at::Tensor& t, const at::Tensor& frequency,
                      const at::Tensor& phase, const at::Tensor& amplitude, const at::Tensor& offset) {
  return shape == WaveShape::sine ? sine_wave(t, frequency, phase, amplitude, offset)
                                  : triangle_wave(t, frequency, phase, amplitude, offset);
}

std::pair<at::Tensor, at::Tensor> amplitude_and_offset(const at::Tensor& voltage_ranges) {
  if (!voltage_ranges.defined() || voltage_ranges.dim() != 2 || voltage_ranges.size(1) != 2)
    throw ArgumentError("cannot derive amplitude and offset: voltage ranges must be (electrodes, 2)");
  const at::Tensor r = voltage_ranges.to(at::kCPU, at::kDouble);
  const at::Tensor low = r.select(1, 0), high = r.select(1, 1);
  return {((high - low) / 2).contiguous(), ((low + high) / 2).contiguous()};
}

at::Tensor ramped_waveform(const at::Tensor& batch, std::int64_t ramp_points) {
  if (!batch.defined() || batch.dim() != 2 || batch.size(0) == 0)
    throw ArgumentError("cannot ramp batch: expected a non-empty (samples, electrodes) matrix");
  if (ramp_points < 0)
    throw ArgumentError("cannot ramp batch: ramp_points must be >= 0, got " + std::to_string(ramp_points));
  const at::Tensor x = batch.to(at::kCPU, at::kDouble).contiguous();
  const std::int64_t b = x.size(0), d = x.size(1), r = ramp_points;
  at::Tensor out = at::empty({b + 2 * r, d}, at::kDouble);
  double* w = out.data_ptr<double>();
  std::copy(x.data_ptr<double>(), x.data_ptr<double>() + b * d, w + r * d);
  const double* first = x.data_ptr<double>();
  const double* last = first + (b - 1) * d;
  // numpy.linspace(start, stop, r): start + i·step, the last element set to stop.
  const auto linspace = [&](double start, double stop, std::int64_t row0, std::int64_t column) {
    if (r == 0) return;
    const double step = r > 1 ? (stop - start) / static_cast<double>(r - 1) : 0.0;
    for (std::int64_t i = 0; i < r; ++i)
      w[(row0 + i) * d + column] = static_cast<double>(i) * step + start;
    if (r > 1) w[(row0 + r - 1) * d + column] = stop;
  };
  for (std::int64_t j = 0; j < d; ++j) {
    linspace(0.0, first[j], 0, j);
    linspace(last[j], 0.0, r + b, j);
  }
  return out;
}

at::Tensor random_phase(std::mt19937_64& rng, std::int64_t electrodes) {
  at::Tensor out = at::empty({electrodes}, at::kDouble);
  for (std::int64_t i = 0; i < electrodes; ++i) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;  // [0, 1)
    out.data_ptr<double>()[i] = (u - 0.5) * 4 * kPi;
  }
  return out;
}

std::int64_t whole_sample_count(double seconds, double sampling_frequency_hz,
                                const std::string& key_path) {
  const double samples = seconds * sampling_frequency_hz;
  if (!std::isfinite(samples) || samples < 0)
    throw ConfigError(key_path, fmt::format("expected a non-negative duration, got {} s", seconds));
  const double whole = std::nearbyint(samples);
  if (std::abs(samples - whole) > 1e-9 * std::max(1.0, whole))
    throw ConfigError(key_path,
                      fmt::format("{} s × {} Hz = {} samples, not a whole number (choose a "
                                  "duration that is a multiple of 1/fs = {} s)",
                                  seconds, sampling_frequency_hz, samples, 1.0 / sampling_frequency_hz));
  return static_cast<std::int64_t>(whole);
}

}  // namespace brains::smg
