// Layout: the geometry of a device (disk or rectangle), its acceptors, donors and site
// disorder (seeded), and its electrodes (a point for hopping, a boundary segment for the
// Laplace problem, a gate-only flag).
//
// The boundary is parametrised by arc length s ∈ [0, perimeter), counter-clockwise, starting
// where the +x axis leaves the device (angle 0). Electrode segments are intervals of s.
//
// Raises: ConfigError naming the key (electrode off the boundary, overlapping electrodes,
// a dopant outside the device, counts that do not match).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "brains/physics/device_parameters.h"

namespace brains::physics {

class Geometry {
 public:
  static Geometry disk(double radius_nm);
  static Geometry rectangle(double width_nm, double height_nm);
  static Geometry from(const DeviceParameters& parameters);

  Shape shape() const noexcept { return shape_; }
  double radius_nm() const noexcept { return radius_; }
  double width_nm() const noexcept { return width_; }
  double height_nm() const noexcept { return height_; }
  double area_nm2() const;
  double perimeter_nm() const;
  // Half-widths of the bounding box (the device is centred at the origin).
  double half_extent_x() const;
  double half_extent_y() const;

  // Inside or on the boundary (with `tolerance_nm` of slack).
  bool contains(Point p, double tolerance_nm = 0) const;
  // Distance from p to the boundary (positive inside, negative outside).
  double distance_to_boundary(Point p) const;
  // Arc-length coordinate of the boundary point nearest to p.
  double boundary_coordinate(Point p) const;
  Point boundary_point(double s) const;
  // Where the ray from the centre at `angle_deg` leaves the device.
  Point boundary_point_at_angle(double angle_deg) const;
  // Shortest distance along the boundary between two arc-length coordinates.
  double boundary_distance(double s1, double s2) const;

 private:
  Shape shape_ = Shape::disk;
  double radius_ = 0;
  double width_ = 0;
  double height_ = 0;
};

struct Electrode {
  std::string name;
  Point position_nm;        // on the boundary; the end point of hops
  double boundary_s_nm = 0;  // arc-length coordinate of position_nm
  double width_nm = 0;       // segment [s - width/2, s + width/2] along the boundary
  bool gate_only = false;
};

struct Layout {
  Geometry geometry;
  std::vector<Point> acceptors_nm;
  std::vector<Point> donors_nm;
  std::vector<double> disorder_ev;  // one Gaussian site energy per acceptor
  std::vector<Electrode> electrodes;

  // Places the electrodes, and the dopants either at the given positions or uniformly at
  // random in the device; disorder is N(0, disorder_ev²). All random draws come from
  // layout_seed (streams "physics.layout.acceptors", ".donors", ".disorder"), so changing
  // the disorder does not move the dopants. Validates the parameters first.
  static Layout generate(const DeviceParameters& parameters, const std::string& key_prefix = "");

  // The same device with acceptors in a new order: acceptor k of the result is acceptor
  // order[k] of this one (with its disorder). For tests of invariance under reordering.
  Layout reordered(const std::vector<int>& order) const;

  int acceptor_count() const { return static_cast<int>(acceptors_nm.size()); }
  int donor_count() const { return static_cast<int>(donors_nm.size()); }
  int electrode_count() const { return static_cast<int>(electrodes.size()); }
};

// Electrodes from their parameters: position on the boundary, arc-length coordinate, name.
// Throws ConfigError ("<prefix>.electrodes[i].position_nm", ...) when a position is off the
// boundary by more than `tolerance_nm`, when both or neither of angle/position are given,
// when a width is not positive or longer than the boundary, and
// ("<prefix>.electrodes[j]", "overlaps electrodes[i] ...") when two segments overlap.
std::vector<Electrode> place_electrodes(const Geometry& geometry,
                                        const std::vector<ElectrodeParameters>& electrodes,
                                        double tolerance_nm, const std::string& key_prefix = "");

}  // namespace brains::physics
