// brains info FILE: prints what a data file holds, as YAML.
#include <iostream>

#include "brains/io/describe.h"
#include "commands.h"

namespace brains::cli {

void register_info(CLI::App& app, CommonOptions& common) {
  auto* command = app.add_subcommand(
      "info", "Summarise a .pt, .pickle, .npz, .npy, IO.dat or YAML file as YAML");
  auto file = std::make_shared<std::string>();
  command->add_option("file", *file, "file to describe")->required()->check(CLI::ExistingFile);
  command->add_flag("--quiet,-q", common.quiet, "warnings and errors only");
  command->callback([&common, file] {
    apply_common_flags(common);
    YAML::Emitter out;
    out << YAML::Block << io::describe_file(*file);
    std::cout << out.c_str() << '\n';
  });
}

}  // namespace brains::cli
