#include "brains/algorithms/gradient_descent.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "brains/algorithms/adam.h"
#include "brains/core/error.h"
#include "brains/core/interrupt.h"
#include "brains/core/log.h"
#include "brains/core/progress.h"
#include "brains/core/seed.h"
#include "brains/modules/dnpu.h"
#include "brains/processors/processor.h"
#include "brains/processors/surrogate_model.h"

namespace brains::algorithms {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string shape_text(const at::Tensor& t) {
  return t.defined() ? fmt::format("({})", fmt::join(t.sizes(), ", ")) : "undefined";
}

void check_dataset(const Dataset& data, const char* name) {
  if (!data.inputs.defined() || !data.targets.defined() || data.inputs.dim() == 0 ||
      data.inputs.size(0) == 0)
    throw ArgumentError(std::string("cannot train by gradient descent: the ") + name + " is empty");
  if (data.targets.dim() == 0 || data.targets.size(0) != data.inputs.size(0))
    throw ArgumentError(fmt::format(
        "cannot train by gradient descent: the {} has inputs {} but targets {} (one row per point)",
        name, shape_text(data.inputs), shape_text(data.targets)));
}

// Every DNPU layer of the model, the model itself included.
std::vector<modules::DNPUImpl*> find_dnpus(torch::nn::Module& model) {
  std::vector<modules::DNPUImpl*> out;
  if (auto* self = dynamic_cast<modules::DNPUImpl*>(&model)) out.push_back(self);
  for (const auto& child : model.modules(/*include_self=*/false))
    if (auto dnpu = std::dynamic_pointer_cast<modules::DNPUImpl>(child)) out.push_back(dnpu.get());
  return out;
}

// The tensors that training can change, copied into preallocated storage on every
// improvement: the trainable parameters, and the floating-point buffers of modules other
// than DNPUs, processors and surrogates (whose buffers are fixed settings), e.g. batch-norm
// statistics.
class Snapshot {
 public:
  explicit Snapshot(torch::nn::Module& model) {
    for (const auto& parameter : model.parameters())
      if (parameter.requires_grad()) live_.push_back(parameter);
    std::vector<torch::nn::Module*> owners{&model};
    for (const auto& child : model.modules(/*include_self=*/false)) owners.push_back(child.get());
    for (torch::nn::Module* owner : owners) {
      if (dynamic_cast<modules::DNPUImpl*>(owner) ||
          dynamic_cast<processors::ProcessorImpl*>(owner) ||
          dynamic_cast<processors::SurrogateModelImpl*>(owner))
        continue;
      for (const auto& buffer : owner->buffers(/*recurse=*/false))
        if (buffer.defined() && buffer.is_floating_point()) live_.push_back(buffer);
    }
    for (const auto& tensor : live_) saved_.push_back(at::empty_like(tensor));
  }
  void take() {
    at::NoGradGuard no_grad;
    for (std::size_t i = 0; i < live_.size(); ++i) {
      if (!saved_[i].sizes().equals(live_[i].sizes())) saved_[i] = at::empty_like(live_[i]);
      saved_[i].copy_(live_[i]);
    }
    taken_ = true;
  }
  void restore() {
    if (!taken_) return;
    at::NoGradGuard no_grad;
    for (std::size_t i = 0; i < live_.size(); ++i) {
      if (live_[i].sizes().equals(saved_[i].sizes()))
        live_[i].copy_(saved_[i]);
      else
        live_[i].set_(saved_[i].clone());
    }
  }

 private:
  std::vector<at::Tensor> live_;
  std::vector<at::Tensor> saved_;
  bool taken_ = false;
};

// Upstream lowered nothing; these follow torch's StepLR and ReduceLROnPlateau.
class Scheduler {
 public:
  Scheduler(const std::optional<SchedulerOptions>& options, double learning_rate)
      : options_(options), learning_rate_(learning_rate) {}
  // Returns the learning rate for the next epoch.
  double after_epoch(std::int64_t epoch, double monitored) {
    if (!options_) return learning_rate_;
    if (options_->type() == "step") {
      if ((epoch + 1) % options_->step_size() == 0) learning_rate_ *= options_->gamma();
    } else if (monitored < best_ - options_->threshold()) {
      best_ = monitored;
      bad_epochs_ = 0;
    } else if (++bad_epochs_ > options_->patience()) {
      learning_rate_ = std::max(learning_rate_ * options_->factor(), options_->min_lr());
      bad_epochs_ = 0;
    }
    return learning_rate_;
  }

