// DeviceParameters: everything that defines a virtual dopant-network device (spec
// virtual-device.md, field-anchors.md §1.6) as one plain struct with commented defaults and
// units in the names. The defaults are the "default" preset: MCNetwork's `data/in.txt` device
// (a disk of radius 150 nm, 200 acceptors, 3 donors, 77 K, ε_r 10, a = 20 nm, 8 electrodes
// 60 nm wide at 45° steps, hops 3–60 nm, 0.1 eV disorder). The "small" preset is kmc_dn's
// thesis device (a square with 30 acceptors, 3 donors and 8 electrodes at the quarter points
// of its sides) at the same density and material parameters.
//
// Coordinates are in nm with the origin at the centre of the device; angles are in degrees,
// counter-clockwise from +x.
//
// YAML (every field optional; `preset` first picks the base, the other keys override it):
//   preset: small                 # or default
//   shape: rectangle              # disk | rectangle
//   width_nm: 100
//   temperature_k: 77
//   electrodes:
//     - {angle_deg: 0, width_nm: 60}
//     - {position_nm: [-50, 25], width_nm: 20, gate_only: true, name: gate}
//   acceptor_positions_nm: [[0, 1], [2, 3]]   # optional fixed layout (else random, seeded)
//
// Raises: ConfigError naming the key (under the prefix the caller gives) for a wrong type, an
// unknown preset or shape, or a value out of range (validate()).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "brains/core/config.h"

namespace brains::physics {

struct Point {
  double x = 0;  // nm
  double y = 0;  // nm
};

enum class Shape { disk, rectangle };
// What the Laplace problem holds on the boundary outside the electrode segments.
enum class BoundaryCondition {
  neumann,  // zero normal field (MCNetwork)
  fixed     // a fixed potential, boundary_potential_v (kmc_dn's `mu`)
};

struct ElectrodeParameters {
  // Exactly one of angle_deg and position_nm. An angle places the electrode where the ray
  // from the centre at that angle meets the boundary; a position must lie on the boundary
  // (within half a grid spacing; it is moved onto it).
  std::optional<double> angle_deg;
  std::optional<Point> position_nm;
  // Length of the boundary segment held at the electrode's voltage in the Laplace problem,
  // measured along the boundary and centred on the electrode's point.
  double width_nm = 60;
  // A gate shapes the potential but exchanges no carriers (kmc_dn's static electrodes,
  // MCNetwork's isolateElectrode).
  bool gate_only = false;
  std::string name;  // optional label for output; "" → "e<index>"
};

struct DeviceParameters {
  // Geometry.
  Shape shape = Shape::disk;
  double radius_nm = 150;  // disk
  double width_nm = 300;   // rectangle, along x
  double height_nm = 300;  // rectangle, along y

  // Dopants. Positions are uniform at random in the device, drawn from layout_seed, unless
  // given explicitly (then their number defines acceptors/donors).
  int acceptors = 200;
  int donors = 3;
  std::uint64_t layout_seed = 1;  // positions and site disorder
  std::vector<Point> acceptor_positions_nm;  // empty: random
  std::vector<Point> donor_positions_nm;     // empty: random

  // Material and hopping.
  double temperature_k = 77;
  double relative_permittivity = 10;  // ε_r; U(r) = e²/(4π ε0 ε_r r)
  double localization_length_nm = 20;  // a; distance factor exp(-2 r / a)
  double min_hop_distance_nm = 3;      // hops only between sites with r in [min, max]
  double max_hop_distance_nm = 60;
  double disorder_ev = 0.1;  // standard deviation of the Gaussian site-energy disorder
  // ν0: a rate of 1 (in the model's units) is ν0 hops per second; currents scale with it.
  // 1e12 Hz puts the output range of the default device, with controls in [−1, 1] V, at
  // ~40 nA — the tens of nA measured on DNPUs (kmc_dn's fit: ±26 nA).
  double attempt_frequency_hz = 1e12;

  // Electrostatics: Laplace on a grid of this spacing covering the device.
  BoundaryCondition boundary_condition = BoundaryCondition::neumann;
  double boundary_potential_v = 0;  // used with BoundaryCondition::fixed
  double grid_spacing_nm = 2;

  // Electrodes; the default is 8 electrodes at 0°, 45°, …, 315°, 60 nm wide.
  std::vector<ElectrodeParameters> electrodes = default_electrodes(8, 60);

  // The named preset: "default" or "small". Throws ConfigError (key "preset") otherwise.
  static DeviceParameters preset(std::string_view name, const std::string& key_prefix = "");
  // `preset` (optional, default "default") then every other key overrides it. Unknown keys
  // are warned about. Validates the result; errors name keys under config.key_path().
  static DeviceParameters from_config(const Config& config);
  // Throws ConfigError("<key_prefix>.<key>", ...) for the first invalid value, including
  // electrodes off the boundary or overlapping (see Geometry).
  void validate(const std::string& key_prefix = "") const;

  // n electrodes of the given width evenly spaced in angle, the first at 0°.
  static std::vector<ElectrodeParameters> default_electrodes(int n, double width_nm);

  // Derived quantities.
  double kt_ev() const;  // k_B T in eV
  // Number of acceptors and donors, counting explicit positions when given.
  int acceptor_count() const;
  int donor_count() const;
  // The YAML keys from_config() understands (for unknown-key warnings and docs).
  static const std::vector<std::string>& known_keys();
};

// Physical constants (CODATA 2018).
inline constexpr double kBoltzmannEvPerK = 8.617333262e-5;
inline constexpr double kElementaryChargeC = 1.602176634e-19;
inline constexpr double kCoulombEvNm = 1.439964547;  // e²/(4π ε0) in eV·nm

std::string to_string(Shape shape);
std::string to_string(BoundaryCondition condition);

}  // namespace brains::physics
