// A progress bar with rate and ETA for long loops, drawn on stderr. It draws only when
// stderr is a terminal and quiet mode is off, so logs and pipes stay clean.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace brains {

// True when stderr is a terminal and log::quiet() is false.
bool progress_enabled();

class ProgressBar {
 public:
  ProgressBar(std::string label, std::int64_t total, bool enabled = progress_enabled());
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void advance(std::int64_t steps = 1);
  // Short text after the bar, e.g. "loss 0.031".
  void set_status(std::string status);
  // Draws the final state and ends the line; called by the destructor if needed.
  void finish();

  std::int64_t done() const noexcept { return done_; }
  std::int64_t total() const noexcept { return total_; }
  // Estimated seconds left from the mean rate so far (negative before the first step).
  double eta_seconds() const;
  // The line as it would be drawn (without the carriage return), for tests.
  std::string render() const;

 private:
  void draw(bool force);
  std::string label_;
  std::int64_t total_;
  std::int64_t done_ = 0;
  bool enabled_;
  bool finished_ = false;
  std::string status_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// "h:mm:ss" for a duration in seconds ("--:--" when unknown/negative).
std::string format_duration(double seconds);

}  // namespace brains
