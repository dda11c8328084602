// HoppingModel: the rate model of hole hopping in a dopant network (field-anchors.md §1.6),
// in units of kT for energies and ν0 for rates. It holds everything that does not change
// during a simulation — distances, Coulomb energies, disorder, donor repulsion, the
// electrostatic basis at the sites, the allowed hop pairs — and gives the reference formulas
// for energies and rates (clear, O(N) or O(N²), with std::exp). The KMC solver (kmc.h) keeps
// the same quantities up to date incrementally and is tested against these.
//
// Endpoints of a hop are numbered 0..N-1 for acceptors and N..N+P-1 for electrodes.
// Occupation n_i ∈ {0, 1}: 1 when acceptor i holds a hole (neutral A⁰), 0 when empty (A⁻).
//
//   U(r)   = e² / (4π ε0 ε_r r)
//   ε_i    = eφ(r_i) + δ_i + Σ_donors U(r_ik) − Σ_{j≠i} (1 − n_j) U(r_ij)
//   ΔE     = ε_j − ε_i − U(r_ij)      acceptor i → acceptor j
//          = eV_k − ε_i               acceptor i → electrode k
//          = ε_j − eV_k               electrode k → acceptor j
//   Γ      = ν0 · exp(−2 r / a) · min(1, exp(−ΔE / kT)),   r ∈ [r_min, r_max]
// Hops need an occupied start and an empty end acceptor; electrodes always source or sink,
// except gate-only ones, which exchange nothing; electrode-to-electrode hops do not exist.
//
// Raises: ArgumentError for vectors of the wrong size; ConfigError from the parameters.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "brains/physics/device_parameters.h"
#include "brains/physics/electrostatics.h"
#include "brains/physics/layout.h"

namespace brains::physics {

using Occupation = std::vector<std::uint8_t>;

class HoppingModel {
 public:
  // A possible hop between two endpoints and its distance factor exp(-2 r / a).
  struct Pair {
    int a = 0;  // acceptor
    int b = 0;  // acceptor (b > a) or electrode endpoint N + k
    double distance_nm = 0;
    double distance_factor = 0;
  };
  struct Event {
    int from = 0;
    int to = 0;
    double rate = 0;  // units of ν0
  };

  // Solves the electrostatics of `layout` (one solve per electrode).
  HoppingModel(const DeviceParameters& parameters, Layout layout);
  HoppingModel(const DeviceParameters& parameters, Layout layout,
               std::shared_ptr<const Electrostatics> electrostatics);
  // Validates `parameters`, generates the layout (seeded) and solves the electrostatics.
  static std::shared_ptr<const HoppingModel> create(const DeviceParameters& parameters);

  const DeviceParameters& parameters() const noexcept { return parameters_; }
  const Layout& layout() const noexcept { return layout_; }
  const Electrostatics& electrostatics() const noexcept { return *electrostatics_; }

  int acceptor_count() const noexcept { return n_; }
  int electrode_count() const noexcept { return p_; }
  int endpoint_count() const noexcept { return n_ + p_; }
  bool is_electrode(int endpoint) const noexcept { return endpoint >= n_; }
  // Holes at the start: N_A − N_D.
  int initial_hole_count() const noexcept { return n_ - layout_.donor_count(); }

  double kt_ev() const noexcept { return kt_ev_; }
  // Energy of a hole at potential V, in kT: e·V / kT.
  double volts_to_kt(double volts) const noexcept { return volts / kt_ev_; }
  // The current of one hole per unit model time (1/ν0), in nA: e · ν0 · 1e9.
  double current_unit_na() const noexcept;

  // Constants (energies in kT).
  double distance_nm(int endpoint_a, int endpoint_b) const;
  double interaction_kt(int i, int j) const { return interaction_[static_cast<std::size_t>(i) * n_ + j]; }
  const std::vector<double>& interaction_kt() const noexcept { return interaction_; }  // N×N, 0 diagonal
  // δ_i + Σ_donors U(r_ik): the voltage-independent part of the empty-neighbourhood energy.
  const std::vector<double>& fixed_energy_kt() const noexcept { return fixed_energy_; }
  // (N × P) row-major: φ_k(r_i) in V per V on electrode k.
  const std::vector<double>& potential_basis() const noexcept { return potential_basis_; }
  // φ_b(r_i): potential per V on a fixed boundary (zeros with Neumann).
  const std::vector<double>& boundary_basis() const noexcept { return boundary_basis_; }
  // Allowed acceptor pairs (a < b) and acceptor–electrode pairs (only electrodes that
  // exchange carriers), within [r_min, r_max], sorted by (a, b).
  const std::vector<Pair>& acceptor_pairs() const noexcept { return acceptor_pairs_; }
  const std::vector<Pair>& electrode_pairs() const noexcept { return electrode_pairs_; }

  // eφ(r_i)/kT + δ_i + Σ_donors U: the occupation-independent site energies for `voltages_v`.
  std::vector<double> constant_energies_kt(const std::vector<double>& voltages_v) const;

  // Reference formulas.
  std::vector<double> site_energies_kt(const Occupation& occupation,
                                       const std::vector<double>& voltages_v) const;
  // ΔE of the hop (kT), whether or not it is allowed in this state.
  double hop_energy_kt(int from, int to, const Occupation& occupation,
                       const std::vector<double>& voltages_v) const;
  // Γ (units of ν0); 0 when the hop is not allowed (out of range, start empty, end full,
  // gate-only electrode, electrode to electrode).
  double rate(int from, int to, const Occupation& occupation, const std::vector<double>& voltages_v) const;
  // Every allowed hop in this state with its rate.
  std::vector<Event> events(const Occupation& occupation, const std::vector<double>& voltages_v) const;
  // H (kT) of the holes: Σ_i n_i (eφ_i + δ_i + Σ_donors U) + Σ_{i<j} (1 − n_i)(1 − n_j) U_ij.
  // A hop between acceptors changes it by exactly its ΔE; one from electrode k into the
  // device by ΔE + eV_k.
  double energy_kt(const Occupation& occupation, const std::vector<double>& voltages_v) const;
  // Expected net hole flux into each electrode in this state (units of ν0):
  // Σ_i Γ(i → k) − Γ(k → i).
  std::vector<double> electrode_flux(const Occupation& occupation,
                                     const std::vector<double>& voltages_v) const;

 private:
  void build();
  void check(const Occupation& occupation, const std::vector<double>& voltages_v) const;

  DeviceParameters parameters_;
  Layout layout_;
  std::shared_ptr<const Electrostatics> electrostatics_;
  int n_ = 0;
  int p_ = 0;
  double kt_ev_ = 0;
  std::vector<double> interaction_;
  std::vector<double> fixed_energy_;
  std::vector<double> potential_basis_;
  std::vector<double> boundary_basis_;
  std::vector<Pair> acceptor_pairs_;
  std::vector<Pair> electrode_pairs_;
  std::vector<double> pair_factor_;  // (N+P)² distance factors, 0 when not a pair
};

}  // namespace brains::physics