 private:
  std::optional<SchedulerOptions> options_;
  double learning_rate_;
  double best_ = kInf;
  std::int64_t bad_epochs_ = 0;
};

// Targets as the model's outputs come: repeated per plateau sample when a DNPU's processor
// does not average plateaus (brains-py's format_targets).
at::Tensor match_targets(const at::Tensor& prediction, const at::Tensor& targets,
                         const std::vector<modules::DNPUImpl*>& dnpus) {
  at::Tensor out = targets;
  if (prediction.dim() > 0 && out.size(0) != prediction.size(0) && !dnpus.empty())
    out = dnpus.front()->format_targets(out);
  if (prediction.dim() == 0 || out.size(0) != prediction.size(0))
    throw ArgumentError(
        fmt::format("cannot train by gradient descent: the model gives {} for targets {}",
                    shape_text(prediction), shape_text(targets)));
  return out;
}

at::Tensor total_regularizer(const std::vector<modules::DNPUImpl*>& dnpus) {
  at::Tensor total = dnpus.front()->regularizer();
  for (std::size_t i = 1; i < dnpus.size(); ++i) total = total + dnpus[i]->regularizer();
  return total;
}

// Mean criterion over `data` (batches of batch_size rows; 0: all at once), no grad.
double evaluate(const std::function<at::Tensor(const at::Tensor&)>& forward, const Dataset& data,
                const Criterion& loss, std::int64_t batch_size,
                const std::vector<modules::DNPUImpl*>& dnpus) {
  at::NoGradGuard no_grad;
  const std::int64_t n = data.inputs.size(0);
  const std::int64_t batch = batch_size > 0 ? std::min(batch_size, n) : n;
  double sum = 0;
  for (std::int64_t start = 0; start < n; start += batch) {
    const std::int64_t rows = std::min(batch, n - start);
    const at::Tensor x = data.inputs.narrow(0, start, rows);
    const at::Tensor prediction = forward(x);
    const at::Tensor y = match_targets(prediction, data.targets.narrow(0, start, rows), dnpus);
    sum += loss.fn(prediction, y).mean().item<double>() * static_cast<double>(rows);
  }
  return sum / static_cast<double>(n);
}

// The first of several spellings, in the section or in its `hyperparameters` mapping.
std::optional<Config> lookup(const Config& configs, const std::vector<std::string>& spellings) {
  if (auto found = configs.find_any(spellings); found && !found->node().IsNull()) return found;
  if (configs.has("hyperparameters"))
    if (auto found = configs.at("hyperparameters").find_any(spellings);
        found && !found->node().IsNull())
      return found;
  return std::nullopt;
}

}  // namespace

void GradientDescentOptions::validate() const {
  const auto fail = [](const std::string& reason) {
    throw ArgumentError("cannot train by gradient descent: " + reason);
  };
  if (epochs_ < 1) fail(fmt::format("epochs must be at least 1, got {}", epochs_));
  if (!(learning_rate_ > 0) || !std::isfinite(learning_rate_))
    fail(fmt::format("learning_rate must be positive, got {}", learning_rate_));
  if (betas_.size() != 2 || !(betas_[0] >= 0 && betas_[0] < 1) ||
      !(betas_[1] >= 0 && betas_[1] < 1))
    fail(fmt::format("betas must be two numbers in [0, 1), got [{}]", fmt::join(betas_, ", ")));
  if (!(eps_ > 0)) fail(fmt::format("eps must be positive, got {}", eps_));
  if (!(weight_decay_ >= 0))
    fail(fmt::format("weight_decay must be non-negative, got {}", weight_decay_));
  if (constraint_ != "clip" && constraint_ != "regul" && constraint_ != "none")
    fail("constraint must be 'clip', 'regul' or 'none', got '" + constraint_ + "'");
  if (!(regul_factor_ >= 0))
    fail(fmt::format("regul_factor must be non-negative, got {}", regul_factor_));
  if (batch_size_ < 0)
    fail(fmt::format("batch_size must be non-negative (0: all points), got {}", batch_size_));
  if (patience_ && *patience_ < 1)
    fail(fmt::format("patience must be at least 1, got {}", *patience_));
  if (!(min_delta_ >= 0)) fail(fmt::format("min_delta must be non-negative, got {}", min_delta_));
  if (scheduler_) {
    const auto& s = *scheduler_;
    if (s.type() != "step" && s.type() != "plateau")
      fail("scheduler type must be 'step' or 'plateau', got '" + s.type() + "'");
    if (s.step_size() < 1 || s.patience() < 0)
      fail("scheduler step_size must be at least 1 and patience non-negative");
    if (!(s.gamma() > 0 && s.gamma() <= 1) || !(s.factor() > 0 && s.factor() <= 1))
      fail("scheduler gamma and factor must be in (0, 1]");
    if (!(s.min_lr() >= 0) || !(s.threshold() >= 0))
      fail("scheduler min_lr and threshold must be non-negative");
  }
}

