#include "brains/physics/electrostatics.h"

#include <Eigen/SparseCholesky>
#include <Eigen/SparseCore>
#include <Eigen/SparseLU>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <string>

#include "brains/core/error.h"

namespace brains::physics {

namespace {
constexpr int kOutside = -1;
}  // namespace

struct Electrostatics::Impl {
  Geometry geometry;
  BoundaryCondition boundary_condition = BoundaryCondition::neumann;
  double boundary_potential_v = 0;
  int electrodes = 0;  // P; label P means "fixed boundary"

  int nx = 0, ny = 0;  // nodes per axis
  double x0 = 0, y0 = 0, dx = 0, dy = 0;
  std::vector<int> node_of;   // grid index → node id, or kOutside
  std::vector<int> label;     // node → -1 free, k in [0, P] Dirichlet (P: fixed boundary)
  std::vector<int> unknown;   // node → row in the free system, or -1
  std::vector<char> usable;   // node → 0 when cut off from every Dirichlet node (floating)
  std::vector<int> dirichlet_count;

  Eigen::SparseMatrix<double> a;  // free × free
  Eigen::SparseMatrix<double> b;  // free × (P + 1): coupling of each free node to each label
  // (nodes × (P + 1)) column-major: the basis at every node.
  std::vector<double> basis;

  int grid_index(int i, int j) const { return j * nx + i; }
  Point node_point(int i, int j) const { return {x0 + i * dx, y0 + j * dy}; }
  int node_count() const { return static_cast<int>(label.size()); }

