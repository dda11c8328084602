#include "brains/physics/model.h"

#include <cmath>
#include <string>

#include "brains/core/error.h"

namespace brains::physics {

HoppingModel::HoppingModel(const DeviceParameters& parameters, Layout layout)
    : parameters_(parameters), layout_(std::move(layout)) {
  electrostatics_ = std::make_shared<const Electrostatics>(parameters_, layout_);
  build();
}

HoppingModel::HoppingModel(const DeviceParameters& parameters, Layout layout,
                           std::shared_ptr<const Electrostatics> electrostatics)
    : parameters_(parameters), layout_(std::move(layout)), electrostatics_(std::move(electrostatics)) {
  if (!electrostatics_ || electrostatics_->electrode_count() != layout_.electrode_count())
    throw ArgumentError("cannot build the hopping model: electrostatics do not match the layout");
  build();
}

std::shared_ptr<const HoppingModel> HoppingModel::create(const DeviceParameters& parameters) {
  return std::make_shared<const HoppingModel>(parameters, Layout::generate(parameters));
}

double HoppingModel::current_unit_na() const noexcept {
  return kElementaryChargeC * parameters_.attempt_frequency_hz * 1e9;
}

namespace {
double distance(Point a, Point b) { return std::hypot(a.x - b.x, a.y - b.y); }
}  // namespace

double HoppingModel::distance_nm(int a, int b) const {
  const auto point = [&](int e) {
    if (e < 0 || e >= n_ + p_) throw ArgumentError("endpoint " + std::to_string(e) + " out of range");
    return e < n_ ? layout_.acceptors_nm[e] : layout_.electrodes[e - n_].position_nm;
  };
  return distance(point(a), point(b));
}

void HoppingModel::build() {
  n_ = layout_.acceptor_count();
  p_ = layout_.electrode_count();
  kt_ev_ = parameters_.kt_ev();
  if (static_cast<int>(layout_.disorder_ev.size()) != n_)
    throw ArgumentError("cannot build the hopping model: expected one disorder energy per acceptor");
  const double coulomb_kt_nm = kCoulombEvNm / parameters_.relative_permittivity / kt_ev_;
  const auto& acc = layout_.acceptors_nm;

  interaction_.assign(static_cast<std::size_t>(n_) * n_, 0.0);
  for (int i = 0; i < n_; ++i)
    for (int j = 0; j < n_; ++j)
      if (i != j) interaction_[static_cast<std::size_t>(i) * n_ + j] = coulomb_kt_nm / distance(acc[i], acc[j]);

  fixed_energy_.assign(n_, 0.0);
  for (int i = 0; i < n_; ++i) {
    double e = layout_.disorder_ev[i] / kt_ev_;
    for (const Point& d : layout_.donors_nm) e += coulomb_kt_nm / distance(acc[i], d);
    fixed_energy_[i] = e;
  }

  potential_basis_ = electrostatics_->basis_at(acc);
  boundary_basis_ = electrostatics_->boundary_basis_at(acc);

  const double r_min = parameters_.min_hop_distance_nm, r_max = parameters_.max_hop_distance_nm;
  const double a = parameters_.localization_length_nm;
  const int m = n_ + p_;
  pair_factor_.assign(static_cast<std::size_t>(m) * m, 0.0);
  acceptor_pairs_.clear();
  electrode_pairs_.clear();
  for (int i = 0; i < n_; ++i) {
    for (int j = i + 1; j < m; ++j) {
      if (j >= n_ && layout_.electrodes[j - n_].gate_only) continue;
      const double r = distance_nm(i, j);
      if (r < r_min || r > r_max) continue;
      const Pair pair{i, j, r, std::exp(-2 * r / a)};
      (j < n_ ? acceptor_pairs_ : electrode_pairs_).push_back(pair);
      pair_factor_[static_cast<std::size_t>(i) * m + j] = pair.distance_factor;
      pair_factor_[static_cast<std::size_t>(j) * m + i] = pair.distance_factor;
    }
  }
}

void HoppingModel::check(const Occupation& occupation, const std::vector<double>& voltages_v) const {
  if (static_cast<int>(occupation.size()) != n_)
    throw ArgumentError("expected an occupation of " + std::to_string(n_) + " acceptors, got " +
                        std::to_string(occupation.size()));
  if (static_cast<int>(voltages_v.size()) != p_)
    throw ArgumentError("expected " + std::to_string(p_) + " electrode voltages, got " +
                        std::to_string(voltages_v.size()));
}

std::vector<double> HoppingModel::constant_energies_kt(const std::vector<double>& voltages_v) const {
  if (static_cast<int>(voltages_v.size()) != p_)
    throw ArgumentError("expected " + std::to_string(p_) + " electrode voltages, got " +
                        std::to_string(voltages_v.size()));
  std::vector<double> out(n_);
  for (int i = 0; i < n_; ++i) {
    double phi = parameters_.boundary_potential_v * boundary_basis_[i];
    for (int k = 0; k < p_; ++k) phi += voltages_v[k] * potential_basis_[static_cast<std::size_t>(i) * p_ + k];
    out[i] = volts_to_kt(phi) + fixed_energy_[i];
  }
  return out;
}

std::vector<double> HoppingModel::site_energies_kt(const Occupation& occupation,
                                                   const std::vector<double>& voltages_v) const {
  check(occupation, voltages_v);
  std::vector<double> e = constant_energies_kt(voltages_v);
  for (int i = 0; i < n_; ++i)
    for (int j = 0; j < n_; ++j)
      if (j != i && !occupation[j]) e[i] -= interaction_kt(i, j);
  return e;
}

double HoppingModel::hop_energy_kt(int from, int to, const Occupation& occupation,
                                   const std::vector<double>& voltages_v) const {
  check(occupation, voltages_v);
  if (from < 0 || to < 0 || from >= n_ + p_ || to >= n_ + p_ || from == to)
    throw ArgumentError("invalid hop " + std::to_string(from) + " -> " + std::to_string(to));
  if (is_electrode(from) && is_electrode(to)) throw ArgumentError("no hops between electrodes");
  const auto e = site_energies_kt(occupation, voltages_v);
  const auto energy = [&](int endpoint) {
    return is_electrode(endpoint) ? volts_to_kt(voltages_v[endpoint - n_]) : e[endpoint];
  };
  double delta = energy(to) - energy(from);
  if (!is_electrode(from) && !is_electrode(to)) delta -= interaction_kt(from, to);
  return delta;
}

double HoppingModel::rate(int from, int to, const Occupation& occupation,
                          const std::vector<double>& voltages_v) const {
  check(occupation, voltages_v);
  if (from < 0 || to < 0 || from >= n_ + p_ || to >= n_ + p_ || from == to) return 0;
  const double factor = pair_factor_[static_cast<std::size_t>(from) * (n_ + p_) + to];
  if (factor == 0) return 0;
  if (!is_electrode(from) && !occupation[from]) return 0;
  if (!is_electrode(to) && occupation[to]) return 0;
  const double delta = hop_energy_kt(from, to, occupation, voltages_v);
  return factor * (delta > 0 ? std::exp(-delta) : 1.0);
}

std::vector<HoppingModel::Event> HoppingModel::events(const Occupation& occupation,
                                                      const std::vector<double>& voltages_v) const {
  check(occupation, voltages_v);
  const auto e = site_energies_kt(occupation, voltages_v);
  std::vector<Event> out;
  const auto add = [&](int from, int to, double factor, double delta) {
    out.push_back({from, to, factor * (delta > 0 ? std::exp(-delta) : 1.0)});
  };
  for (const Pair& pair : acceptor_pairs_) {
    const int i = pair.a, j = pair.b;
    if (occupation[i] == occupation[j]) continue;
    const int from = occupation[i] ? i : j, to = occupation[i] ? j : i;
    add(from, to, pair.distance_factor, e[to] - e[from] - interaction_kt(i, j));
  }
  for (const Pair& pair : electrode_pairs_) {
    const int i = pair.a;
    const double v = volts_to_kt(voltages_v[pair.b - n_]);
    if (occupation[i])
      add(i, pair.b, pair.distance_factor, v - e[i]);
    else
      add(pair.b, i, pair.distance_factor, e[i] - v);
  }
  return out;
}

double HoppingModel::energy_kt(const Occupation& occupation, const std::vector<double>& voltages_v) const {
  check(occupation, voltages_v);
  const auto c = constant_energies_kt(voltages_v);
  double h = 0;
  for (int i = 0; i < n_; ++i) {
    if (occupation[i]) h += c[i];
    for (int j = i + 1; j < n_; ++j)
      if (!occupation[i] && !occupation[j]) h += interaction_kt(i, j);
  }
  return h;
}

std::vector<double> HoppingModel::electrode_flux(const Occupation& occupation,
                                                 const std::vector<double>& voltages_v) const {
  std::vector<double> flux(p_, 0.0);
  for (const Event& event : events(occupation, voltages_v)) {
    if (is_electrode(event.to)) flux[event.to - n_] += event.rate;
    if (is_electrode(event.from)) flux[event.from - n_] -= event.rate;
  }
  return flux;
}

}  // namespace brains::physics