GradientDescentOptions GradientDescentOptions::from_config(const Config& configs) {
  const std::vector<std::string> known{"type",
                                       "optimizer",
                                       "criterion",
                                       "epochs",
                                       "learning_rate",
                                       "betas",
                                       "eps",
                                       "epsilon",
                                       "weight_decay",
                                       "amsgrad",
                                       "constraint_control_voltages",
                                       "constraint",
                                       "regul_factor",
                                       "batch_size",
                                       "shuffle",
                                       "patience",
                                       "min_delta",
                                       "seed",
                                       "scheduler",
                                       "return_best_model",
                                       "hyperparameters"};
  configs.warn_unknown_keys(known);
  if (configs.has("hyperparameters")) configs.at("hyperparameters").warn_unknown_keys(known);
  if (const auto optimizer = lookup(configs, {"optimizer"})) {
    const auto name = optimizer->as<std::string>();
    if (name != "adam" && name != "Adam")
      throw ConfigError(optimizer->key_path(),
                        "expected 'adam' (gradient descent trains with Adam), got '" + name + "'");
  }
  GradientDescentOptions o;
  if (auto v = lookup(configs, {"epochs"})) o.epochs(v->as<std::int64_t>());
  if (auto v = lookup(configs, {"learning_rate"})) o.learning_rate(v->as<double>());
  if (auto v = lookup(configs, {"betas"})) o.betas(v->as<std::vector<double>>());
  if (auto v = lookup(configs, {"eps", "epsilon"})) o.eps(v->as<double>());
  if (auto v = lookup(configs, {"weight_decay"})) o.weight_decay(v->as<double>());
  if (auto v = lookup(configs, {"amsgrad"})) o.amsgrad(v->as<bool>());
  if (auto v = lookup(configs, {"constraint_control_voltages", "constraint"})) {
    o.constraint(v->as<std::string>());
    if (o.constraint() != "clip" && o.constraint() != "regul" && o.constraint() != "none")
      throw ConfigError(v->key_path(),
                        "expected 'clip', 'regul' or 'none', got '" + o.constraint() + "'");
  }
  if (auto v = lookup(configs, {"regul_factor"})) o.regul_factor(v->as<double>());
  if (auto v = lookup(configs, {"batch_size"})) o.batch_size(v->as<std::int64_t>());
  if (auto v = lookup(configs, {"shuffle"})) o.shuffle(v->as<bool>());
  if (auto v = lookup(configs, {"patience"})) o.patience(v->as<std::int64_t>());
  if (auto v = lookup(configs, {"min_delta"})) o.min_delta(v->as<double>());
  if (auto v = lookup(configs, {"seed"})) {
    const auto seed = v->as<std::int64_t>();
    if (seed < 0) throw ConfigError(v->key_path(), "expected a non-negative integer");
    o.seed(static_cast<std::uint64_t>(seed));
  }
  if (auto v = lookup(configs, {"return_best_model"})) o.return_best_model(v->as<bool>());
  if (auto v = lookup(configs, {"scheduler"})) {
    v->warn_unknown_keys(
        {"type", "step_size", "gamma", "factor", "patience", "threshold", "min_lr"});
    SchedulerOptions s(v->get<std::string>("type"));
    s.step_size(v->get<std::int64_t>("step_size", s.step_size()));
    s.gamma(v->get<double>("gamma", s.gamma()));
    s.factor(v->get<double>("factor", s.factor()));
    s.patience(v->get<std::int64_t>("patience", s.patience()));
    s.threshold(v->get<double>("threshold", s.threshold()));
    s.min_lr(v->get<double>("min_lr", s.min_lr()));
    o.scheduler(s);
  }
  try {
    o.validate();
  } catch (const ArgumentError& error) {
    throw ConfigError(configs.key_path(), error.what());
  }
  return o;
}

