#include "brains/core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "brains/core/log.h"

namespace brains {

bool progress_enabled() { return ::isatty(STDERR_FILENO) == 1 && !log::quiet(); }

ProgressBar::ProgressBar(std::string label, std::int64_t total, bool enabled)
    : label_(std::move(label)),
      total_(std::max<std::int64_t>(total, 0)),
      enabled_(enabled),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {
  draw(true);
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::advance(std::int64_t steps) {
  done_ = std::min(total_, done_ + steps);
  draw(done_ == total_);
}

void ProgressBar::set_status(std::string status) { status_ = std::move(status); }

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  draw(true);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

double ProgressBar::eta_seconds() const {
  if (done_ == 0) return -1.0;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return elapsed / static_cast<double>(done_) * static_cast<double>(total_ - done_);
}

std::string ProgressBar::render() const {
  constexpr int width = 30;
  const double fraction = total_ > 0 ? static_cast<double>(done_) / total_ : 1.0;
  const int filled = static_cast<int>(std::lround(fraction * width));
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string line = fmt::format("{} [{}{}] {}/{} {:3.0f}% {} eta {}", label_,
                                 std::string(filled, '#'), std::string(width - filled, '.'),
                                 done_, total_, fraction * 100.0, format_duration(elapsed),
                                 format_duration(eta_seconds()));
  if (!status_.empty()) line += "  " + status_;
  return line;
}

void ProgressBar::draw(bool force) {
  if (!enabled_ || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  // Redraw at most ten times a second: drawing is not free and a terminal cannot keep up.
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  std::fprintf(stderr, "\r%s\033[K", render().c_str());
  std::fflush(stderr);
}

std::string format_duration(double seconds) {
  if (!(seconds >= 0.0) || !std::isfinite(seconds)) return "--:--";
  const auto total = static_cast<long long>(std::llround(seconds));
  return fmt::format("{}:{:02d}:{:02d}", total / 3600, (total / 60) % 60, total % 60);
}

}  // namespace brains
