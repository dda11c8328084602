#include "brains/physics/layout.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "brains/core/error.h"
#include "brains/physics/random.h"

namespace brains::physics {

namespace {

constexpr double kPi = 3.141592653589793;
// Random dopants are redrawn until they are at least this far from every other dopant
// (about a silicon lattice constant); it keeps Coulomb energies finite.
constexpr double kMinDopantSeparationNm = 0.5;

std::string join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

std::string number_text(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

double wrap(double s, double period) {
  double r = std::fmod(s, period);
  if (r < 0) r += period;
  return r;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Geometry

Geometry Geometry::disk(double radius_nm) {
  Geometry g;
  g.shape_ = Shape::disk;
  g.radius_ = radius_nm;
  return g;
}

Geometry Geometry::rectangle(double width_nm, double height_nm) {
  Geometry g;
  g.shape_ = Shape::rectangle;
  g.width_ = width_nm;
  g.height_ = height_nm;
  return g;
}

Geometry Geometry::from(const DeviceParameters& p) {
  return p.shape == Shape::disk ? disk(p.radius_nm) : rectangle(p.width_nm, p.height_nm);
}

double Geometry::area_nm2() const {
  return shape_ == Shape::disk ? kPi * radius_ * radius_ : width_ * height_;
}

double Geometry::perimeter_nm() const {
  return shape_ == Shape::disk ? 2 * kPi * radius_ : 2 * (width_ + height_);
}

double Geometry::half_extent_x() const { return shape_ == Shape::disk ? radius_ : width_ / 2; }
double Geometry::half_extent_y() const { return shape_ == Shape::disk ? radius_ : height_ / 2; }

bool Geometry::contains(Point p, double tolerance_nm) const {
  return distance_to_boundary(p) >= -tolerance_nm;
}

double Geometry::distance_to_boundary(Point p) const {
  if (shape_ == Shape::disk) return radius_ - std::hypot(p.x, p.y);
  const double a = width_ / 2, b = height_ / 2;
  const double dx = std::abs(p.x) - a, dy = std::abs(p.y) - b;
  if (dx <= 0 && dy <= 0) return std::min(-dx, -dy);
  return -std::hypot(std::max(dx, 0.0), std::max(dy, 0.0));
}

double Geometry::boundary_coordinate(Point p) const {
  if (shape_ == Shape::disk) return wrap(radius_ * std::atan2(p.y, p.x), perimeter_nm());
  const double a = width_ / 2, b = height_ / 2, w = width_, h = height_;
  // The nearest boundary point q; for an inside point, the projection on the nearest side.
  Point q = p;
  enum Side { right, top, left, bottom } side;
  if (std::abs(p.x) <= a && std::abs(p.y) <= b) {
    const double d[4] = {a - p.x, b - p.y, p.x + a, p.y + b};
    side = static_cast<Side>(std::min_element(d, d + 4) - d);
  } else {
    q.x = std::clamp(p.x, -a, a);
    q.y = std::clamp(p.y, -b, b);
    if (p.x > a)
      side = right;
    else if (p.x < -a)
      side = left;
    else
      side = p.y > b ? top : bottom;
  }
  switch (side) {
    case right:
      return q.y >= 0 ? q.y : b + 2 * w + h + (q.y + b);
    case top:
      return b + (a - q.x);
    case left:
      return b + w + (b - q.y);
    case bottom:
    default:
      return b + w + h + (q.x + a);
  }
}

Point Geometry::boundary_point(double s) const {
  const double L = perimeter_nm();
  s = wrap(s, L);
  if (shape_ == Shape::disk) return {radius_ * std::cos(s / radius_), radius_ * std::sin(s / radius_)};
  const double a = width_ / 2, b = height_ / 2, w = width_, h = height_;
  if (s <= b) return {a, s};
  if (s <= b + w) return {a - (s - b), b};
  if (s <= b + w + h) return {-a, b - (s - b - w)};
  if (s <= b + 2 * w + h) return {-a + (s - b - w - h), -b};
  return {a, -b + (s - b - 2 * w - h)};
}

Point Geometry::boundary_point_at_angle(double angle_deg) const {
  const double t = angle_deg * kPi / 180;
  const double c = std::cos(t), s = std::sin(t);
  if (shape_ == Shape::disk) return {radius_ * c, radius_ * s};
  const double a = width_ / 2, b = height_ / 2;
  const double tx = std::abs(c) > 1e-15 ? a / std::abs(c) : INFINITY;
  const double ty = std::abs(s) > 1e-15 ? b / std::abs(s) : INFINITY;
  const double r = std::min(tx, ty);
  // Put the point exactly on the side it meets.
  if (tx <= ty) return {c > 0 ? a : -a, std::clamp(r * s, -b, b)};
  return {std::clamp(r * c, -a, a), s > 0 ? b : -b};
}

double Geometry::boundary_distance(double s1, double s2) const {
  const double L = perimeter_nm();
  const double d = wrap(s1 - s2, L);
  return std::min(d, L - d);
}

// ---------------------------------------------------------------------------------------
// Electrodes

std::vector<Electrode> place_electrodes(const Geometry& geometry,
                                        const std::vector<ElectrodeParameters>& electrodes,
                                        double tolerance_nm, const std::string& key_prefix) {
  std::vector<Electrode> out;
  const double L = geometry.perimeter_nm();
  for (std::size_t i = 0; i < electrodes.size(); ++i) {
    const ElectrodeParameters& e = electrodes[i];
    const std::string key = join(key_prefix, "electrodes[" + std::to_string(i) + "]");
    if (e.angle_deg && e.position_nm)
      throw ConfigError(key, "give either angle_deg or position_nm, not both");
    if (!e.angle_deg && !e.position_nm) throw ConfigError(key, "missing angle_deg or position_nm");
    Electrode placed;
    placed.name = e.name.empty() ? "e" + std::to_string(i) : e.name;
    placed.gate_only = e.gate_only;
    if (e.angle_deg) {
      if (!std::isfinite(*e.angle_deg))
        throw ConfigError(key + ".angle_deg", "expected a finite angle, got " + number_text(*e.angle_deg));
      placed.position_nm = geometry.boundary_point_at_angle(*e.angle_deg);
      placed.boundary_s_nm = geometry.boundary_coordinate(placed.position_nm);
    } else {
      const Point p = *e.position_nm;
      const double off = std::abs(geometry.distance_to_boundary(p));
      if (!std::isfinite(off) || off > tolerance_nm)
        throw ConfigError(key + ".position_nm",
                          "electrode at (" + number_text(p.x) + ", " + number_text(p.y) + ") nm is " +
                              number_text(off) + " nm off the boundary of the device (tolerance " +
                              number_text(tolerance_nm) + " nm)");
      placed.boundary_s_nm = geometry.boundary_coordinate(p);
      placed.position_nm = geometry.boundary_point(placed.boundary_s_nm);
    }
    if (!(std::isfinite(e.width_nm) && e.width_nm > 0 && e.width_nm < L))
      throw ConfigError(key + ".width_nm", "expected a positive width shorter than the boundary (" +
                                               number_text(L) + " nm), got " + number_text(e.width_nm));
    placed.width_nm = e.width_nm;
    for (std::size_t j = 0; j < out.size(); ++j) {
      const double gap = geometry.boundary_distance(placed.boundary_s_nm, out[j].boundary_s_nm) -
                         0.5 * (placed.width_nm + out[j].width_nm);
      if (gap < 0)
        throw ConfigError(key, "segment overlaps electrodes[" + std::to_string(j) + "] by " +
                                   number_text(-gap) + " nm along the boundary");
    }
    out.push_back(placed);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Layout

namespace {

Point random_point(const Geometry& g, Rng& rng) {
  for (;;) {
    const Point p{(2 * rng.uniform() - 1) * g.half_extent_x(), (2 * rng.uniform() - 1) * g.half_extent_y()};
    if (g.contains(p)) return p;
  }
}

bool far_from_all(Point p, const std::vector<Point>& a, const std::vector<Point>& b) {
  for (const auto* list : {&a, &b})
    for (const Point& q : *list)
      if (std::hypot(p.x - q.x, p.y - q.y) < kMinDopantSeparationNm) return false;
  return true;
}

}  // namespace

Layout Layout::generate(const DeviceParameters& p, const std::string& key_prefix) {
  p.validate(key_prefix);
  Layout layout;
  layout.geometry = Geometry::from(p);
  layout.electrodes = place_electrodes(layout.geometry, p.electrodes, 0.5 * p.grid_spacing_nm, key_prefix);

  Rng acceptor_rng(p.layout_seed, "physics.layout.acceptors");
  Rng donor_rng(p.layout_seed, "physics.layout.donors");
  Rng disorder_rng(p.layout_seed, "physics.layout.disorder");
  const std::vector<Point> none;
  if (!p.acceptor_positions_nm.empty()) {
    layout.acceptors_nm = p.acceptor_positions_nm;
  } else {
    while (static_cast<int>(layout.acceptors_nm.size()) < p.acceptors) {
      const Point q = random_point(layout.geometry, acceptor_rng);
      if (far_from_all(q, layout.acceptors_nm, none)) layout.acceptors_nm.push_back(q);
    }
  }
  if (!p.donor_positions_nm.empty()) {
    layout.donors_nm = p.donor_positions_nm;
  } else {
    while (static_cast<int>(layout.donors_nm.size()) < p.donors) {
      const Point q = random_point(layout.geometry, donor_rng);
      if (far_from_all(q, layout.acceptors_nm, layout.donors_nm)) layout.donors_nm.push_back(q);
    }
  }
  layout.disorder_ev.resize(layout.acceptors_nm.size());
  for (double& d : layout.disorder_ev) d = p.disorder_ev * disorder_rng.normal();
  return layout;
}

Layout Layout::reordered(const std::vector<int>& order) const {
  if (order.size() != acceptors_nm.size())
    throw ArgumentError("cannot reorder layout: expected " + std::to_string(acceptors_nm.size()) +
                        " indices, got " + std::to_string(order.size()));
  std::vector<bool> seen(order.size(), false);
  Layout out = *this;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const int i = order[k];
    if (i < 0 || i >= static_cast<int>(order.size()) || seen[i])
      throw ArgumentError("cannot reorder layout: order is not a permutation");
    seen[i] = true;
    out.acceptors_nm[k] = acceptors_nm[i];
    out.disorder_ev[k] = disorder_ev[i];
  }
  return out;
}

}  // namespace brains::physics