GradientDescentResult train_gradient_descent(
    torch::nn::Module& model, const std::function<at::Tensor(const at::Tensor&)>& forward,
    const Dataset& train, const std::optional<Dataset>& validation, const Criterion& loss,
    const GradientDescentOptions& options, const std::function<void(const EpochLog&)>& logger) {
  const auto started = std::chrono::steady_clock::now();
  options.validate();
  check_dataset(train, "training set");
  if (validation) check_dataset(*validation, "validation set");
  if (!loss.fn)
    throw ArgumentError("cannot train by gradient descent: criterion '" + loss.name +
                        "' has no function");
  if (!loss.differentiable)
    throw ArgumentError("cannot train by gradient descent: criterion '" + loss.name +
                        "' is not differentiable (use it with the genetic algorithm)");
  std::vector<at::Tensor> parameters;
  for (const auto& parameter : model.parameters())
    if (parameter.requires_grad()) parameters.push_back(parameter);
  if (parameters.empty())
    throw ArgumentError("cannot train by gradient descent: the model has no trainable parameters");
  const std::vector<modules::DNPUImpl*> dnpus = find_dnpus(model);
  const bool clip = options.constraint() == "clip" && !dnpus.empty();
  const bool regul = options.constraint() == "regul" && !dnpus.empty();
  if (options.constraint() != "none" && dnpus.empty())
    log::warn(
        "gradient descent: the model has no DNPU layer, so constraint '{}' has nothing to act on",
        options.constraint());

  Adam adam(parameters,
            AdamSettings{options.learning_rate(), options.betas()[0], options.betas()[1],
                         options.eps(), options.weight_decay(), options.amsgrad()});
  // A fitness function (higher is better) is maximised by minimising its negation.
  const double sign = loss.higher_is_better ? -1.0 : 1.0;
  const std::int64_t n = train.inputs.size(0);
  const std::int64_t batch = options.batch_size() > 0 ? std::min(options.batch_size(), n) : n;
  const std::int64_t batches = (n + batch - 1) / batch;
  // With one batch and no validation set, the loss a step computes belongs to the state
  // before that step: that state is the candidate for "best" (no extra forward pass).
  const bool monitor_before_step = batches == 1 && !validation;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(make_rng(options.seed(), "gradient")());
  const bool was_training = model.is_training();

  GradientDescentResult result;
  result.seed = options.seed();
  result.criterion = loss.name;
  result.constraint = options.constraint();
  Snapshot best_state(model);
  double best = kInf;
  bool have_best = false;
  std::int64_t since_improvement = 0;
  Scheduler scheduler(options.scheduler(), options.learning_rate());
  double learning_rate = options.learning_rate();
  const bool show = options.progress() && progress_enabled();
  ProgressBar bar("gradient descent", options.epochs(), show);
  bool warned_nan = false;
  std::int64_t skipped_steps = 0;

  const auto penalty = [&]() -> double {
    if (dnpus.empty()) return 0.0;
    at::NoGradGuard no_grad;
    return total_regularizer(dnpus).item<double>();
  };
  const auto finish = [&] {
    if (options.return_best_model() && have_best) best_state.restore();
    model.train(was_training);
  };

  for (std::int64_t epoch = 0; epoch < options.epochs(); ++epoch) {
    model.train();
    const at::Tensor order =
        options.shuffle() && batches > 1 ? at::randperm(n, generator) : at::Tensor();
    double running = 0;
    // Σ DNPU regularizers: of the state before the last step under "regul" (the state the
    // monitored loss belongs to when monitored before the step), 0 under "clip" (clipped).
    double reg = 0;
    bool improved = false;
    double monitored = kNaN;
    for (std::int64_t b = 0; b < batches; ++b) {
      const std::int64_t rows = std::min(batch, n - b * batch);
      at::Tensor x = train.inputs, y = train.targets;
      if (order.defined()) {
        const at::Tensor index = order.narrow(0, b * batch, rows);
        x = x.index_select(0, index), y = y.index_select(0, index);
      } else if (batches > 1) {
        x = x.narrow(0, b * batch, rows), y = y.narrow(0, b * batch, rows);
      }
      adam.zero_grad();
      const at::Tensor prediction = forward(x);
      const at::Tensor value = loss.fn(prediction, match_targets(prediction, y, dnpus)).mean();
      at::Tensor objective = sign == 1.0 ? value : -value;
      at::Tensor regularizer;
      if (regul) {
        regularizer = total_regularizer(dnpus);
        objective =
            objective +
            (options.regul_factor() == 1.0 ? regularizer : options.regul_factor() * regularizer);
      }
      objective.backward();
      const double batch_value = value.item<double>();
      if (regul) reg = regularizer.item<double>();
      if (monitor_before_step) {
        monitored = sign * batch_value + (regul ? options.regul_factor() * reg : 0.0);
        improved = monitored < best - options.min_delta();
        if (improved) best_state.take();
      }
      // A loss like corrsig can overflow its gradient (1/σ² of a far-negative gap); Adam
      // refuses such a step rather than write NaN voltages.
      if (adam.step()) {
        if (clip)
          for (auto* dnpu : dnpus) dnpu->constraint_control_voltages();
      } else if (skipped_steps++ == 0) {
        log::warn(
            "gradient descent: non-finite gradients of {} at epoch {}; such steps are skipped",
            loss.name, epoch);
      }
      running += batch_value * static_cast<double>(rows);
    }
    const double train_loss = running / static_cast<double>(n);
    std::optional<double> val_loss;
    if (options.constraint() == "none" || (regul && !monitor_before_step)) reg = penalty();
    if (!monitor_before_step) {
      model.eval();
      const double measured =
          validation ? evaluate(forward, *validation, loss, options.batch_size(), dnpus)
                     : evaluate(forward, train, loss, options.batch_size(), dnpus);
      if (validation) val_loss = measured;
      monitored = sign * measured + (regul ? options.regul_factor() * reg : 0.0);
      improved = monitored < best - options.min_delta();
      if (improved) best_state.take();
    }
    if (std::isnan(monitored) && !warned_nan) {
      log::warn("gradient descent: the {} loss is NaN at epoch {}", loss.name, epoch);
      warned_nan = true;
    }
    if (improved) {
      best = monitored;
      have_best = true;
      result.best_epoch = epoch;
      since_improvement = 0;
    } else {
      ++since_improvement;
    }
    result.train_losses.push_back(train_loss);
    if (val_loss) result.val_losses.push_back(*val_loss);
    result.regularizer_history.push_back(reg);
    result.learning_rates.push_back(learning_rate);
    result.epochs_run = epoch + 1;
    if (logger)
      logger({epoch, train_loss, val_loss, reg, monitored, learning_rate, improved,
              result.best_epoch});
    if (show) {
      bar.set_status(val_loss ? fmt::format("loss {:.4g} val {:.4g}", train_loss, *val_loss)
                              : fmt::format("loss {:.4g}", train_loss));
    }
    bar.advance();
    const double next_rate = scheduler.after_epoch(epoch, monitored);
    if (next_rate != learning_rate) adam.set_learning_rate(learning_rate = next_rate);
    if (options.patience() && since_improvement >= *options.patience()) {
      result.stopped_early = true;
      break;
    }
    if (interrupt_requested()) {
      bar.finish();
      finish();
      throw_if_interrupted("gradient descent");
    }
  }
  bar.finish();
  finish();
  result.best_loss = have_best ? best : kNaN;
  result.skipped_steps = skipped_steps;
  {
    at::NoGradGuard no_grad;
    model.eval();
    result.train_output = forward(train.inputs).detach();
    result.train_targets = match_targets(result.train_output, train.targets, dnpus).detach();
    model.train(was_training);
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  log::debug("gradient descent: best monitored loss {:.5g} at epoch {} of {}{}", result.best_loss,
             result.best_epoch, result.epochs_run, result.stopped_early ? " (stopped early)" : "");
  return result;
}

}  // namespace brains::algorithms
