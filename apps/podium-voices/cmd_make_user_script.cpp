// `podium-voices make-user-script --out FILE.wav`: a scripted room user for the mock room.
//
// flite speaks several utterances with pauses between them, one of them timed to interrupt the
// agent while it answers the previous one. Writes FILE.wav (16 kHz) and FILE.json (the speech
// spans and their texts, which the mock room reads as labels). Then:
//
//   podium-voices --input FILE.wav           # the agent talks with the scripted user
//
// Exit codes: 0 written, 2 bad arguments, 3 synthesis or write failure.

#include "cascade/cascade_user_script.hpp"
#include "commands.hpp"

#include <iomanip>
#include <iostream>

namespace pv::apps {

void add_make_user_script_command(CLI::App& app, const std::atomic<bool>& stop, int& exit_code) {
  (void)stop;
  struct Options {
    std::string out;
    std::string voice = "kal16";
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "make-user-script",
      "Synthesize a scripted room user (flite): several utterances, one interrupting the agent; "
      "writes FILE.wav and its labels FILE.json for the mock room (--input FILE.wav)");
  cmd->add_option("--out", options->out, "Output WAV (the labels go next to it, .json)")
      ->required();
  cmd->add_option("--voice", options->voice, "flite voice")->check(CLI::IsMember({"kal16", "slt"}));
  cmd->callback([options, &exit_code] {
    cascade::UserScriptParams params;
    params.voice = options->voice;
    auto script = cascade::synthesize_user_script(params);
    if (!script) {
      std::cerr << "make-user-script: " << script.error() << "\n";
      exit_code = 3;
      return;
    }
    if (auto written = cascade::write_user_script(*script, options->out); !written) {
      std::cerr << "make-user-script: " << written.error() << "\n";
      exit_code = 3;
      return;
    }
    std::filesystem::path labels(options->out);
    labels.replace_extension(".json");
    std::cout << "Scripted user (" << std::fixed << std::setprecision(1)
              << static_cast<double>(script->pcm.duration_ms()) / 1000.0 << " s, flite "
              << options->voice << "): " << options->out << " + " << labels.string() << "\n";
    for (const auto& span : script->spans) {
      std::cout << "  " << std::setw(6) << std::setprecision(1)
                << static_cast<double>(span.start_ms) / 1000.0 << " s - " << std::setw(5)
                << static_cast<double>(span.end_ms) / 1000.0 << " s  \"" << span.text << "\""
                << (span.interrupts_agent ? "  (interrupts the agent)" : "") << "\n";
    }
    exit_code = 0;
  });
}

} // namespace pv::apps
