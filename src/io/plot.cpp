#include "brains/io/plot.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "brains/core/error.h"
#include "brains/core/log.h"

extern char** environ;

namespace brains::io {

namespace fs = std::filesystem;

namespace {

std::string number(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  char buffer[40];
  return std::string(buffer, std::to_chars(buffer, buffer + sizeof buffer, value).ptr);
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

// A gnuplot single-quoted string: no backslash escapes, '' stands for one quote.
std::string gnuplot_string(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) {
    if (c == '\'')
      quoted += "''";
    else if (c == '\n' || c == '\r')
      quoted += ' ';
    else
      quoted += c;
  }
  return quoted + "'";
}

// A series ready to draw: x filled in, histograms already binned.
struct Drawn {
  std::string label;
  std::vector<double> x, y;
  PlotKind kind;
};

struct Panel {
  const PlotSpec* spec;
  std::vector<Drawn> series;
  double bin_width = 1.0;
};

Panel prepare(const PlotSpec& spec) {
  Panel panel{&spec, {}, 1.0};
  if (spec.kind == PlotKind::histogram) {
    if (spec.bins < 1)
      throw ArgumentError("cannot plot '" + spec.title + "': histogram bins must be >= 1, got " +
                          std::to_string(spec.bins));
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const auto& series : spec.series)
      for (const double value : series.y)
        if (std::isfinite(value)) lo = std::min(lo, value), hi = std::max(hi, value);
    for (const auto& series : spec.series) {
      Histogram bins = make_histogram(series.y, spec.bins, lo, hi);
      panel.bin_width = bins.width;
      panel.series.push_back(
          {series.label, std::move(bins.centers), std::move(bins.counts), PlotKind::histogram});
    }
    return panel;
  }
  for (const auto& series : spec.series) {
    Drawn drawn{series.label, series.x, series.y, series.kind.value_or(spec.kind)};
    if (drawn.kind == PlotKind::histogram)
      throw ArgumentError("cannot plot '" + spec.title + "': series '" + series.label +
                          "' asks for a histogram inside a " +
                          (spec.kind == PlotKind::line ? "line" : "scatter") + " plot");
    if (drawn.x.empty())
      for (std::size_t i = 0; i < drawn.y.size(); ++i) drawn.x.push_back(static_cast<double>(i));
    if (drawn.x.size() != drawn.y.size())
      throw ArgumentError("cannot plot '" + spec.title + "': series '" + series.label + "' has " +
                          std::to_string(drawn.x.size()) + " x and " +
                          std::to_string(drawn.y.size()) + " y values");
    panel.series.push_back(std::move(drawn));
  }
  return panel;
}

void write_text(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) throw Error("cannot write " + file.string() + ": " + std::strerror(errno));
}

std::string csv_text(const std::vector<Panel>& panels, bool grid) {
  std::string text;
  if (grid)
    text = "panel,series,x,y\n";
  else if (panels.front().spec->kind == PlotKind::histogram)
    text = "series,bin_center,count\n";
  else
    text = "series,x,y\n";
  for (std::size_t p = 0; p < panels.size(); ++p) {
    const std::string prefix = grid ? std::to_string(p) + "," : "";
    for (const auto& series : panels[p].series) {
      const std::string label = csv_field(series.label);
      for (std::size_t i = 0; i < series.x.size(); ++i)
        text += prefix + label + "," + number(series.x[i]) + "," + number(series.y[i]) + "\n";
    }
  }
  return text;
}

std::string range(const std::optional<std::pair<double, double>>& limits, const char* axis) {
  if (!limits) return std::string("set autoscale ") + axis + "\n";
  return std::string("set ") + axis + "range [" + number(limits->first) + ":" +
         number(limits->second) + "]\n";
}

std::string block_name(std::size_t panel, std::size_t series) {
  return "$d" + std::to_string(panel) + "_" + std::to_string(series);
}

