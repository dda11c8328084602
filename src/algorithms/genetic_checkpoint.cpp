#include "brains/algorithms/genetic_checkpoint.h"

#include <ATen/ATen.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "brains/core/error.h"
#include "brains/io/npz.h"

namespace brains::algorithms {

namespace {

constexpr const char* kFormat = "brains.genetic_checkpoint";
constexpr int kVersion = 1;

std::filesystem::path npz_path(const std::filesystem::path& dir) { return dir / "checkpoint.npz"; }
std::filesystem::path json_path(const std::filesystem::path& dir) {
  return dir / "checkpoint.json";
}

void write_text_atomically(const std::filesystem::path& file, const std::string& text) {
  const std::filesystem::path temporary = file.string() + ".tmp";
  {
    std::ofstream stream(temporary, std::ios::binary | std::ios::trunc);
    stream << text;
    stream.flush();
    if (!stream) throw Error("cannot write " + temporary.string() + ": " + std::strerror(errno));
  }
  std::error_code error;
  std::filesystem::rename(temporary, file, error);
  if (error) throw Error("cannot write " + file.string() + ": " + error.message());
}

}  // namespace

void save_genetic_checkpoint(const std::filesystem::path& dir,
                             const GeneticCheckpoint& checkpoint) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error)
    throw Error("cannot create checkpoint directory " + dir.string() + ": " + error.message());
  // Scalars that may be NaN or ±inf travel in the npz (JSON has no such numbers).
  io::write_npz(
      npz_path(dir),
      std::vector<std::pair<std::string, at::Tensor>>{
          {"generation", at::tensor({checkpoint.generation}, at::kLong)},
          {"population", checkpoint.population},
          {"gene_ranges", checkpoint.gene_ranges},
          {"best_genome", checkpoint.best_genome},
          {"best_output", checkpoint.best_output},
          {"best_scores",
           at::tensor({checkpoint.best_fitness, checkpoint.best_correlation}, at::kDouble)},
          {"fitness_history", checkpoint.fitness_history},
          {"correlation_history", checkpoint.correlation_history},
          {"mean_fitness_history", checkpoint.mean_fitness_history},
          {"genome_history", checkpoint.genome_history}});
  const nlohmann::json json = {{"format", kFormat},
                               {"version", kVersion},
                               {"algorithm", "genetic"},
                               {"generation", checkpoint.generation},
                               {"finished", checkpoint.finished},
                               {"stopped_early", checkpoint.stopped_early},
                               {"partition", checkpoint.partition},
                               {"generations", checkpoint.generations},
                               {"seed", checkpoint.seed},
                               {"criterion", checkpoint.criterion},
                               {"has_best", checkpoint.has_best},
                               {"best_generation", checkpoint.best_generation},
                               {"rng_state", checkpoint.rng_state}};
  write_text_atomically(json_path(dir), json.dump(2) + "\n");
}

GeneticCheckpoint load_genetic_checkpoint(const std::filesystem::path& dir) {
  const auto file = json_path(dir);
  std::ifstream stream(file, std::ios::binary);
  if (!stream) throw FormatError(file.string(), "", "cannot read genetic checkpoint: file missing");
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(stream);
  } catch (const nlohmann::json::exception& error) {
    throw FormatError(file.string(), "",
                      std::string("cannot read genetic checkpoint: ") + error.what());
  }
  GeneticCheckpoint checkpoint;
  try {
    if (json.value("format", "") != kFormat || json.at("version").get<int>() != kVersion)
      throw FormatError(
          file.string(), "",
          "cannot read genetic checkpoint: not a version-1 brains genetic checkpoint");
    checkpoint.generation = json.at("generation").get<std::int64_t>();
    checkpoint.finished = json.at("finished").get<bool>();
    checkpoint.stopped_early = json.at("stopped_early").get<bool>();
    checkpoint.partition = json.at("partition").get<std::vector<std::int64_t>>();
    checkpoint.generations = json.at("generations").get<std::int64_t>();
    checkpoint.seed = json.at("seed").get<std::uint64_t>();
    checkpoint.criterion = json.at("criterion").get<std::string>();
    checkpoint.has_best = json.at("has_best").get<bool>();
    checkpoint.best_generation = json.at("best_generation").get<std::int64_t>();
    checkpoint.rng_state = json.at("rng_state").get<std::string>();
  } catch (const nlohmann::json::exception& error) {
    throw FormatError(file.string(), "",
                      std::string("cannot read genetic checkpoint: ") + error.what());
  }
  const io::NpzFile npz = io::read_npz(npz_path(dir));
  if (npz.tensor("generation").item<std::int64_t>() != checkpoint.generation)
    throw FormatError(npz_path(dir).string(), "",
                      "cannot read genetic checkpoint: checkpoint.npz and checkpoint.json are from "
                      "different generations (interrupted while saving?)");
  checkpoint.population = npz.tensor("population").to(at::kFloat);
  checkpoint.gene_ranges = npz.tensor("gene_ranges").to(at::kFloat);
  checkpoint.best_genome = npz.tensor("best_genome").to(at::kFloat);
  checkpoint.best_output = npz.tensor("best_output").to(at::kFloat);
  const at::Tensor best = npz.tensor("best_scores").to(at::kDouble);
  checkpoint.best_fitness = best[0].item<double>();
  checkpoint.best_correlation = best[1].item<double>();
  checkpoint.fitness_history = npz.tensor("fitness_history").to(at::kDouble);
  checkpoint.correlation_history = npz.tensor("correlation_history").to(at::kDouble);
  checkpoint.mean_fitness_history = npz.tensor("mean_fitness_history").to(at::kDouble);
  checkpoint.genome_history = npz.tensor("genome_history").to(at::kFloat);
  if (checkpoint.fitness_history.numel() != checkpoint.generation)
    throw FormatError(npz_path(dir).string(), "entry fitness_history",
                      "cannot read genetic checkpoint: history length differs from the generation");
  return checkpoint;
}

}  // namespace brains::algorithms
