// Gradient descent (brains-py spec §10): trains the learnable parameters of any model built
// from DNPU layers (the control voltages; surrogates stay frozen) with Adam.
//
// Each epoch runs the training set in batches; the control voltages are kept in their ranges
// by the DNPUs' own methods: "clip" calls constraint_control_voltages() after every step,
// "regul" adds regul_factor · Σ regularizer() to the loss. The state with the lowest
// monitored loss is kept in memory and restored at the end: the validation loss, or without
// a validation set the training loss (taken from the step's own forward pass when the set
// is one batch, so it costs nothing), plus the penalty under "regul". Early stopping ends the
// run after `patience` epochs without an improvement of more than `min_delta`; an optional
// scheduler lowers the learning rate by steps or on plateaus.
//
// Fixed against upstream (§15.23–25): "clip" works on DNPUs (upstream called a missing
// constraint_weights); early stopping exists; the best model comes from memory (never from a
// stale file); no validation set is fine; the config is not mutated; no logger is required.
//
// Example:
//   auto options = GradientDescentOptions::from_config(configs.at("algorithm"));
//   auto forward = [&](const at::Tensor& x) { return dnpu->forward(x); };
//   auto result = train_gradient_descent(*dnpu, forward, {inputs, targets}, std::nullopt,
//                                        criterion("corrsig"), options);
//
// Raises: ArgumentError (empty or mismatched datasets, a criterion that is not
//         differentiable, a model without trainable parameters), ConfigError (from_config,
//         naming the key path), InterruptedError (SIGINT/SIGTERM; the best state is restored
//         first).
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/arg.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "brains/algorithms/criteria.h"
#include "brains/core/config.h"

namespace brains::algorithms {

struct Dataset {
  at::Tensor inputs;   // (points, …)
  at::Tensor targets;  // (points, …)
};

// Lowers the learning rate during training.
//   "step":    lr ·= gamma every step_size epochs;
//   "plateau": lr ·= factor after `patience` epochs without an improvement of the monitored
//              loss by more than `threshold`, never below min_lr.
struct SchedulerOptions {
  /* implicit */ SchedulerOptions(std::string type) : type_(std::move(type)) {}
  TORCH_ARG(std::string, type);
  TORCH_ARG(std::int64_t, step_size) = 100;
  TORCH_ARG(double, gamma) = 0.5;
  TORCH_ARG(double, factor) = 0.5;
  TORCH_ARG(std::int64_t, patience) = 10;
  TORCH_ARG(double, threshold) = 0.0;
  TORCH_ARG(double, min_lr) = 0.0;
};

struct GradientDescentOptions {
  TORCH_ARG(std::int64_t, epochs) = 100;
  // Adam (brains-py get_adam): learning_rate, betas, eps, weight_decay, amsgrad.
  TORCH_ARG(double, learning_rate) = 1e-3;
  TORCH_ARG(std::vector<double>, betas) = std::vector<double>{0.9, 0.999};
  TORCH_ARG(double, eps) = 1e-8;
  TORCH_ARG(double, weight_decay) = 0.0;
  TORCH_ARG(bool, amsgrad) = false;
  // "clip", "regul" or "none" (brains-py: constraint_control_voltages).
  TORCH_ARG(std::string, constraint) = "regul";
  // Weight of the regulariser under "regul" (brains-py read but ignored it: 1).
  TORCH_ARG(double, regul_factor) = 1.0;
  // Points per step; 0: the whole training set in one batch.
  TORCH_ARG(std::int64_t, batch_size) = 0;
  // Shuffle the training set every epoch (only matters with several batches).
  TORCH_ARG(bool, shuffle) = true;
  // Early stopping: stop after this many epochs without improvement (unset: never).
  TORCH_ARG(std::optional<std::int64_t>, patience) = std::nullopt;
  // An improvement must lower the monitored loss by more than this.
  TORCH_ARG(double, min_delta) = 0.0;
  TORCH_ARG(std::optional<SchedulerOptions>, scheduler) = std::nullopt;
  // Seeds the shuffling.
  TORCH_ARG(std::uint64_t, seed) = 0;
  // Restore the best state at the end (otherwise the last one stays).
  TORCH_ARG(bool, return_best_model) = true;
  // Progress bar on a terminal.
  TORCH_ARG(bool, progress) = true;

 public:  // TORCH_ARG leaves the section private
  // ArgumentError naming the bad value.
  void validate() const;
  // brains-py's keys: epochs, learning_rate, betas, eps (or epsilon), weight_decay, amsgrad,
  // constraint_control_voltages (or constraint), regul_factor, batch_size, return_best_model;
  // also shuffle, patience, min_delta, seed and scheduler {type, step_size, gamma, factor,
  // patience, threshold, min_lr}. Keys may also sit in a `hyperparameters` mapping (as in
  // surrogate training configs). optimizer must be "adam" when given; type and criterion are
  // left to the caller. Unknown keys are warned about.
  static GradientDescentOptions from_config(const Config& configs);
};

// Reported after each epoch.
struct EpochLog {
  std::int64_t epoch = 0;
  double train_loss = 0;           // mean criterion over the epoch's batches
  std::optional<double> val_loss;  // mean criterion on the validation set
  // Σ DNPU regularizers of the state `monitored` belongs to (0 under "clip": clipped).
  double regularizer = 0;
  double monitored = 0;  // what "best" and early stopping look at
  double learning_rate = 0;
  bool improved = false;
  std::int64_t best_epoch = 0;
};

struct GradientDescentResult {
  std::vector<double> train_losses;
  std::vector<double> val_losses;  // empty without a validation set
  std::vector<double> regularizer_history;
  std::vector<double> learning_rates;
  std::int64_t best_epoch = 0;
  double best_loss = 0;  // the monitored value at best_epoch
  std::int64_t epochs_run = 0;
  bool stopped_early = false;
  std::int64_t skipped_steps = 0;  // steps left out for non-finite gradients
  std::uint64_t seed = 0;
  double seconds = 0;
  std::string criterion;
  std::string constraint;
  // The model's output on the training inputs at the end (best state when restored), no grad.
  at::Tensor train_output;
  at::Tensor train_targets;  // as the criterion saw them (formatted for plateaus)
};

// Trains `model` through `forward` on `train`, validating on `validation` when given.
// `loss` must be differentiable; a fitness function (higher is better) is maximised.
GradientDescentResult train_gradient_descent(
    torch::nn::Module& model, const std::function<at::Tensor(const at::Tensor&)>& forward,
    const Dataset& train, const std::optional<Dataset>& validation, const Criterion& loss,
    const GradientDescentOptions& options, const std::function<void(const EpochLog&)>& logger = {});

}  // namespace brains::algorithms