std::string panel_script(const Panel& panel, std::size_t index) {
  const PlotSpec& spec = *panel.spec;
  std::string script;
  for (std::size_t s = 0; s < panel.series.size(); ++s) {
    script += block_name(index, s) + " << EOD\n";
    const Drawn& series = panel.series[s];
    for (std::size_t i = 0; i < series.x.size(); ++i)
      script += number(series.x[i]) + " " + number(series.y[i]) + "\n";
    script += "EOD\n";
  }
  script += "set title " + gnuplot_string(spec.title) + "\n";
  script += "set xlabel " + gnuplot_string(spec.xlabel) + "\n";
  script += "set ylabel " + gnuplot_string(spec.ylabel) + "\n";
  script += range(spec.xrange, "x") + range(spec.yrange, "y");
  script += "set boxwidth " + number(panel.bin_width) + " absolute\n";

  std::string plots;
  bool any_label = false;
  for (std::size_t s = 0; s < panel.series.size(); ++s) {
    const Drawn& series = panel.series[s];
    if (series.x.empty()) continue;  // gnuplot rejects a plot with no points
    if (!plots.empty()) plots += ", ";
    plots += block_name(index, s) + " using 1:2 ";
    switch (series.kind) {
      case PlotKind::line:
        plots += "with lines lw 1.5";
        break;
      case PlotKind::scatter:
        plots += "with points pt 7 ps 0.6";
        break;
      case PlotKind::histogram:
        plots += "with boxes fill transparent solid 0.5 border";
        break;
    }
    any_label = any_label || !series.label.empty();
    plots += series.label.empty() ? " notitle" : " title " + gnuplot_string(series.label);
  }
  script += any_label ? "set key opaque\n" : "unset key\n";
  // Scatter points on the frame are hard to see; lines and bars should touch it.
  script += spec.kind == PlotKind::scatter
                ? "set offsets graph 0.03, graph 0.03, graph 0.03, graph 0.03\n"
                : "set offsets 0, 0, 0, 0\n";
  if (plots.empty()) {  // an empty frame; autoscale has nothing to scale to
    if (!spec.xrange) script += "set xrange [0:1]\n";
    if (!spec.yrange) script += "set yrange [0:1]\n";
    plots = "NaN notitle";
  }
  script += "plot " + plots + "\n";
  return script;
}

std::string gnuplot_script(const fs::path& png, const std::vector<Panel>& panels, int rows,
                           int cols, const std::string& title, const PlotSize& size, bool grid) {
  std::string script = "set terminal pngcairo size " + std::to_string(cols * size.width_px) + "," +
                       std::to_string(rows * size.height_px) + " noenhanced font 'sans,10'\n";
  script += "set output " + gnuplot_string(png.string()) + "\nset grid\n";
  if (grid)
    script += "set multiplot layout " + std::to_string(rows) + "," + std::to_string(cols) +
              " rowsfirst title " + gnuplot_string(title) + "\n";
  for (std::size_t p = 0; p < panels.size(); ++p) script += panel_script(panels[p], p);
  if (grid) script += "unset multiplot\n";
  return script + "set output\n";
}

