#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "brains/physics/electrostatics.h"
#include "brains/physics/random.h"

namespace brains::physics {
namespace {

std::vector<double> random_voltages(int n, std::uint64_t seed) {
  Rng rng(seed, "test.voltages");
  std::vector<double> v(n);
  for (double& x : v) x = 2 * rng.uniform() - 1;
  return v;
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

// Test 6: the superposed potential equals a fresh solve (new factorisation, LU instead of
// LDLᵀ) for a random voltage vector, with either boundary condition and either shape.
TEST(Electrostatics, SuperpositionEqualsADirectSolve) {
  for (const char* preset : {"default", "small"}) {
    for (BoundaryCondition bc : {BoundaryCondition::neumann, BoundaryCondition::fixed}) {
      DeviceParameters p = DeviceParameters::preset(preset);
      p.boundary_condition = bc;
      p.boundary_potential_v = 0.3;
      const Layout layout = Layout::generate(p);
      const Electrostatics e(p, layout);
      const auto v = random_voltages(layout.electrode_count(), 7);
      const auto superposed = e.potential_at(layout.acceptors_nm, v);
      const auto direct = e.solve_direct(layout.acceptors_nm, v);
      const double scale = std::max(max_abs(v), 0.3);
      for (std::size_t i = 0; i < superposed.size(); ++i)
        EXPECT_LE(std::abs(superposed[i] - direct[i]), 1e-9 * scale) << preset << " site " << i;
    }
  }
}

TEST(Electrostatics, NeumannBasisIsAPartitionOfUnity) {
  // With an insulating boundary, equal voltages on all electrodes give that voltage everywhere.
  const DeviceParameters p = DeviceParameters::preset("default");
  const Layout layout = Layout::generate(p);
  const Electrostatics e(p, layout);
  const auto basis = e.basis_at(layout.acceptors_nm);
  const int n = layout.acceptor_count(), k = layout.electrode_count();
  for (int i = 0; i < n; ++i) {
    double sum = 0;
    for (int j = 0; j < k; ++j) {
      EXPECT_GE(basis[i * k + j], -1e-12);  // maximum principle
      EXPECT_LE(basis[i * k + j], 1 + 1e-12);
      sum += basis[i * k + j];
    }
    EXPECT_NEAR(sum, 1, 1e-10);
  }
  EXPECT_EQ(e.boundary_basis_at(layout.acceptors_nm), std::vector<double>(n, 0.0));
}

TEST(Electrostatics, ElectrodesHoldTheirVoltageAndSymmetryHolds) {
  DeviceParameters p = DeviceParameters::preset("default");
  p.electrodes = DeviceParameters::default_electrodes(2, 60);  // at 0° and 180°
  const Layout layout = Layout::generate(p);
  const Electrostatics e(p, layout);
  EXPECT_GT(e.dirichlet_node_count(0), 10);
  const std::vector<double> v{1.0, -1.0};
  const auto at = e.potential_at({layout.electrodes[0].position_nm, layout.electrodes[1].position_nm,
                                   {0, 0}, {0, 100}, {50, 20}, {-50, -20}},
                                  v);
  EXPECT_NEAR(at[0], 1.0, 1e-12);
  EXPECT_NEAR(at[1], -1.0, 1e-12);
  EXPECT_NEAR(at[2], 0.0, 1e-9);            // centre, by antisymmetry
  EXPECT_NEAR(at[3], 0.0, 1e-9);            // on the symmetry axis
  EXPECT_NEAR(at[4], -at[5], 1e-9);         // point reflection
  EXPECT_GT(at[4], 0.05);
  // A fixed boundary at 0 V pulls the potential down compared with an insulating one.
  p.boundary_condition = BoundaryCondition::fixed;
  const Electrostatics fixed(p, layout);
  const auto fixed_at = fixed.potential_at({{50, 20}}, v);
  EXPECT_LT(std::abs(fixed_at[0]), std::abs(at[4]));
  // The potential map agrees with the potential at a node.
  const GridField field = e.potential_on_grid(v);
  ASSERT_EQ(field.values.size(), static_cast<std::size_t>(field.nx * field.ny));
  const int i = field.nx / 2 + 10, j = field.ny / 2 + 5;
  const Point node{field.x0_nm + i * field.dx_nm, field.y0_nm + j * field.dy_nm};
  EXPECT_NEAR(field.values[j * field.nx + i], e.potential_at({node}, v)[0], 1e-12);
  EXPECT_TRUE(std::isnan(field.values[0]));  // the corner lies outside the disk
}

TEST(Electrostatics, RectangleWithTwoSidesIsALinearRamp) {
  // Electrodes covering the left and right sides of a rectangle, insulating top and bottom:
  // the exact solution is linear in x, which the finite-volume scheme reproduces.
  DeviceParameters p;
  p.shape = Shape::rectangle;
  p.width_nm = 100;
  p.height_nm = 40;
  p.grid_spacing_nm = 2;
  p.electrodes.clear();
  ElectrodeParameters left, right;
  left.position_nm = Point{-50, 0};
  left.width_nm = 40;
  right.position_nm = Point{50, 0};
  right.width_nm = 40;
  p.electrodes = {left, right};
  p.acceptors = 5;
  p.donors = 0;
  const Layout layout = Layout::generate(p);
  const Electrostatics e(p, layout);
  const auto phi = e.potential_at({{-25, 0}, {0, 17}, {31, -11}}, {1.0, 0.0});
  EXPECT_NEAR(phi[0], 0.75, 1e-9);
  EXPECT_NEAR(phi[1], 0.5, 1e-9);
  EXPECT_NEAR(phi[2], 0.5 - 31.0 / 100, 1e-9);
}

TEST(Electrostatics, NoElectrodesMeansNoPotential) {
  DeviceParameters p = DeviceParameters::preset("small");
  p.electrodes.clear();
  const Layout layout = Layout::generate(p);
  const Electrostatics e(p, layout);
  EXPECT_EQ(e.electrode_count(), 0);
  EXPECT_EQ(e.potential_at(layout.acceptors_nm, {}), std::vector<double>(layout.acceptor_count(), 0.0));
  EXPECT_THROW(e.potential_at(layout.acceptors_nm, {1.0}), ArgumentError);
}

}  // namespace
}  // namespace brains::physics
