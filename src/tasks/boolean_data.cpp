#include "brains/tasks/boolean_data.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>

#include "brains/core/error.h"

namespace brains::tasks {

namespace {

constexpr std::int64_t kMaxPoints = 10;
// brainspy-tasks' point set (an affine map, 1.25·x + 0.375, of its original set).
constexpr std::array<float, kMaxPoints> kX{-0.5f, -0.5f, 1.0f, 1.0f, -0.0625f,
                                           0.6875f, 0.375f, 0.375f, -1.0f, 0.8125f};
constexpr std::array<float, kMaxPoints> kY{-0.5f, 1.0f, -0.5f, 1.0f, 0.375f,
                                           0.375f, -0.0625f, 0.6875f, 0.8125f, -1.0f};

std::string upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

}  // namespace

at::Tensor boolean_points(std::int64_t n) {
  if (n < 1 || n > kMaxPoints)
    throw ArgumentError("cannot build boolean points: N must be in 1..10, got " + std::to_string(n));
  at::Tensor points = at::empty({n, 2}, at::kFloat);
  for (std::int64_t i = 0; i < n; ++i) {
    points[i][0] = kX[i];
    points[i][1] = kY[i];
  }
  return points;
}

at::Tensor all_dichotomies(std::int64_t n) {
  if (n < 2 || n > kMaxPoints)
    throw ArgumentError("cannot build dichotomies: N must be in 2..10, got " + std::to_string(n));
  const std::int64_t count = (std::int64_t{1} << n) - 2;
  at::Tensor labels = at::empty({count, n}, at::kFloat);
  auto view = labels.accessor<float, 2>();
  for (std::int64_t k = 1; k <= count; ++k)
    for (std::int64_t j = 0; j < n; ++j) view[k - 1][j] = static_cast<float>((k >> (n - 1 - j)) & 1);
  return labels;
}

at::Tensor gate_by_name(const std::string& name) {
  static const std::map<std::string, std::string> gates{{"AND", "0001"},  {"OR", "0111"},
                                                        {"NAND", "1110"}, {"NOR", "1000"},
                                                        {"XOR", "0110"},  {"XNOR", "1001"}};
  const auto found = gates.find(upper(name));
  if (found == gates.end())
    throw ArgumentError("unknown gate '" + name +
                        "' (valid: AND, OR, NAND, NOR, XOR, XNOR, or labels such as 0110)");
  return gate_from_labels(found->second);
}

at::Tensor gate_from_labels(const std::string& labels) {
  const auto n = static_cast<std::int64_t>(labels.size());
  if (n < 2 || n > kMaxPoints)
    throw ArgumentError("cannot read gate labels '" + labels + "': expected 2 to 10 digits");
  at::Tensor out = at::empty({n}, at::kFloat);
  for (std::int64_t i = 0; i < n; ++i) {
    if (labels[i] != '0' && labels[i] != '1')
      throw ArgumentError("cannot read gate labels '" + labels + "': only 0 and 1 are allowed");
    out[i] = labels[i] == '1' ? 1.0f : 0.0f;
  }
  if (out.min().item<float>() == out.max().item<float>())
    throw ArgumentError("cannot use gate labels '" + labels + "': a constant gate has nothing to learn");
  return out;
}

at::Tensor parse_gate(const std::string& gate) {
  const bool digits = !gate.empty() && std::all_of(gate.begin(), gate.end(),
                                                   [](unsigned char c) { return std::isdigit(c); });
  return digits ? gate_from_labels(gate) : gate_by_name(gate);
}

std::string gate_label_string(const at::Tensor& labels) {
  std::string text;
  const at::Tensor flat = labels.flatten().to(at::kFloat);
  for (std::int64_t i = 0; i < flat.size(0); ++i) text += flat[i].item<float>() > 0.5f ? '1' : '0';
  return text;
}

}  // namespace brains::tasks
