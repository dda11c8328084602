#include "brains/physics/device_parameters.h"

#include <cmath>
#include <sstream>

#include "brains/core/error.h"
#include "brains/physics/layout.h"

namespace brains::physics {

namespace {

std::string join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

std::string number_text(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

Config item(const Config& list, std::size_t i) {
  return Config(list.node()[i], list.key_path() + "[" + std::to_string(i) + "]");
}

Point point_from(const Config& value) {
  const auto xy = value.as<std::vector<double>>();
  if (xy.size() != 2)
    throw ConfigError(value.key_path(),
                      "expected a point [x, y] in nm, got a list of " + std::to_string(xy.size()));
  return {xy[0], xy[1]};
}

std::vector<Point> points_from(const Config& value) {
  if (!value.node().IsSequence()) throw ConfigError(value.key_path(), "expected a list of [x, y] points");
  std::vector<Point> out;
  for (std::size_t i = 0; i < value.node().size(); ++i) out.push_back(point_from(item(value, i)));
  return out;
}

const std::vector<std::string>& electrode_keys() {
  static const std::vector<std::string> keys{"angle_deg", "position_nm", "width_nm", "gate_only",
                                             "name"};
  return keys;
}

ElectrodeParameters electrode_from(const Config& value, double default_width_nm) {
  if (!value.node().IsMap())
    throw ConfigError(value.key_path(),
                      "expected a mapping with angle_deg or position_nm (and width_nm, gate_only)");
  value.warn_unknown_keys(electrode_keys());
  ElectrodeParameters out;
  if (value.has("angle_deg")) out.angle_deg = value.get<double>("angle_deg");
  if (value.has("position_nm")) out.position_nm = point_from(value.at("position_nm"));
  out.width_nm = value.get<double>("width_nm", default_width_nm);
  out.gate_only = value.get<bool>("gate_only", false);
  out.name = value.get<std::string>("name", "");
  return out;
}

void require(bool ok, const std::string& key, const std::string& message) {
  if (!ok) throw ConfigError(key, message);
}

}  // namespace

std::string to_string(Shape shape) { return shape == Shape::disk ? "disk" : "rectangle"; }
std::string to_string(BoundaryCondition condition) {
  return condition == BoundaryCondition::neumann ? "neumann" : "fixed";
}

std::vector<ElectrodeParameters> DeviceParameters::default_electrodes(int n, double width_nm) {
  std::vector<ElectrodeParameters> out(n > 0 ? n : 0);
  for (int k = 0; k < n; ++k) {
    out[k].angle_deg = 360.0 * k / n;
    out[k].width_nm = width_nm;
  }
  return out;
}

DeviceParameters DeviceParameters::preset(std::string_view name, const std::string& key_prefix) {
  DeviceParameters p;  // the defaults are the "default" preset
  if (name == "default") return p;
  if (name == "small") {
    // kmc_dn's thesis device: a square, 30 acceptors, 3 donors, electrodes at (0, 1/4),
    // (0, 3/4), (1, 1/4), (1, 3/4), (1/4, 0), (3/4, 0), (1/4, 1), (3/4, 1) of the unit square.
    // 100 nm sides give the default's acceptor density (mean spacing ~18 nm).
    p.shape = Shape::rectangle;
    p.width_nm = 100;
    p.height_nm = 100;
    p.acceptors = 30;
    p.donors = 3;
    p.grid_spacing_nm = 1;
    const double unit[8][2] = {{0, 0.25}, {0, 0.75}, {1, 0.25}, {1, 0.75},
                               {0.25, 0}, {0.75, 0}, {0.25, 1}, {0.75, 1}};
    p.electrodes.clear();
    for (const auto& xy : unit) {
      ElectrodeParameters e;
      e.position_nm = Point{(xy[0] - 0.5) * p.width_nm, (xy[1] - 0.5) * p.height_nm};
      e.width_nm = 20;
      p.electrodes.push_back(e);
    }
    return p;
  }
  throw ConfigError(join(key_prefix, "preset"),
                    "unknown preset '" + std::string(name) + "' (expected default or small)");
}

const std::vector<std::string>& DeviceParameters::known_keys() {
  static const std::vector<std::string> keys{
      "preset", "shape", "radius_nm", "width_nm", "height_nm", "acceptors", "donors",
      "layout_seed", "acceptor_positions_nm", "donor_positions_nm", "temperature_k",
      "relative_permittivity", "localization_length_nm", "min_hop_distance_nm",
      "max_hop_distance_nm", "disorder_ev", "attempt_frequency_hz", "boundary_condition",
      "boundary_potential_v", "grid_spacing_nm", "electrode_width_nm", "electrodes"};
  return keys;
}

DeviceParameters DeviceParameters::from_config(const Config& config) {
  const std::string prefix = config.key_path();
  if (!config.node().IsMap() && config.node().IsDefined() && !config.node().IsNull())
    throw ConfigError(prefix.empty() ? "<root>" : prefix, "expected a mapping of device parameters");
  config.warn_unknown_keys(known_keys());
  DeviceParameters p = preset(config.get<std::string>("preset", "default"), prefix);

  if (config.has("shape")) {
    const auto shape = config.get<std::string>("shape");
    if (shape == "disk")
      p.shape = Shape::disk;
    else if (shape == "rectangle")
      p.shape = Shape::rectangle;
    else
      throw ConfigError(config.key_path("shape"),
                        "unknown shape '" + shape + "' (expected disk or rectangle)");
  }
  p.radius_nm = config.get<double>("radius_nm", p.radius_nm);
  p.width_nm = config.get<double>("width_nm", p.width_nm);
  p.height_nm = config.get<double>("height_nm", p.height_nm);

  if (config.has("acceptor_positions_nm")) {
    p.acceptor_positions_nm = points_from(config.at("acceptor_positions_nm"));
    p.acceptors = static_cast<int>(p.acceptor_positions_nm.size());
  }
  if (config.has("donor_positions_nm")) {
    p.donor_positions_nm = points_from(config.at("donor_positions_nm"));
    p.donors = static_cast<int>(p.donor_positions_nm.size());
  }
  p.acceptors = config.get<int>("acceptors", p.acceptors);
  p.donors = config.get<int>("donors", p.donors);
  if (config.has("layout_seed")) {
    const auto seed = config.get<std::int64_t>("layout_seed");
    require(seed >= 0, config.key_path("layout_seed"),
            "expected a non-negative integer, got " + std::to_string(seed));
    p.layout_seed = static_cast<std::uint64_t>(seed);
  }

  p.temperature_k = config.get<double>("temperature_k", p.temperature_k);
  p.relative_permittivity = config.get<double>("relative_permittivity", p.relative_permittivity);
  p.localization_length_nm = config.get<double>("localization_length_nm", p.localization_length_nm);
  p.min_hop_distance_nm = config.get<double>("min_hop_distance_nm", p.min_hop_distance_nm);
  p.max_hop_distance_nm = config.get<double>("max_hop_distance_nm", p.max_hop_distance_nm);
  p.disorder_ev = config.get<double>("disorder_ev", p.disorder_ev);
  p.attempt_frequency_hz = config.get<double>("attempt_frequency_hz", p.attempt_frequency_hz);

  if (config.has("boundary_condition")) {
    const auto bc = config.get<std::string>("boundary_condition");
    if (bc == "neumann")
      p.boundary_condition = BoundaryCondition::neumann;
    else if (bc == "fixed")
      p.boundary_condition = BoundaryCondition::fixed;
    else
      throw ConfigError(config.key_path("boundary_condition"),
                        "unknown boundary condition '" + bc + "' (expected neumann or fixed)");
  }
  p.boundary_potential_v = config.get<double>("boundary_potential_v", p.boundary_potential_v);
  p.grid_spacing_nm = config.get<double>("grid_spacing_nm", p.grid_spacing_nm);

  const bool width_given = config.has("electrode_width_nm");
  const double electrode_width =
      config.get<double>("electrode_width_nm", p.electrodes.empty() ? 60.0 : p.electrodes[0].width_nm);
  if (config.has("electrodes")) {
    const Config list = config.at("electrodes");
    if (list.node().IsScalar()) {
      // `electrodes: 6` — that many, evenly spaced in angle.
      const int n = list.as<int>();
      require(n >= 0, list.key_path(), "expected a non-negative number of electrodes, got " +
                                           std::to_string(n));
      p.electrodes = default_electrodes(n, electrode_width);
    } else {
      if (!list.node().IsSequence())
        throw ConfigError(list.key_path(), "expected a list of electrodes or their number");
      p.electrodes.clear();
      for (std::size_t i = 0; i < list.node().size(); ++i)
        p.electrodes.push_back(electrode_from(item(list, i), electrode_width));
    }
  } else if (width_given) {
    for (auto& e : p.electrodes) e.width_nm = electrode_width;
  }

  p.validate(prefix);
  return p;
}

int DeviceParameters::acceptor_count() const {
  return acceptor_positions_nm.empty() ? acceptors : static_cast<int>(acceptor_positions_nm.size());
}
int DeviceParameters::donor_count() const {
  return donor_positions_nm.empty() ? donors : static_cast<int>(donor_positions_nm.size());
}

double DeviceParameters::kt_ev() const { return kBoltzmannEvPerK * temperature_k; }

void DeviceParameters::validate(const std::string& prefix) const {
  const auto key = [&](const std::string& name) { return join(prefix, name); };
  const auto positive = [&](double value, const std::string& name) {
    require(std::isfinite(value) && value > 0, key(name),
            "expected a positive number, got " + number_text(value));
  };
  if (shape == Shape::disk) {
    positive(radius_nm, "radius_nm");
  } else {
    positive(width_nm, "width_nm");
    positive(height_nm, "height_nm");
  }
  require(acceptor_count() >= 1, key("acceptors"),
          "expected at least one acceptor, got " + std::to_string(acceptor_count()));
  require(acceptor_positions_nm.empty() || acceptors == acceptor_count(), key("acceptors"),
          "expected " + std::to_string(acceptor_count()) + " to match acceptor_positions_nm, got " +
              std::to_string(acceptors));
  require(donor_positions_nm.empty() || donors == donor_count(), key("donors"),
          "expected " + std::to_string(donor_count()) + " to match donor_positions_nm, got " +
              std::to_string(donors));
  require(donor_count() >= 0, key("donors"),
          "expected a non-negative number, got " + std::to_string(donor_count()));
  require(donor_count() <= acceptor_count(), key("donors"),
          "cannot have more donors than acceptors: " + std::to_string(donor_count()) + " donors, " +
              std::to_string(acceptor_count()) + " acceptors");

  positive(temperature_k, "temperature_k");
  positive(relative_permittivity, "relative_permittivity");
  positive(localization_length_nm, "localization_length_nm");
  require(std::isfinite(min_hop_distance_nm) && min_hop_distance_nm >= 0, key("min_hop_distance_nm"),
          "expected a non-negative number, got " + number_text(min_hop_distance_nm));
  positive(max_hop_distance_nm, "max_hop_distance_nm");
  require(min_hop_distance_nm < max_hop_distance_nm, key("min_hop_distance_nm"),
          "expected less than max_hop_distance_nm (" + number_text(max_hop_distance_nm) + "), got " +
              number_text(min_hop_distance_nm));
  require(std::isfinite(disorder_ev) && disorder_ev >= 0, key("disorder_ev"),
          "expected a non-negative number, got " + number_text(disorder_ev));
  positive(attempt_frequency_hz, "attempt_frequency_hz");
  require(std::isfinite(boundary_potential_v), key("boundary_potential_v"),
          "expected a finite number, got " + number_text(boundary_potential_v));
  positive(grid_spacing_nm, "grid_spacing_nm");

  const Geometry geometry = Geometry::from(*this);
  const double smallest = std::min(2 * geometry.half_extent_x(), 2 * geometry.half_extent_y());
  require(grid_spacing_nm <= smallest / 8, key("grid_spacing_nm"),
          "expected at most 1/8 of the device size (" + number_text(smallest / 8) + " nm), got " +
              number_text(grid_spacing_nm));
  const double nodes = (2 * geometry.half_extent_x() / grid_spacing_nm + 1) *
                       (2 * geometry.half_extent_y() / grid_spacing_nm + 1);
  require(nodes <= 4e6, key("grid_spacing_nm"),
          "grid of " + number_text(nodes) + " nodes is too fine (at most 4e6); got " +
              number_text(grid_spacing_nm));

  for (std::size_t i = 0; i < acceptor_positions_nm.size(); ++i)
    require(geometry.contains(acceptor_positions_nm[i], 1e-9),
            key("acceptor_positions_nm[" + std::to_string(i) + "]"), "position lies outside the device");
  for (std::size_t i = 0; i < donor_positions_nm.size(); ++i)
    require(geometry.contains(donor_positions_nm[i], 1e-9),
            key("donor_positions_nm[" + std::to_string(i) + "]"), "position lies outside the device");

  // Explicit dopants must not coincide (their Coulomb energy would be infinite).
  std::vector<std::pair<Point, std::string>> dopants;
  for (std::size_t i = 0; i < acceptor_positions_nm.size(); ++i)
    dopants.emplace_back(acceptor_positions_nm[i], key("acceptor_positions_nm[" + std::to_string(i) + "]"));
  for (std::size_t i = 0; i < donor_positions_nm.size(); ++i)
    dopants.emplace_back(donor_positions_nm[i], key("donor_positions_nm[" + std::to_string(i) + "]"));
  for (std::size_t i = 0; i < dopants.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      require(std::hypot(dopants[i].first.x - dopants[j].first.x, dopants[i].first.y - dopants[j].first.y) >= 0.1,
              dopants[i].second, "lies within 0.1 nm of " + dopants[j].second.substr(prefix.empty() ? 0 : prefix.size() + 1));

  // Positions on the boundary, segments not overlapping.
  place_electrodes(geometry, electrodes, 0.5 * grid_spacing_nm, prefix);
  for (std::size_t i = 0; i < electrodes.size(); ++i)
    require(electrodes[i].width_nm >= grid_spacing_nm,
            key("electrodes[" + std::to_string(i) + "].width_nm"),
            "expected at least grid_spacing_nm (" + number_text(grid_spacing_nm) + "), got " +
                number_text(electrodes[i].width_nm));
}

}  // namespace brains::physics
