// personaplex-sim: a stand-in for the NVIDIA PersonaPlex server (python -m moshi.server) that
// speaks its WebSocket protocol byte for byte, with a VAD + flite "model". See docs/personaplex.md
// (## Simulator).
//
//   personaplex-sim --port 0                 ephemeral port; prints "listening on <host>:<port>"
//   personaplex-sim --max-sessions 100       load tests (the real server serves one at a time)
//   personaplex-sim --drop-after-frames 50 --fault-session 2   fault injection

#include "log/log.hpp"
#include "sim/sim_server.hpp"
#include "util/stop_signal.hpp"

#include <chrono>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  CLI::App app{"personaplex-sim " PV_VERSION ": PersonaPlex server simulator (wire-exact protocol, "
               "VAD + flite conversation partner, fault injection)",
               "personaplex-sim"};
  app.set_version_flag("--version", "personaplex-sim " PV_VERSION);

  pv::sim::SimParams params;
  std::string log_level = "info";
  std::string log_format = "text";
  app.add_option("--host", params.host, "Listen address")->capture_default_str();
  app.add_option("--port", params.port, "Listen port (0 = ephemeral)")->capture_default_str();
  auto* cert = app.add_option("--cert", params.tls.cert_file, "TLS certificate chain (PEM): wss")
                   ->check(CLI::ExistingFile);
  auto* key = app.add_option("--key", params.tls.key_file, "TLS private key (PEM)")
                  ->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);
  app.add_option("--step-ms", params.step_ms,
                 "Simulated GPU time per 80 ms model step (0 = as fast as the input; >80 = slower "
                 "than real time)")
      ->check(CLI::Range(0, 60000))
      ->capture_default_str();
  app.add_option("--prompt-step-ms", params.prompt_step_ms,
                 "Time per prompt-phase step (the real server's floor is ~10 ms)")
      ->check(CLI::Range(0, 60000))
      ->capture_default_str();
  app.add_option("--voice-frames", params.voices.default_frames,
                 "Voice-prompt length in 80 ms steps (N_voice)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  app.add_option("--voice-dir", params.voices.voice_dir,
                 "Directory whose files are accepted as voice_prompt (besides the 18 shipped "
                 "names); .wav prompts count their duration")
      ->check(CLI::ExistingDirectory);
  app.add_option("--max-sessions", params.max_sessions,
                 "Concurrent sessions (the real server: 1; others wait in a FIFO)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_flag("--emulate-prompt-bug", params.last_connected_prompts_win,
               "Emulate the real server's bug: the last-connected client's prompts win");

  pv::sim::SimFaults& faults = params.faults;
  app.add_option("--drop-after-frames", faults.drop_after_frames,
                 "Fault: close TCP (no Close frame) after N output pages")
      ->check(CLI::Range(0, 1 << 30));
  app.add_option("--stall-after-frames", faults.stall_after_frames,
                 "Fault: stop reading and sending after N output pages (socket stays open)")
      ->check(CLI::Range(0, 1 << 30));
  app.add_option("--garbage-after-frames", faults.garbage_after_frames,
                 "Fault: send one 0x01 message of random bytes after N output pages")
      ->check(CLI::Range(0, 1 << 30));
  app.add_option("--bad-crc-after-frames", faults.bad_crc_after_frames,
                 "Fault: page N+1 is sent with a corrupted CRC")
      ->check(CLI::Range(0, 1 << 30));
  app.add_flag("--close-before-handshake", faults.close_before_handshake,
               "Fault: close TCP halfway through the prompt phase");
  app.add_option("--reject-status", faults.reject_status,
                 "Fault: answer the upgrade with this HTTP status (e.g. 503, 429) instead of 101")
      ->check(CLI::Range(200, 599));
  app.add_option("--retry-after", faults.retry_after,
                 "Retry-After value sent with --reject-status (empty = none)")
      ->capture_default_str();
  app.add_option("--slow-step-ms", faults.slow_step_ms,
                 "Fault: model step time of the faulted sessions (slow GPU; overrides --step-ms)")
      ->check(CLI::Range(0, 60000));
  app.add_option("--fault-session", faults.session,
                 "Apply the faults only to the K-th /api/chat session (1-based; 0 = all)")
      ->check(CLI::Range(0, 1 << 30))
      ->capture_default_str();

  app.add_option("--reply-text", params.model.fixed_reply,
                 "Always answer with this sentence (default: cycle through built-in replies)");
  app.add_option("--backchannel-probability", params.model.backchannel_probability,
                 "Chance of a backchannel (\"Mm-hmm.\") during a long utterance")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--seed", params.seed, "Seed for backchannels and garbage bytes")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|critical|off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  app.add_option("--log-format", log_format, "text|json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  pv::config::LogSettings log_settings;
  log_settings.level = log_level;
  log_settings.format =
      log_format == "json" ? pv::config::LogFormat::json : pv::config::LogFormat::text;
  if (auto problem = pv::log::init(log_settings, {}); !problem.empty()) {
    std::cerr << problem << "\n";
  }

  pv::util::install_stop_signal_handlers();

  auto server = pv::sim::SimServer::create(params);
  if (!server) {
    std::cerr << "personaplex-sim: " << pv::sim::to_string(server.error().kind) << ": "
              << server.error().message << "\n";
    return 1;
  }
  // Scripts and tests read the bound port from this line.
  std::cout << "listening on " << params.host << ":" << (*server)->port() << std::endl;

  while (!pv::util::stop_requested.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  pv::log::info_event("SIM_SHUTDOWN", {{"sessions", (*server)->sessions().size()}});
  (*server)->stop();
  return 0;
}
