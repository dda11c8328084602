// Direct experiments on a simulated device (`brains kmc`): IV sweeps of one electrode,
// current maps over a grid of two electrodes' voltages, and the speed of the simulator.
// Every point is an independent steady-state simulation (fresh occupation, warm-up, then
// the measured hops; see simulate_independent), so the results do not depend on the thread
// count and each current carries a standard error from blocks.
//
// Raises: ArgumentError (electrode index out of range, points < 1, base voltages of the
// wrong size), ConfigError from the options (KmcExperimentOptions::from_config).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "brains/core/config.h"
#include "brains/physics/kmc.h"
#include "brains/physics/model.h"

namespace brains::physics {

// Evenly spaced values from `low` to `high`, both included (one value: `low`).
std::vector<double> linear_range(double low, double high, std::int64_t points);

// Current at every electrode (nA, with standard errors) while `electrode` takes each of
// `voltages_v` and the others stay at `base_v` (one voltage per electrode; empty: 0 V).
struct IvSweep {
  int electrode = 0;
  std::vector<double> voltages_v;
  std::vector<Measurement> measurements;  // one per voltage
};
IvSweep iv_sweep(std::shared_ptr<const HoppingModel> model, int electrode,
                 const std::vector<double>& voltages_v, std::vector<double> base_v,
                 std::int64_t hops, std::uint64_t seed, int threads, const KmcOptions& options);

// Currents over the grid xs × ys of two electrodes' voltages (row-major: y outer, x inner).
struct CurrentMap {
  int electrode_x = 0;
  int electrode_y = 1;
  std::vector<double> xs_v;
  std::vector<double> ys_v;
  std::vector<Measurement> measurements;  // ys.size() × xs.size()
  const Measurement& at(std::size_t iy, std::size_t ix) const { return measurements[iy * xs_v.size() + ix]; }
};
CurrentMap current_map(std::shared_ptr<const HoppingModel> model, int electrode_x,
                       const std::vector<double>& xs_v, int electrode_y,
                       const std::vector<double>& ys_v, std::vector<double> base_v,
                       std::int64_t hops, std::uint64_t seed, int threads, const KmcOptions& options);

// `brains kmc` config sections. Hops per point default to the kmc section's hops_per_sample.
//   iv:  {electrodes: [0, 3], range: [-1, 1], points: 41, hops: 100000}   (or electrode: 0)
//   map: {electrodes: [0, 1], range: [-1, 1], points: 21, readout: 7, hops: 50000}
//        (x_range / y_range per axis, points: [nx, ny]; readout: the plotted electrode,
//        default the last one)
struct IvSweepOptions {
  std::vector<int> electrodes{0};
  double min_v = -1;
  double max_v = 1;
  std::int64_t points = 41;
  std::optional<std::int64_t> hops;
  static IvSweepOptions from_config(const Config& section, int electrode_count);
};
struct CurrentMapOptions {
  int electrode_x = 0;
  int electrode_y = 1;
  std::pair<double, double> x_range{-1, 1};
  std::pair<double, double> y_range{-1, 1};
  std::int64_t points_x = 21;
  std::int64_t points_y = 21;
  int readout = -1;  // -1: the last electrode
  std::optional<std::int64_t> hops;
  static CurrentMapOptions from_config(const Config& section, int electrode_count);
};

// iv_sweeps.npz (electrodes (S,), voltages (S, points), currents and errors (S, points, P)
// nA) and iv_sweeps.png: one panel per swept electrode with the current of every
// carrier-exchanging electrode, on a grid; each plot with its CSV.
void write_iv_sweeps(const std::filesystem::path& run_dir, const HoppingModel& model,
                     const std::vector<IvSweep>& sweeps);
// current_map.npz (electrodes, xs, ys, currents and errors (ny, nx, P) nA),
// current_map.png (the readout's current against V_x, one line per V_y, at most 11 lines)
// and current_map_grid.csv (x, y, current of the readout, error) over the whole grid.
void write_current_map(const std::filesystem::path& run_dir, const CurrentMap& map, int readout);

// Hops per second of one simulation on one thread (CPU time of the calling thread), at
// random voltages in [−1, 1] V on every electrode but the last (0 V), after `hops` / 2 of
// warm-up. The figure the performance goals are stated in.
struct HopRate {
  double hops_per_s = 0;
  std::int64_t hops = 0;
  double seconds = 0;
};
HopRate measure_hop_rate(std::shared_ptr<const HoppingModel> model, std::int64_t hops,
                         std::uint64_t seed = 1);

}  // namespace brains::physics
