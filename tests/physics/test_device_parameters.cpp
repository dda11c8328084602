#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "brains/core/config.h"
#include "brains/physics/device_parameters.h"
#include "brains/physics/layout.h"

namespace brains::physics {
namespace {

using ::testing::HasSubstr;

// The key path of the ConfigError `action` throws ("<no error>" when it does not throw).
std::string error_key(const std::function<void()>& action) {
  try {
    action();
  } catch (const ConfigError& e) {
    return e.key_path();
  }
  return "<no error>";
}

std::string error_message(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

DeviceParameters device_from(const std::string& yaml) {
  const Config config = Config::parse("driver:\n  device:\n" + yaml);
  return DeviceParameters::from_config(config.at("driver").at("device"));
}

TEST(DeviceParameters, DefaultPresetIsTheMCNetworkDevice) {
  const DeviceParameters p = DeviceParameters::preset("default");
  EXPECT_EQ(p.shape, Shape::disk);
  EXPECT_DOUBLE_EQ(p.radius_nm, 150);
  EXPECT_EQ(p.acceptors, 200);
  EXPECT_EQ(p.donors, 3);
  EXPECT_DOUBLE_EQ(p.temperature_k, 77);
  EXPECT_DOUBLE_EQ(p.relative_permittivity, 10);
  EXPECT_DOUBLE_EQ(p.localization_length_nm, 20);
  EXPECT_DOUBLE_EQ(p.min_hop_distance_nm, 3);
  EXPECT_DOUBLE_EQ(p.max_hop_distance_nm, 60);
  EXPECT_DOUBLE_EQ(p.disorder_ev, 0.1);
  ASSERT_EQ(p.electrodes.size(), 8u);
  for (int k = 0; k < 8; ++k) {
    EXPECT_DOUBLE_EQ(*p.electrodes[k].angle_deg, 45.0 * k);
    EXPECT_DOUBLE_EQ(p.electrodes[k].width_nm, 60);
  }
  EXPECT_NEAR(p.kt_ev(), 6.635e-3, 1e-6);  // field-anchors §1.3: kT(77 K) = 6.635 meV
  EXPECT_NO_THROW(p.validate());
}

TEST(DeviceParameters, SmallPresetIsKmcDnsThesisDevice) {
  const DeviceParameters p = DeviceParameters::preset("small");
  EXPECT_EQ(p.shape, Shape::rectangle);
  EXPECT_EQ(p.acceptors, 30);
  EXPECT_EQ(p.donors, 3);
  ASSERT_EQ(p.electrodes.size(), 8u);
  // (0, 1/4) of the unit square, centred: (-50, -25) nm.
  EXPECT_DOUBLE_EQ(p.electrodes[0].position_nm->x, -50);
  EXPECT_DOUBLE_EQ(p.electrodes[0].position_nm->y, -25);
  EXPECT_NO_THROW(p.validate());
  EXPECT_EQ(error_key([] { DeviceParameters::preset("huge", "driver.device"); }), "driver.device.preset");
}

TEST(DeviceParameters, EveryParameterIsSettableInYaml) {
  const DeviceParameters p = device_from(
      "    preset: small\n"
      "    shape: disk\n    radius_nm: 80\n    acceptors: 40\n    donors: 4\n    layout_seed: 9\n"
      "    temperature_k: 40\n    relative_permittivity: 11.7\n    localization_length_nm: 15\n"
      "    min_hop_distance_nm: 1\n    max_hop_distance_nm: 50\n    disorder_ev: 0.02\n"
      "    attempt_frequency_hz: 2.0e12\n    boundary_condition: fixed\n    boundary_potential_v: 0.1\n"
      "    grid_spacing_nm: 1.5\n"
      "    electrodes:\n      - {angle_deg: 0, width_nm: 20}\n"
      "      - {angle_deg: 180, width_nm: 25, gate_only: true, name: gate}\n");
  EXPECT_EQ(p.shape, Shape::disk);
  EXPECT_DOUBLE_EQ(p.radius_nm, 80);
  EXPECT_EQ(p.acceptors, 40);
  EXPECT_EQ(p.donors, 4);
  EXPECT_EQ(p.layout_seed, 9u);
  EXPECT_DOUBLE_EQ(p.temperature_k, 40);
  EXPECT_DOUBLE_EQ(p.relative_permittivity, 11.7);
  EXPECT_DOUBLE_EQ(p.localization_length_nm, 15);
  EXPECT_DOUBLE_EQ(p.min_hop_distance_nm, 1);
  EXPECT_DOUBLE_EQ(p.max_hop_distance_nm, 50);
  EXPECT_DOUBLE_EQ(p.disorder_ev, 0.02);
  EXPECT_DOUBLE_EQ(p.attempt_frequency_hz, 2e12);
  EXPECT_EQ(p.boundary_condition, BoundaryCondition::fixed);
  EXPECT_DOUBLE_EQ(p.boundary_potential_v, 0.1);
  EXPECT_DOUBLE_EQ(p.grid_spacing_nm, 1.5);
  ASSERT_EQ(p.electrodes.size(), 2u);
  EXPECT_DOUBLE_EQ(*p.electrodes[1].angle_deg, 180);
  EXPECT_DOUBLE_EQ(p.electrodes[1].width_nm, 25);
  EXPECT_TRUE(p.electrodes[1].gate_only);
  EXPECT_EQ(p.electrodes[1].name, "gate");
}

TEST(DeviceParameters, ExplicitPositionsAndElectrodeShorthands) {
  const DeviceParameters p = device_from(
      "    acceptor_positions_nm: [[0, 0], [10, 0], [0, 10]]\n    donor_positions_nm: [[5, 5]]\n"
      "    electrodes: 4\n    electrode_width_nm: 30\n");
  EXPECT_EQ(p.acceptor_count(), 3);
  EXPECT_EQ(p.donor_count(), 1);
  ASSERT_EQ(p.electrodes.size(), 4u);
  EXPECT_DOUBLE_EQ(*p.electrodes[3].angle_deg, 270);
  EXPECT_DOUBLE_EQ(p.electrodes[3].width_nm, 30);
  const Layout layout = Layout::generate(p);
  EXPECT_DOUBLE_EQ(layout.acceptors_nm[1].x, 10);
  EXPECT_DOUBLE_EQ(layout.donors_nm[0].y, 5);
  // The preset's electrodes keep their places when only the width is given.
  const DeviceParameters wide = device_from("    electrode_width_nm: 70\n");
  EXPECT_DOUBLE_EQ(wide.electrodes[5].width_nm, 70);
  EXPECT_DOUBLE_EQ(*wide.electrodes[5].angle_deg, 225);
}

TEST(DeviceParameters, BadInputsNameTheKey) {
  EXPECT_EQ(error_key([] { device_from("    temperature_k: 0\n"); }), "driver.device.temperature_k");
  EXPECT_EQ(error_key([] { device_from("    temperature_k: -77\n"); }), "driver.device.temperature_k");
  EXPECT_EQ(error_key([] { device_from("    localization_length_nm: 0\n"); }),
            "driver.device.localization_length_nm");
  EXPECT_EQ(error_key([] { device_from("    localization_length_nm: -1\n"); }),
            "driver.device.localization_length_nm");
  EXPECT_EQ(error_key([] { device_from("    min_hop_distance_nm: 60\n    max_hop_distance_nm: 60\n"); }),
            "driver.device.min_hop_distance_nm");
  EXPECT_EQ(error_key([] { device_from("    min_hop_distance_nm: 70\n"); }), "driver.device.min_hop_distance_nm");
  EXPECT_EQ(error_key([] { device_from("    acceptors: 3\n    donors: 4\n"); }), "driver.device.donors");
  EXPECT_THAT(error_message([] { device_from("    acceptors: 3\n    donors: 4\n"); }),
              HasSubstr("more donors than acceptors"));
  EXPECT_EQ(error_key([] { device_from("    shape: hexagon\n"); }), "driver.device.shape");
  EXPECT_EQ(error_key([] { device_from("    temperature_k: warm\n"); }), "driver.device.temperature_k");
  EXPECT_EQ(error_key([] { device_from("    boundary_condition: periodic\n"); }),
            "driver.device.boundary_condition");
  EXPECT_EQ(error_key([] { device_from("    grid_spacing_nm: 0\n"); }), "driver.device.grid_spacing_nm");
  EXPECT_EQ(error_key([] { device_from("    donors: 0\n    acceptor_positions_nm: [[0, 0], [400, 0]]\n"); }),
            "driver.device.acceptor_positions_nm[1]");
  EXPECT_EQ(error_key([] { device_from("    donor_positions_nm: [[1, 1]]\n    acceptor_positions_nm: [[1, 1], [5, 5]]\n"); }),
            "driver.device.donor_positions_nm[0]");
}

TEST(DeviceParameters, ElectrodesOverlappingOrOffTheBoundaryAreRejected) {
  // Two 60 nm segments 30 nm apart along the boundary.
  const std::string overlapping =
      "    electrodes:\n      - {angle_deg: 0}\n      - {angle_deg: 11.459}\n";
  EXPECT_EQ(error_key([&] { device_from(overlapping); }), "driver.device.electrodes[1]");
  EXPECT_THAT(error_message([&] { device_from(overlapping); }), HasSubstr("overlaps electrodes[0]"));
  // Inside the disk, 50 nm from the boundary.
  const std::string inside = "    electrodes:\n      - {position_nm: [100, 0]}\n";
  EXPECT_EQ(error_key([&] { device_from(inside); }), "driver.device.electrodes[0].position_nm");
  EXPECT_THAT(error_message([&] { device_from(inside); }), HasSubstr("off the boundary"));
  // Outside the rectangle.
  const std::string outside = "    preset: small\n    electrodes:\n      - {position_nm: [-50, 25]}\n"
                              "      - {position_nm: [70, 0]}\n";
  EXPECT_EQ(error_key([&] { device_from(outside); }), "driver.device.electrodes[1].position_nm");
  // On the boundary within half a grid spacing: accepted and moved onto it.
  const DeviceParameters close = device_from("    electrodes:\n      - {position_nm: [150.4, 0]}\n");
  const Layout layout = Layout::generate(close);
  EXPECT_NEAR(layout.electrodes[0].position_nm.x, 150, 1e-12);
  EXPECT_EQ(error_key([] { device_from("    electrodes:\n      - {angle_deg: 0, position_nm: [150, 0]}\n"); }),
            "driver.device.electrodes[0]");
  EXPECT_EQ(error_key([] { device_from("    electrodes:\n      - {width_nm: 10}\n"); }),
            "driver.device.electrodes[0]");
  EXPECT_EQ(error_key([] { device_from("    electrodes:\n      - {angle_deg: 0, width_nm: -5}\n"); }),
            "driver.device.electrodes[0].width_nm");
  // Touching segments are fine: 8 electrodes of 117 nm share a 942 nm boundary.
  EXPECT_NO_THROW(device_from("    electrode_width_nm: 117\n"));
  EXPECT_EQ(error_key([] { device_from("    electrode_width_nm: 119\n"); }), "driver.device.electrodes[1]");
}

TEST(Geometry, BoundaryCoordinatesRoundTrip) {
  for (const Geometry& g : {Geometry::disk(150), Geometry::rectangle(100, 60)}) {
    for (double s = 0; s < g.perimeter_nm(); s += g.perimeter_nm() / 37) {
      const Point p = g.boundary_point(s);
      EXPECT_NEAR(g.distance_to_boundary(p), 0, 1e-9);
      EXPECT_NEAR(g.boundary_distance(g.boundary_coordinate(p), s), 0, 1e-9) << s;
    }
    EXPECT_NEAR(g.boundary_coordinate(g.boundary_point_at_angle(0)), 0, 1e-9);
    EXPECT_NEAR(g.distance_to_boundary(g.boundary_point_at_angle(123)), 0, 1e-9);
  }
  const Geometry r = Geometry::rectangle(100, 60);
  EXPECT_DOUBLE_EQ(r.perimeter_nm(), 320);
  EXPECT_NEAR(r.boundary_point_at_angle(90).y, 30, 1e-12);
  EXPECT_NEAR(r.boundary_point_at_angle(45).y, 30, 1e-12);  // the ray meets the top side
  EXPECT_NEAR(r.distance_to_boundary({0, 0}), 30, 1e-12);
  EXPECT_NEAR(r.distance_to_boundary({60, 0}), -10, 1e-12);
  EXPECT_NEAR(Geometry::disk(150).boundary_distance(1, 941), 2 * M_PI * 150 - 940, 1e-9);
}

TEST(Layout, IsSeededAndInsideTheDevice) {
  DeviceParameters p = DeviceParameters::preset("default");
  const Layout a = Layout::generate(p), b = Layout::generate(p);
  ASSERT_EQ(a.acceptor_count(), 200);
  ASSERT_EQ(a.donor_count(), 3);
  double mean = 0, square = 0;
  for (int i = 0; i < a.acceptor_count(); ++i) {
    EXPECT_EQ(a.acceptors_nm[i].x, b.acceptors_nm[i].x);
    EXPECT_EQ(a.disorder_ev[i], b.disorder_ev[i]);
    EXPECT_TRUE(a.geometry.contains(a.acceptors_nm[i]));
    mean += a.disorder_ev[i];
    square += a.disorder_ev[i] * a.disorder_ev[i];
  }
  mean /= 200;
  EXPECT_NEAR(mean, 0, 3 * 0.1 / std::sqrt(200.0));
  EXPECT_NEAR(std::sqrt(square / 200 - mean * mean), 0.1, 0.02);
  // Another seed moves the dopants; another disorder strength does not.
  p.layout_seed = 2;
  EXPECT_NE(Layout::generate(p).acceptors_nm[0].x, a.acceptors_nm[0].x);
  p.layout_seed = 1;
  p.disorder_ev = 0.05;
  const Layout c = Layout::generate(p);
  EXPECT_EQ(c.acceptors_nm[7].y, a.acceptors_nm[7].y);
  EXPECT_DOUBLE_EQ(c.disorder_ev[7], 0.5 * a.disorder_ev[7]);
  // Electrodes at 45° steps on the circle.
  EXPECT_NEAR(a.electrodes[2].position_nm.y, 150, 1e-9);
  EXPECT_NEAR(a.electrodes[2].boundary_s_nm, 150 * M_PI / 2, 1e-9);
  EXPECT_EQ(a.electrodes[2].name, "e2");
}

TEST(Layout, ReorderedKeepsEachSiteWithItsDisorder) {
  const Layout a = Layout::generate(DeviceParameters::preset("small"));
  std::vector<int> order(a.acceptor_count());
  for (int k = 0; k < a.acceptor_count(); ++k) order[k] = (7 * k + 3) % a.acceptor_count();
  const Layout b = a.reordered(order);
  for (int k = 0; k < a.acceptor_count(); ++k) {
    EXPECT_EQ(b.acceptors_nm[k].x, a.acceptors_nm[order[k]].x);
    EXPECT_EQ(b.disorder_ev[k], a.disorder_ev[order[k]]);
  }
  EXPECT_THROW(a.reordered({0, 0}), ArgumentError);
}

}  // namespace
}  // namespace brains::physics