// A temporary file removed on scope exit.
class TempFile {
 public:
  explicit TempFile(const char* suffix) {
    std::string pattern = (fs::temp_directory_path() / "brains-plot-XXXXXX").string() + suffix;
    fd_ = ::mkstemps(pattern.data(), static_cast<int>(std::strlen(suffix)));
    if (fd_ < 0)
      throw Error("cannot create a temporary file in " + fs::temp_directory_path().string() + ": " +
                  std::strerror(errno));
    path_ = pattern;
  }
  ~TempFile() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  int fd() const noexcept { return fd_; }
  const std::string& path() const noexcept { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

std::string first_error_line(const TempFile& errors) {
  std::ifstream in(errors.path());
  std::string line, found;
  while (std::getline(in, line)) {
    // gnuplot prints warnings too; the error is the line that does not start with one.
    if (line.find("arning") == std::string::npos &&
        line.find_first_not_of(" ^") != std::string::npos)
      found = line;
  }
  const std::size_t start = found.find_first_not_of(' ');
  return start == std::string::npos ? "no message" : found.substr(start);
}

// Runs gnuplot on the script; false when gnuplot is not installed.
bool run_gnuplot(const std::string& script, const fs::path& png) {
  TempFile script_file(".gp");
  write_text(script_file.path(), script);
  TempFile errors(".err");

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, errors.fd(), 2);
  std::string program = "gnuplot";
  std::string argument = script_file.path();
  char* argv[] = {program.data(), argument.data(), nullptr};
  pid_t pid = 0;
  const int spawned = ::posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned == ENOENT) return false;
  if (spawned != 0)
    throw Error("cannot plot " + png.string() +
                ": cannot start gnuplot: " + std::strerror(spawned));

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      throw Error("cannot plot " + png.string() +
                  ": cannot wait for gnuplot: " + std::strerror(errno));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const std::string how = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                              : "signal " + std::to_string(WTERMSIG(status));
    throw Error("cannot plot " + png.string() + ": gnuplot failed (" + how +
                "): " + first_error_line(errors));
  }
  return true;
}

void render(const fs::path& png, const std::vector<Panel>& panels, int rows, int cols,
            const std::string& title, const PlotSize& size, bool grid) {
  if (size.width_px < 16 || size.height_px < 16)
    throw ArgumentError("cannot plot " + png.string() + ": size " + std::to_string(size.width_px) +
                        "x" + std::to_string(size.height_px) + " is too small");
  if (!png.parent_path().empty()) fs::create_directories(png.parent_path());
  fs::path csv = png;
  csv.replace_extension(".csv");
  write_text(csv, csv_text(panels, grid));

  if (run_gnuplot(gnuplot_script(png, panels, rows, cols, title, size, grid), png)) return;
  // Not state that changes any result: only keeps the log to one line per process.
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true))
    log::warn("gnuplot not found on PATH: plots are written as CSV only (first: {})", csv.string());
}

}  // namespace

Histogram make_histogram(const std::vector<double>& values, int bins, double lo, double hi) {
  Histogram out;
  if (bins < 1) throw ArgumentError("cannot make histogram: bins must be >= 1");
  if (!(lo <= hi)) return out;  // no finite values
  if (lo == hi) {
    out.centers = {lo};
    out.counts = {0.0};
    for (const double value : values) out.counts[0] += value == lo ? 1.0 : 0.0;
    return out;
  }
  out.width = (hi - lo) / bins;
  out.counts.assign(static_cast<std::size_t>(bins), 0.0);
  for (int i = 0; i < bins; ++i) out.centers.push_back(lo + (i + 0.5) * out.width);
  for (const double value : values) {
    if (!(value >= lo && value <= hi)) continue;
    const auto bin = std::min(bins - 1, static_cast<int>((value - lo) / out.width));
    out.counts[static_cast<std::size_t>(bin)] += 1.0;
  }
  return out;
}

void plot(const fs::path& png, const PlotSpec& spec, const PlotSize& size) {
  render(png, {prepare(spec)}, 1, 1, spec.title, size, false);
}

void plot_grid(const fs::path& png, int rows, int cols, const std::vector<PlotSpec>& panels,
               const std::string& title, const PlotSize& panel_size) {
  if (rows < 1 || cols < 1 || panels.empty() ||
      panels.size() > static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols))
    throw ArgumentError("cannot plot " + png.string() + ": " + std::to_string(panels.size()) +
                        " panels do not fit a " + std::to_string(rows) + "x" +
                        std::to_string(cols) + " grid");
  std::vector<Panel> prepared;
  for (const auto& spec : panels) prepared.push_back(prepare(spec));
  render(png, prepared, rows, cols, title, panel_size, true);
}

}  // namespace brains::io