  // Bilinear interpolation weights over the surrounding nodes inside the device,
  // renormalised; the nearest node inside when none of the four is.
  std::vector<std::pair<int, double>> weights(Point p) const;
  void build(const Layout& layout, double spacing);
  std::vector<double> interpolate(const std::vector<Point>& points, int column) const;
};

void Electrostatics::Impl::build(const Layout& layout, double spacing) {
  geometry = layout.geometry;
  electrodes = layout.electrode_count();
  const double hx = geometry.half_extent_x(), hy = geometry.half_extent_y();
  const int cells_x = std::max(2, static_cast<int>(std::ceil(2 * hx / spacing - 1e-9)));
  const int cells_y = std::max(2, static_cast<int>(std::ceil(2 * hy / spacing - 1e-9)));
  nx = cells_x + 1;
  ny = cells_y + 1;
  dx = 2 * hx / cells_x;
  dy = 2 * hy / cells_y;
  x0 = -hx;
  y0 = -hy;

  // Nodes inside (or on) the boundary.
  node_of.assign(static_cast<std::size_t>(nx) * ny, kOutside);
  std::vector<std::pair<int, int>> ij;
  const double tolerance = 1e-9 * std::min(dx, dy);
  for (int j = 0; j < ny; ++j)
    for (int i = 0; i < nx; ++i)
      if (geometry.contains(node_point(i, j), tolerance)) {
        node_of[grid_index(i, j)] = static_cast<int>(ij.size());
        ij.emplace_back(i, j);
      }
  const auto neighbour = [&](int i, int j) {
    return (i < 0 || j < 0 || i >= nx || j >= ny) ? kOutside : node_of[grid_index(i, j)];
  };
  const int di[4] = {1, -1, 0, 0}, dj[4] = {0, 0, 1, -1};

  // Labels: boundary nodes (a neighbour missing) inside an electrode segment are Dirichlet.
  const int n = static_cast<int>(ij.size());
  label.assign(n, -1);
  dirichlet_count.assign(electrodes, 0);
  for (int v = 0; v < n; ++v) {
    const auto [i, j] = ij[v];
    bool boundary = false;
    for (int d = 0; d < 4; ++d) boundary |= neighbour(i + di[d], j + dj[d]) == kOutside;
    if (!boundary) continue;
    const double s = geometry.boundary_coordinate(node_point(i, j));
    for (int k = 0; k < electrodes; ++k)
      if (geometry.boundary_distance(s, layout.electrodes[k].boundary_s_nm) <=
          0.5 * layout.electrodes[k].width_nm + 1e-9) {
        label[v] = k;
        ++dirichlet_count[k];
        break;
      }
    if (label[v] < 0 && boundary_condition == BoundaryCondition::fixed) label[v] = electrodes;
  }
  for (int k = 0; k < electrodes; ++k)
    if (dirichlet_count[k] == 0)
      throw Error("cannot set up electrostatics: electrode " + layout.electrodes[k].name +
                  " covers no grid node (make grid_spacing_nm smaller or the electrode wider)");

  // Link weights (finite volumes): the dual face length over the link length; half along
  // the straight sides of a rectangle, where the dual face is cut by the boundary.
  const bool rectangle = geometry.shape() == Shape::rectangle;
  const auto link_weight = [&](int i, int j, int d) {
    const bool along_x = d < 2;
    double w = along_x ? dy / dx : dx / dy;
    if (rectangle) {
      if (along_x && (j == 0 || j == ny - 1)) w *= 0.5;
      if (!along_x && (i == 0 || i == nx - 1)) w *= 0.5;
    }
    return w;
  };

  // Free nodes not connected to any Dirichlet node would float; drop them from the domain.
  std::vector<char> reached(n, 0);
  std::deque<int> queue;
  for (int v = 0; v < n; ++v)
    if (label[v] >= 0) {
      reached[v] = 1;
      queue.push_back(v);
    }
  while (!queue.empty()) {
    const int v = queue.front();
    queue.pop_front();
    const auto [i, j] = ij[v];
    for (int d = 0; d < 4; ++d) {
      const int u = neighbour(i + di[d], j + dj[d]);
      if (u != kOutside && !reached[u]) {
        reached[u] = 1;
        queue.push_back(u);
      }
    }
  }
  // With no Dirichlet node at all (Neumann and no electrodes) the potential is zero
  // everywhere; keep the nodes (they carry zero) for interpolation.
  const bool any_dirichlet = std::any_of(label.begin(), label.end(), [](int l) { return l >= 0; });
  unknown.assign(n, -1);
  usable.assign(n, 1);
  int free_count = 0;
  for (int v = 0; v < n; ++v) {
    if (label[v] < 0 && reached[v]) unknown[v] = free_count++;
    if (any_dirichlet && !reached[v]) usable[v] = 0;
  }

  const int columns = electrodes + 1;
  basis.assign(static_cast<std::size_t>(n) * columns, 0.0);
  for (int v = 0; v < n; ++v)
    if (label[v] >= 0) basis[static_cast<std::size_t>(label[v]) * n + v] = 1.0;
  if (!any_dirichlet || free_count == 0) return;

  std::vector<Eigen::Triplet<double>> a_entries, b_entries;
  a_entries.reserve(static_cast<std::size_t>(free_count) * 5);
  for (int v = 0; v < n; ++v) {
    const int row = unknown[v];
    if (row < 0) continue;
    const auto [i, j] = ij[v];
    double diagonal = 0;
    for (int d = 0; d < 4; ++d) {
      const int u = neighbour(i + di[d], j + dj[d]);
      if (u == kOutside) continue;
      const double w = link_weight(std::min(i, i + di[d]), std::min(j, j + dj[d]), d);
      diagonal += w;
      if (unknown[u] >= 0)
        a_entries.emplace_back(row, unknown[u], -w);
      else if (label[u] >= 0)
        b_entries.emplace_back(row, label[u], w);
    }
    a_entries.emplace_back(row, row, diagonal);
  }
  a.resize(free_count, free_count);
  a.setFromTriplets(a_entries.begin(), a_entries.end());
  b.resize(free_count, columns);
  b.setFromTriplets(b_entries.begin(), b_entries.end());

  Eigen::SimplicialLDLT<Eigen::SparseMatrix<double>> solver(a);
  if (solver.info() != Eigen::Success)
    throw Error("cannot set up electrostatics: the Laplace matrix could not be factorised");
  const Eigen::MatrixXd rhs = Eigen::MatrixXd(b);
  const Eigen::MatrixXd x = solver.solve(rhs);
  for (int v = 0; v < n; ++v)
    if (unknown[v] >= 0)
      for (int c = 0; c < columns; ++c) basis[static_cast<std::size_t>(c) * n + v] = x(unknown[v], c);
}

std::vector<std::pair<int, double>> Electrostatics::Impl::weights(Point p) const {
  const double fx = (p.x - x0) / dx, fy = (p.y - y0) / dy;
  const int i0 = std::clamp(static_cast<int>(std::floor(fx)), 0, nx - 2);
  const int j0 = std::clamp(static_cast<int>(std::floor(fy)), 0, ny - 2);
  const double tx = std::clamp(fx - i0, 0.0, 1.0), ty = std::clamp(fy - j0, 0.0, 1.0);
  std::vector<std::pair<int, double>> out;
  double total = 0;
  for (int c = 0; c < 4; ++c) {
    const int i = i0 + (c & 1), j = j0 + (c >> 1);
    const int v = node_of[grid_index(i, j)];
    if (v == kOutside || !usable[v]) continue;
    const double w = ((c & 1) ? tx : 1 - tx) * ((c >> 1) ? ty : 1 - ty);
    out.emplace_back(v, w);
    total += w;
  }
  if (total > 1e-12) {
    for (auto& [v, w] : out) w /= total;
    return out;
  }
  // No usable corner: the nearest node inside.
  int best = -1;
  double best_d = std::numeric_limits<double>::infinity();
  const int ic = std::clamp(static_cast<int>(std::lround(fx)), 0, nx - 1);
  const int jc = std::clamp(static_cast<int>(std::lround(fy)), 0, ny - 1);
  for (int r = 1; best < 0 && r < std::max(nx, ny); ++r)
    for (int j = std::max(0, jc - r); j <= std::min(ny - 1, jc + r); ++j)
      for (int i = std::max(0, ic - r); i <= std::min(nx - 1, ic + r); ++i) {
        const int v = node_of[grid_index(i, j)];
        if (v == kOutside || !usable[v]) continue;
        const Point q = node_point(i, j);
        const double d = std::hypot(q.x - p.x, q.y - p.y);
        if (d < best_d) {
          best_d = d;
          best = v;
        }
      }
  if (best < 0) throw Error("cannot interpolate the potential: no grid node inside the device");
  return {{best, 1.0}};
}

std::vector<double> Electrostatics::Impl::interpolate(const std::vector<Point>& points, int column) const {
  std::vector<double> out(points.size(), 0.0);
  const std::size_t n = label.size();
  for (std::size_t q = 0; q < points.size(); ++q)
    for (const auto& [v, w] : weights(points[q])) out[q] += w * basis[column * n + v];
  return out;
}

Electrostatics::Electrostatics(const Layout& layout, BoundaryCondition boundary_condition,
                               double boundary_potential_v, double grid_spacing_nm)
    : impl_(std::make_unique<Impl>()) {
  impl_->boundary_condition = boundary_condition;
  impl_->boundary_potential_v = boundary_potential_v;
  impl_->build(layout, grid_spacing_nm);
}

Electrostatics::Electrostatics(const DeviceParameters& p, const Layout& layout)
    : Electrostatics(layout, p.boundary_condition, p.boundary_potential_v, p.grid_spacing_nm) {}

Electrostatics::~Electrostatics() = default;
Electrostatics::Electrostatics(Electrostatics&&) noexcept = default;
Electrostatics& Electrostatics::operator=(Electrostatics&&) noexcept = default;

int Electrostatics::electrode_count() const { return impl_->electrodes; }
int Electrostatics::node_count() const { return impl_->node_count(); }
int Electrostatics::dirichlet_node_count(int electrode) const {
  return impl_->dirichlet_count.at(electrode);
}

std::vector<double> Electrostatics::basis_at(const std::vector<Point>& points) const {
  const int p = impl_->electrodes;
  std::vector<double> out(points.size() * p);
  for (int k = 0; k < p; ++k) {
    const auto column = impl_->interpolate(points, k);
    for (std::size_t q = 0; q < points.size(); ++q) out[q * p + k] = column[q];
  }
  return out;
}

std::vector<double> Electrostatics::boundary_basis_at(const std::vector<Point>& points) const {
  return impl_->interpolate(points, impl_->electrodes);
}

namespace {
void check_voltages(const std::vector<double>& voltages_v, int electrodes) {
  if (static_cast<int>(voltages_v.size()) != electrodes)
    throw ArgumentError("cannot compute the potential: expected " + std::to_string(electrodes) +
                        " electrode voltages, got " + std::to_string(voltages_v.size()));
}
}  // namespace

std::vector<double> Electrostatics::potential_at(const std::vector<Point>& points,
                                                 const std::vector<double>& voltages_v) const {
  check_voltages(voltages_v, impl_->electrodes);
  const int p = impl_->electrodes;
  const auto basis = basis_at(points);
  const auto background = boundary_basis_at(points);
  std::vector<double> out(points.size());
  for (std::size_t q = 0; q < points.size(); ++q) {
    double phi = impl_->boundary_potential_v * background[q];
    for (int k = 0; k < p; ++k) phi += voltages_v[k] * basis[q * p + k];
    out[q] = phi;
  }
  return out;
}

std::vector<double> Electrostatics::solve_direct(const std::vector<Point>& points,
                                                 const std::vector<double>& voltages_v) const {
  check_voltages(voltages_v, impl_->electrodes);
  const Impl& m = *impl_;
  const int n = m.node_count();
  std::vector<double> values(n, 0.0);
  const auto dirichlet_value = [&](int l) { return l < m.electrodes ? voltages_v[l] : m.boundary_potential_v; };
  for (int v = 0; v < n; ++v)
    if (m.label[v] >= 0) values[v] = dirichlet_value(m.label[v]);
  if (m.a.rows() > 0) {
    Eigen::VectorXd label_values(m.electrodes + 1);
    for (int l = 0; l <= m.electrodes; ++l) label_values[l] = dirichlet_value(l);
    const Eigen::VectorXd rhs = m.b * label_values;
    Eigen::SparseLU<Eigen::SparseMatrix<double>> solver;
    solver.analyzePattern(m.a);
    solver.factorize(m.a);
    if (solver.info() != Eigen::Success) throw Error("cannot solve the Laplace problem: factorisation failed");
    const Eigen::VectorXd x = solver.solve(rhs);
    for (int v = 0; v < n; ++v)
      if (m.unknown[v] >= 0) values[v] = x[m.unknown[v]];
  }
  std::vector<double> out(points.size(), 0.0);
  for (std::size_t q = 0; q < points.size(); ++q)
    for (const auto& [v, w] : m.weights(points[q])) out[q] += w * values[v];
  return out;
}

GridField Electrostatics::potential_on_grid(const std::vector<double>& voltages_v) const {
  check_voltages(voltages_v, impl_->electrodes);
  const Impl& m = *impl_;
  GridField field;
  field.nx = m.nx;
  field.ny = m.ny;
  field.x0_nm = m.x0;
  field.y0_nm = m.y0;
  field.dx_nm = m.dx;
  field.dy_nm = m.dy;
  field.values.assign(static_cast<std::size_t>(m.nx) * m.ny, std::numeric_limits<double>::quiet_NaN());
  const std::size_t n = m.label.size();
  for (int g = 0; g < m.nx * m.ny; ++g) {
    const int v = m.node_of[g];
    if (v == kOutside) continue;
    double phi = m.boundary_potential_v * m.basis[m.electrodes * n + v];
    for (int k = 0; k < m.electrodes; ++k) phi += voltages_v[k] * m.basis[k * n + v];
    field.values[g] = phi;
  }
  return field;
}

}  // namespace brains::physics
