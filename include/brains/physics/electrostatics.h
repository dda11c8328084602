// Electrostatics: the potential of the electrodes inside the device, from the Laplace equation
// ∇²φ = 0 on a square grid covering the device (finite differences; finite-volume link weights
// along straight sides, a staircase boundary for the disk). Grid nodes at the boundary inside
// an electrode segment hold that electrode's voltage (Dirichlet); the rest of the boundary is
// either insulating (Neumann, zero normal field) or held at a fixed potential.
//
// The equation is linear, so the matrix is factorised once (sparse LDLᵀ) and solved once per
// electrode with unit voltage on it and 0 V on the others (plus once for the fixed boundary
// value): the basis φ_k. Any voltage vector then costs O(P·N):
//   φ(r) = Σ_k V_k φ_k(r) + V_boundary φ_b(r).
// Values between grid nodes are bilinear interpolations over the nodes inside the device.
//
// Raises: Error when the grid cannot represent an electrode (no node in its segment).
#pragma once

#include <memory>
#include <vector>

#include "brains/physics/device_parameters.h"
#include "brains/physics/layout.h"

namespace brains::physics {

// A scalar field on the grid, row-major (y outer, x inner); NaN outside the device.
struct GridField {
  int nx = 0;  // nodes along x
  int ny = 0;
  double x0_nm = 0;  // position of node (0, 0)
  double y0_nm = 0;
  double dx_nm = 0;
  double dy_nm = 0;
  std::vector<double> values;
};

class Electrostatics {
 public:
  Electrostatics(const Layout& layout, BoundaryCondition boundary_condition,
                 double boundary_potential_v, double grid_spacing_nm);
  Electrostatics(const DeviceParameters& parameters, const Layout& layout);
  ~Electrostatics();
  Electrostatics(Electrostatics&&) noexcept;
  Electrostatics& operator=(Electrostatics&&) noexcept;
  Electrostatics(const Electrostatics&) = delete;
  Electrostatics& operator=(const Electrostatics&) = delete;

  int electrode_count() const;
  int node_count() const;  // grid nodes inside the device
  // Grid nodes held at electrode k's voltage.
  int dirichlet_node_count(int electrode) const;

  // (points × electrode_count) row-major: φ_k at each point for 1 V on electrode k, 0 V on the
  // others and on a fixed boundary.
  std::vector<double> basis_at(const std::vector<Point>& points) const;
  // φ_b at each point: the potential for 1 V on a fixed boundary and 0 V on all electrodes
  // (all zeros with Neumann boundaries).
  std::vector<double> boundary_basis_at(const std::vector<Point>& points) const;
  // The potential (V) at each point by superposition of the basis.
  std::vector<double> potential_at(const std::vector<Point>& points,
                                   const std::vector<double>& voltages_v) const;
  // The same from a fresh solve of the Laplace problem with these voltages (a new sparse LU
  // factorisation): the check that superposition is exact, and a reference.
  std::vector<double> solve_direct(const std::vector<Point>& points,
                                   const std::vector<double>& voltages_v) const;
  // The potential on every grid node (for maps of the device).
  GridField potential_on_grid(const std::vector<double>& voltages_v) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace brains::physics
