#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "brains/core/error.h"
#include "brains/io/plot.h"
#include "support/temp_dir.h"

namespace brains::io {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::TempDir;

std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A real PNG: the 8-byte signature and more than a blank canvas' worth of bytes.
void expect_png(const std::filesystem::path& file) {
  ASSERT_TRUE(std::filesystem::exists(file)) << file;
  const std::string bytes = slurp(file);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_GT(bytes.size(), 5000u);
}

std::vector<double> sine(int n) {
  std::vector<double> y;
  for (int i = 0; i < n; ++i) y.push_back(std::sin(i * 0.1));
  return y;
}

PlotSpec line_spec() {
  PlotSpec spec("Input \"waves\" for batch 1 (it's a test)");
  spec.xlabel = "Time (points)";
  spec.ylabel = "Input (V)";
  spec.add({"Input 0", {}, sine(100)});
  spec.add({"Input 1", {0, 1, 2}, {0.5, -0.25, 1e-3}});
  return spec;
}

PlotSpec scatter_spec() {
  PlotSpec spec("RMSE 0.1 (nA)");
  spec.kind = PlotKind::scatter;
  spec.add({"targets vs predictions", {1, 2, 3, 4}, {1.1, 1.9, 3.2, 3.9}});
  spec.add({"", {1, 4}, {1, 4}, PlotKind::line});  // the y = x diagonal
  return spec;
}

PlotSpec histogram_spec() {
  PlotSpec spec("Output Histogram");
  spec.xlabel = "Raw output (nA)";
  spec.ylabel = "Counts";
  spec.kind = PlotKind::histogram;
  spec.bins = 4;
  spec.add({"outputs", {}, {0.0, 1.0, 1.5, 2.0, 4.0, std::nan("")}});
  return spec;
}

TEST(Plot, LinePlotWritesPngAndCsv) {
  const TempDir dir;
  plot(dir / "waves.png", line_spec());
  expect_png(dir / "waves.png");
  const std::string csv = slurp(dir / "waves.csv");
  EXPECT_THAT(csv, StartsWith("series,x,y\nInput 0,0,0\nInput 0,1,0.09983341664682815\n"));
  EXPECT_THAT(csv, HasSubstr("\nInput 1,1,-0.25\nInput 1,2,0.001\n"));
}

TEST(Plot, ScatterWithDiagonal) {
  const TempDir dir;
  plot(dir / "nested" / "error.png", scatter_spec());
  expect_png(dir / "nested" / "error.png");
  EXPECT_EQ(slurp(dir / "nested" / "error.csv"),
            "series,x,y\n"
            "targets vs predictions,1,1.1\ntargets vs predictions,2,1.9\n"
            "targets vs predictions,3,3.2\ntargets vs predictions,4,3.9\n"
            ",1,1\n,4,4\n");
}

TEST(Plot, HistogramBinsItself) {
  const TempDir dir;
  plot(dir / "output_distribution.png", histogram_spec());
  expect_png(dir / "output_distribution.png");
  // Range [0, 4] in 4 bins; the maximum falls in the last bin; NaN is ignored.
  EXPECT_EQ(slurp(dir / "output_distribution.csv"),
            "series,bin_center,count\noutputs,0.5,1\noutputs,1.5,2\noutputs,2.5,1\n"
            "outputs,3.5,1\n");
  const Histogram single = make_histogram({2.0, 2.0}, 10, 2.0, 2.0);
  EXPECT_EQ(single.centers, std::vector<double>{2.0});
  EXPECT_EQ(single.counts, std::vector<double>{2.0});
}

TEST(Plot, GridOfFourPanels) {
  const TempDir dir;
  PlotSpec empty("No data yet");
  plot_grid(dir / "grid.png", 2, 2, {line_spec(), scatter_spec(), histogram_spec(), empty},
            "Device 0 - Input voltage vs Output current");
  expect_png(dir / "grid.png");
  const std::string csv = slurp(dir / "grid.csv");
  EXPECT_THAT(csv, StartsWith("panel,series,x,y\n0,Input 0,0,0\n"));
  EXPECT_THAT(csv, HasSubstr("\n1,targets vs predictions,4,3.9\n"));
  EXPECT_THAT(csv, HasSubstr("\n2,outputs,3.5,1\n"));
  EXPECT_THROW(plot_grid(dir / "bad.png", 1, 2, {empty, empty, empty}), ArgumentError);
}

TEST(Plot, CsvQuotesLabels) {
  const TempDir dir;
  PlotSpec spec;
  spec.add({"a, \"b\"", {1}, {2}});
  plot(dir / "q.png", spec);
  EXPECT_EQ(slurp(dir / "q.csv"), "series,x,y\n\"a, \"\"b\"\"\",1,2\n");
}

TEST(Plot, MismatchedSeriesIsAnArgumentError) {
  const TempDir dir;
  PlotSpec spec("bad");
  spec.add({"s", {1, 2, 3}, {1, 2}});
  EXPECT_THROW(plot(dir / "bad.png", spec), ArgumentError);
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.csv"));
}

// Restores PATH when the test ends.
class PathOverride {
 public:
  explicit PathOverride(const std::string& value) : saved_(std::getenv("PATH")) {
    ::setenv("PATH", value.c_str(), 1);
  }
  ~PathOverride() { ::setenv("PATH", saved_.c_str(), 1); }

 private:
  std::string saved_;
};

TEST(Plot, WithoutGnuplotWritesCsvOnly) {
  const TempDir dir;
  std::filesystem::create_directories(dir / "empty-bin");
  const PathOverride path((dir / "empty-bin").string());
  EXPECT_NO_THROW(plot(dir / "waves.png", line_spec()));
  EXPECT_NO_THROW(plot_grid(dir / "grid.png", 1, 2, {line_spec(), histogram_spec()}));
  EXPECT_FALSE(std::filesystem::exists(dir / "waves.png"));
  EXPECT_THAT(slurp(dir / "waves.csv"), StartsWith("series,x,y\nInput 0,0,0\n"));
  EXPECT_THAT(slurp(dir / "grid.csv"), HasSubstr("\n1,outputs,0.5,1\n"));
}

}  // namespace
}  // namespace brains::io
