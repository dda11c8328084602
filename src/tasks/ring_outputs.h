// What the ring tasks write into their run directories (private to src/tasks).
#pragma once

#include "brains/algorithms/run_outputs.h"
#include "brains/tasks/ring.h"

namespace brains::tasks {

// Summary numbers, per-split arrays and plots (input, outputs, training_profile) of one run.
algorithms::RunOutputs ring_run_outputs(const RingRunResult& run, const RingDataset& data,
                                        const RingOptions& options);
// Per-run statistics of a search, plus the best run's arrays and plots.
algorithms::RunOutputs ring_search_outputs(const RingSearchResult& search, const RingDataset& data,
                                           const RingOptions& options);

// x/y values of a tensor as doubles.
std::vector<double> ring_values(const at::Tensor& t);

}  // namespace brains::tasks
