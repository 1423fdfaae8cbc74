// podium-voices: an AI co-host for live audio rooms.
//
//   podium-voices                      run the agent (mock room unless Podium credentials are set)
//   podium-voices --check-config       print the effective configuration, exit non-zero on errors
//   podium-voices <command> --help     see the commands below

#include "agent/runner.hpp"
#include "commands.hpp"
#include "util/stop_signal.hpp"

#include <iostream>

#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  CLI::App app{"podium-voices " PV_VERSION
               ": AI voice co-host for live audio rooms (PersonaPlex or ASR/LLM/TTS cascade)",
               "podium-voices"};
  app.set_version_flag("--version", "podium-voices " PV_VERSION);
  app.require_subcommand(0, 1);

  pv::agent::RunOptions options;
  std::string env_file;
  std::string input_wav;
  std::string output_dir;
  std::string backend;
  double speed = -1;
  bool fast = false;
  app.add_option("--env-file", env_file,
                 "Configuration file (KEY=VALUE lines); default: .env.local if present. The "
                 "process environment overrides it.")
      ->check(CLI::ExistingFile);
  app.add_flag(
      "--check-config", options.check_config,
      "Print the effective configuration (secrets masked) and exit; exit code 2 on errors");
  app.add_option("--backend", backend,
                 "Override CONVERSATION_BACKEND (asr-llm-tts|personaplex|loopback)");
  app.add_option("--input", input_wav,
                 "Mock room: WAV file the room's people say (MOCK_ROOM_INPUT_WAV)");
  app.add_option("--output-dir", output_dir, "Where agent.wav and timeline.json go (OUTPUT_DIR)");
  app.add_flag("--fast", fast, "Mock room: run as fast as possible (MOCK_ROOM_SPEED=0)");
  app.add_option("--speed", speed, "Mock room: pacing factor, 1 = real time (MOCK_ROOM_SPEED)")
      ->check(CLI::Range(0.0, 1000.0));

  int exit_code = 0;
  pv::apps::add_commands(app, pv::util::stop_requested, exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  pv::util::install_stop_signal_handlers();

  if (!app.get_subcommands().empty()) {
    return exit_code;
  }
  if (!env_file.empty()) {
    options.env_file = env_file;
  }
  if (!backend.empty()) {
    options.overrides["CONVERSATION_BACKEND"] = backend;
  }
  if (!input_wav.empty()) {
    options.overrides["MOCK_ROOM_INPUT_WAV"] = input_wav;
  }
  if (!output_dir.empty()) {
    options.overrides["OUTPUT_DIR"] = output_dir;
  }
  if (fast) {
    options.overrides["MOCK_ROOM_SPEED"] = "0";
  } else if (speed >= 0) {
    options.overrides["MOCK_ROOM_SPEED"] = std::to_string(speed);
  }
  return pv::agent::run_agent(options, pv::util::stop_requested, std::cout, std::cerr);
}
