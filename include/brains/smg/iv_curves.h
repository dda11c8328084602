// IV curves of a device (brainspy-smg §1.8–1.9, §2.6): each activation electrode in turn is
// swept from 0 V through both ends of its range and back to 0 V while the other activation
// electrodes stay at 0 V, and the processor's outputs are recorded. Works on any Processor
// (virtual, simulation_debug, NI hardware, or a plain simulation).
//
// Fixed against upstream (§6.1.2–4): the direction is an explicit choice ('up': 0 → max →
// min → 0, 'down': 0 → min → max → 0; upstream's strings were always "up"); a sweep has
// exactly the requested number of points; the plot grid fits any electrode count and every
// readout; results are saved.
//
// YAML (top level of an IV config; brainspy-smg's brains_ivcurve_template keys where they
// exist):
//   shape: 1000                 # points per sweep (also accepted: points)
//   input_signal:
//     input_signal_type: triangle   # triangle (also: sawtooth, upstream's name) or sine
//     direction: up                 # up or down
//   electrodes: [0, 1, 2]       # activation electrodes to sweep (default: all)
//   voltage_ranges: [[-1, 1], ...]   # per activation electrode (default: the processor's)
//
// Raises: ConfigError naming the key (points < 3, unknown direction or signal type, ranges
// that do not contain 0 V or reach outside the processor's), ArgumentError (electrode
// index out of range), and whatever the processor raises (SafetyError on hardware).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "brains/core/config.h"
#include "brains/processors/processor.h"

namespace brains::smg {

enum class SweepDirection { up, down };
enum class SweepSignal { triangle, sine };

// One sweep of exactly `points` samples (float64 volts), starting and ending at 0 V:
// triangle: straight ramps, equally spaced along the path 0 → max → min → 0 (up) or
//           0 → min → max → 0 (down);
// sine:     one period, scaled by max on its positive half and by |min| on its negative
//           half, so it starts at 0 V with a ramp (no jump, unlike upstream's sine).
// Needs min <= 0 <= max, min < max and points >= 3 (ArgumentError otherwise).
at::Tensor sweep_signal(double min_v, double max_v, std::int64_t points, SweepDirection direction,
                        SweepSignal signal = SweepSignal::triangle);

struct IvOptions {
  std::int64_t points = 1000;
  SweepDirection direction = SweepDirection::up;
  SweepSignal signal = SweepSignal::triangle;
  std::vector<std::int64_t> electrodes;  // activation electrode indices; empty: all
  std::optional<at::Tensor> voltage_ranges;  // (E, 2) volts; unset: the processor's

  static IvOptions from_config(const Config& configs);
};

struct IvResult {
  std::vector<std::int64_t> electrodes;  // the swept activation electrode of each sweep
  at::Tensor inputs;          // (sweeps, points, E) float64 volts, as applied
  at::Tensor outputs;         // (sweeps, points, n_out) float64 nA
  at::Tensor voltage_ranges;  // (E, 2) float64 volts used for the sweeps
  SweepDirection direction = SweepDirection::up;
  SweepSignal signal = SweepSignal::triangle;
  double seconds = 0;
};

// One processor call per swept electrode (points × E inputs; waveform, plateaus and safety
// as the processor is configured).
IvResult measure_iv_curves(processors::ProcessorImpl& processor, const IvOptions& options);

// Writes iv_curves.npz (inputs, outputs, electrodes, voltage_ranges), iv_curves.png — one
// panel per swept electrode (output vs its voltage, one line per readout) plus a panel of
// all input sweeps, on a grid sized to the count — with its CSV, summary.json, and the
// config when given.
void write_iv_result(const std::filesystem::path& run_dir, const IvResult& result,
                     const std::optional<Config>& config = std::nullopt);

// rows × cols for n panels: rows = ⌊√n⌋, cols = ⌈n / rows⌉ (8 → 2 × 4, as upstream).
std::pair<int, int> grid_shape(int panels);

std::string to_string(SweepDirection direction);
std::string to_string(SweepSignal signal);

}  // namespace brains::smg
