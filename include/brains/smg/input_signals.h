// Input signals of the surrogate-model sampler (brainspy-smg spec §1.2, §2.1): one sine or
// triangle wave per activation electrode at f_i = √q_i · factor · fs (q_i distinct primes,
// so the trajectory never repeats and fills the voltage box), spanning [offset − amplitude,
// offset + amplitude]; and the ramps from and back to 0 V that surround each batch.
//
// Units: time in s, frequencies in Hz, phases in rad, voltages in V. Tensors are float64.
// Computed as brainspy-smg does (numpy's order of operations), so the values match it to
// the last bit or two (parity case smg_waves).
//
// Raises: ConfigError (unknown wave name, a duration that is not a whole number of
//         samples), ArgumentError (tensors of mismatched sizes).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace brains::smg {

enum class WaveShape { sine, triangle };

// "sine", or "sawtooth" (brainspy-smg's name for its symmetric triangle) or "triangle".
// `key_path` names the config key in the error.
WaveShape wave_shape_from_name(const std::string& name, const std::string& key_path);
// "sine" or "sawtooth" (the name brainspy-smg reads back).
std::string wave_shape_name(WaveShape shape);

// f_i = √q_i · factor · fs, (D,). brainspy-smg hard-codes factor = 0.001.
at::Tensor input_frequencies(const std::vector<double>& q, double factor, double sampling_frequency_hz);

// x_i(t) = A_i · sin(2π f_i t + φ_i) + O_i. t (T,); f, φ, A, O (D,) -> (D, T).
at::Tensor sine_wave(const at::Tensor& t, const at::Tensor& frequency, const at::Tensor& phase,
                     const at::Tensor& amplitude, const at::Tensor& offset);
// x_i(t) = A_i · tri(2π f_i t + φ_i) + O_i with tri(θ) = scipy's sawtooth(θ + π/2, width 0.5),
// i.e. (2/π)·asin(sin θ): a triangle in phase with the sine. Shapes as sine_wave.
at::Tensor triangle_wave(const at::Tensor& t, const at::Tensor& frequency, const at::Tensor& phase,
                         const at::Tensor& amplitude, const at::Tensor& offset);
at::Tensor input_wave(WaveShape shape, const at::Tensor& t, const at::Tensor& frequency,
                      const at::Tensor& phase, const at::Tensor& amplitude, const at::Tensor& offset);

// Amplitude (max − min)/2 and offset (max + min)/2 of each row of (D, 2) ranges: (D,) each.
std::pair<at::Tensor, at::Tensor> amplitude_and_offset(const at::Tensor& voltage_ranges);

// A batch (B, D) with R ramp samples before and after: (R + B + R, D). Column j rises as
// numpy's linspace(0, x[0, j], R) and falls as linspace(x[B−1, j], 0, R), endpoints included,
// so for R ≥ 1 the waveform starts and ends at exactly 0 V. Rows [R, R + B) are the batch.
at::Tensor ramped_waveform(const at::Tensor& batch, std::int64_t ramp_points);

// D phases uniform in [−2π, 2π) (upstream's U[−360°, 360°)), from 53-bit draws of `rng`, so
// the values depend only on the generator's state, not on the standard library.
at::Tensor random_phase(std::mt19937_64& rng, std::int64_t electrodes);

// seconds · fs as a sample count. It must be a whole number (within 1e-9 relative, so that
// 0.29 s × 100 Hz = 28.999999999999996 counts as 29): ConfigError naming `key_path` and the
// product otherwise, and for negative or non-finite values.
std::int64_t whole_sample_count(double seconds, double sampling_frequency_hz,
                                const std::string& key_path);

}  // namespace brains::smg
