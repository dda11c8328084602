// Boolean-gate data (brainspy-tasks §1.1): the ten fixed 2-D points, every dichotomy of
// the first N of them, and gates by name or by label string.
//
// Raises: ArgumentError (N outside 1..10, unknown gate name, bad label string).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace brains::tasks {

// The first `n` of brainspy-tasks' ten points, (n, 2) float32, nominally in [-1, 1].
// Points 0..3 are the corners 00, 01, 10, 11 of the 2-input gates.
at::Tensor boolean_points(std::int64_t n);

// All 2^n − 2 non-constant labelings of n points, (2^n − 2, n) float32, row k−1 being
// the binary expansion of k (most significant bit = point 0), as brainspy-tasks orders them.
at::Tensor all_dichotomies(std::int64_t n);

// Labels of a 2-input gate by name (AND, OR, NAND, NOR, XOR, XNOR; any case), (4,) float32.
at::Tensor gate_by_name(const std::string& name);

// Labels from a string of '0'/'1' such as "0110"; its length is the number of points.
at::Tensor gate_from_labels(const std::string& labels);

// A gate given either way: a known name, or a label string.
at::Tensor parse_gate(const std::string& gate);

// "0110" for a (n,) label tensor; names directories and results.
std::string gate_label_string(const at::Tensor& labels);

}  // namespace brains::tasks
