// Ring data (brainspy-tasks §2.1): a disc of class 0 inside a ring of class 1, separated by a
// radial gap, on the [-1, 1] data scale (outer radius 1); and the contiguous split into
// training, validation and test sets.
//
// Construction as upstream: M = sample_no/2 points per class at the fixed angles
// θ_k = 2πk/M; x_k = a_k·cos θ_k and y_k = b_k·sin θ_k with a_k, b_k drawn independently from
// U(r_in, r_out), where class 0 has radii [0, (1−gap)/2] and class 1 [(1+gap)/2, 1]. Rows
// alternate class 0, class 1, …, each class in a random order (one permutation of sample_no).
// Draw order: permutation, class 0 x, class 0 y, class 1 x, class 1 y.
//
// Fixed against upstream (§6.12–14): one explicit seed (upstream used numpy's unseeded global
// state, so no dataset could be reproduced); split percentages are compared with a tolerance
// and the split points are kept even, so every split stays balanced and interleaved.
//
// Example:
//   RingDataset data = generate_ring_data(5000, 0.5, /*seed=*/1);
//   RingSplits parts = split_ring_data(data, {0.6, 0.2, 0.2});   // 3000 / 1000 / 1000
//
// Raises: ArgumentError (gap outside (0, 1), sample_no not a positive even number, split
//         percentages that are negative or do not sum to 1, an empty training or test set,
//         inputs and targets that do not fit).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "brains/algorithms/gradient_descent.h"

namespace brains::tasks {

struct RingDataset {
  at::Tensor inputs;   // (sample_no, 2) float32, in the unit disc
  at::Tensor targets;  // (sample_no, 1) float32: 0 inner disc, 1 outer ring
  double gap = 0;
  std::uint64_t seed = 0;
};

// ArgumentError unless 0 < gap < 1 (also for NaN).
void check_gap(double gap);

// Radii {inner disc max, outer ring min} for a gap: {(1−gap)/2, (1+gap)/2}.
std::pair<double, double> ring_radii(double gap);

RingDataset generate_ring_data(std::int64_t sample_no, double gap, std::uint64_t seed);

// ArgumentError naming the problem when inputs/targets are empty, not (n, 2)/(n, 1), or the
// targets are not 0/1.
void check_ring_dataset(const RingDataset& data);

struct RingSplits {
  algorithms::Dataset train;
  algorithms::Dataset validation;  // may be empty (0 rows)
  algorithms::Dataset test;
};

// Contiguous, unshuffled: train = [0, a), validation = [a, b), test = [b, n) with
// a = ⌊p0·n⌋ and b = ⌊(p0+p1)·n⌋, each rounded down to an even row so every split holds
// both classes equally. Percentages: 2 or 3 values summing to 1 (±1e-6); with 2 there is no
// validation set.
RingSplits split_ring_data(const RingDataset& data, const std::vector<double>& percentages);

}  // namespace brains::tasks
