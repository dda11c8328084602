// Plots as PNG through gnuplot (pngcairo terminal), run as a separate process. Every PNG gets
// its data beside it as CSV (same stem, ".csv"), so results stay usable without gnuplot: when
// gnuplot is not on PATH the CSV is still written and one warning is logged per process.
//
// Example:
//   PlotSpec spec("Error vs Output");
//   spec.xlabel = "Output (nA)";
//   spec.ylabel = "Error (nA)";
//   spec.kind = PlotKind::scatter;
//   spec.add({"error", targets, errors});
//   plot("out/error_vs_output.png", spec);
//
// Raises: ArgumentError (x and y of different lengths, bad grid), Error (a file cannot be
// written, or gnuplot ran and failed).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace brains::io {

enum class PlotKind { line, scatter, histogram };

struct Series {
  std::string label;
  std::vector<double> x;  // empty: 0, 1, 2, ... (ignored by histograms)
  std::vector<double> y;  // for a histogram: the values to bin
  // Overrides the plot's kind for this series (line or scatter), e.g. a y = x diagonal drawn
  // over a scatter.
  std::optional<PlotKind> kind;
};

struct PlotSpec {
  PlotSpec() = default;
  explicit PlotSpec(std::string title_text) : title(std::move(title_text)) {}

  std::string title;
  std::string xlabel;
  std::string ylabel;
  PlotKind kind = PlotKind::line;
  int bins = 50;  // histogram only: equal-width bins over the range of all series' values
  std::optional<std::pair<double, double>> xrange;  // unset: gnuplot's autoscale
  std::optional<std::pair<double, double>> yrange;
  std::vector<Series> series;

  PlotSpec& add(Series value) {
    series.push_back(std::move(value));
    return *this;
  }
};

struct PlotSize {
  int width_px = 800;  // per panel in plot_grid
  int height_px = 600;
};

// Writes `png` and its CSV "series,x,y" (histograms: "series,bin_center,count").
void plot(const std::filesystem::path& png, const PlotSpec& spec, const PlotSize& size = {});

// Panels laid out row by row on a rows × cols grid (fewer panels leave cells empty), with an
// optional overall title. The CSV is "panel,series,x,y" (panel = index from 0; histogram
// panels give bin centres and counts).
void plot_grid(const std::filesystem::path& png, int rows, int cols,
               const std::vector<PlotSpec>& panels, const std::string& title = {},
               const PlotSize& panel_size = {});

// The equal-width histogram that plot() draws: bin centres and counts over [lo, hi] of the
// finite values (the last bin includes hi). A single distinct value gives one bin of width 1.
struct Histogram {
  std::vector<double> centers;
  std::vector<double> counts;
  double width = 1.0;
};
Histogram make_histogram(const std::vector<double>& values, int bins, double lo, double hi);

}  // namespace brains::io
