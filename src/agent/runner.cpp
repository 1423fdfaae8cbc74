#include "agent/runner.hpp"

#include "agent/agent.hpp"
#include "agent/factory.hpp"
#include "config/settings.hpp"
#include "log/log.hpp"
#include "room/mock_room.hpp"

#include <iomanip>
#include <ostream>
#include <sstream>

namespace pv::agent {

namespace {

std::string clip(const std::string& s, std::size_t n) {
  if (s.size() <= n) {
    return s;
  }
  return s.substr(0, n - 3) + "...";
}

void print_summary(const room::Timeline& timeline, const config::Settings& settings,
                   int64_t recorded_ms, std::ostream& out) {
  const auto turns = timeline.turns();
  out << "\nConversation (" << config::to_string(settings.general.backend) << " backend, "
      << turns.size() << (turns.size() == 1 ? " turn" : " turns") << "):\n";
  out << std::left << std::setw(4) << "#" << std::setw(34) << "user" << std::setw(40) << "agent"
      << "latency ms (total: parts)\n";
  int n = 0;
  for (const auto& t : turns) {
    std::ostringstream lat;
    for (std::size_t i = 0; i < t.latency_ms.size(); ++i) {
      const auto& [name, ms] = t.latency_ms[i];
      lat << (i == 0 ? "" : (i == 1 ? ": " : ", ")) << name << " " << std::fixed
          << std::setprecision(0) << ms;
    }
    out << std::left << std::setw(4) << ++n << std::setw(34)
        << clip(t.user_text.empty() ? "(audio)" : t.user_text, 32) << std::setw(40)
        << clip((t.agent_text.empty() ? "(audio)" : t.agent_text) +
                    (t.interrupted ? " [interrupted]" : ""),
                38)
        << lat.str() << "\n";
  }
  out << "\nWrote " << settings.room.mock.output_wav << " (" << std::fixed << std::setprecision(1)
      << static_cast<double>(recorded_ms) / 1000.0 << " s of agent audio, 48 kHz) and "
      << settings.room.mock.timeline_json << " (" << turns.size() << " turns, "
      << timeline.to_json()["events"].size() << " events).\n";
}

} // namespace

int run_agent(const RunOptions& options, const std::atomic<bool>& stop, std::ostream& out,
              std::ostream& err) {
  auto source = config::EnvSource::load(options.env_file);
  if (!source) {
    err << "configuration error: " << source.error().to_string() << "\n";
    return 2;
  }
  config::EnvSource& merged = *source;
  for (const auto& [k, v] : options.overrides) {
    merged.set_override(k, v);
  }

  auto loaded = config::load_settings(merged);
  validate_settings(loaded);
  const auto& settings = loaded.settings;
  if (auto log_error = log::init(settings.log, loaded.secret_values); !log_error.empty()) {
    err << "configuration error: " << log_error << "\n";
    return 2;
  }

  if (options.check_config) {
    out << "podium-voices " << PV_VERSION << " effective configuration"
        << (merged.file_name().empty() ? "" : " (file: " + merged.file_name() + ")") << ":\n"
        << config::describe(loaded);
    out << (loaded.ok() ? "configuration OK\n" : "configuration has errors\n");
    return loaded.ok() ? 0 : 2;
  }
  for (const auto& d : loaded.diagnostics) {
    if (d.severity == config::Diagnostic::Severity::error) {
      log::error_event("CONFIG_ERROR", {{"variable", d.variable}, {"message", d.message}});
      err << "configuration error: " << d.message << "\n";
    } else {
      log::warn_event("CONFIG_WARNING", {{"variable", d.variable}, {"message", d.message}});
    }
  }
  if (!loaded.ok()) {
    err << "refusing to start; fix the configuration above (see .env.example)\n";
    return 2;
  }

  if (settings.room.podium.configured()) {
    err << "PODIUM_TOKEN and PODIUM_OUTPOST_UUID are set, but joining a live Podium room is not "
           "part of this build yet; unset them to run in the mock room\n";
    return 2;
  }

  auto backends = make_backends(settings);
  if (!backends) {
    err << "configuration error: " << backends.error() << "\n";
    return 2;
  }

  room::Timeline timeline;
  room::MockRoomParams room_params;
  const auto& m = settings.room.mock;
  room_params.input_wav = m.input_wav;
  room_params.output_wav = m.output_wav;
  room_params.speed = m.speed;
  room_params.lead_in_ms = m.lead_in_ms;
  room_params.tail_ms = m.tail_ms;
  room_params.max_wait_ms = m.max_wait_ms;
  auto room = room::MockRoom::create(room_params, timeline);
  if (!room) {
    err << "mock room: " << room.error().message << "\n";
    return 2;
  }
  log::info_event("CONFIG_OK", {{"backend", config::to_string(settings.general.backend)},
                                {"room", "mock"},
                                {"input", m.input_wav},
                                {"speed", m.speed}});
  if (m.input_wav.empty()) {
    log::warn_event("MOCK_ROOM_SILENT",
                    {{"message", "MOCK_ROOM_INPUT_WAV is not set: the room is silent"}});
  }

  AgentParams agent_params;
  agent_params.speaking.threshold_dbfs = settings.general.speaking_threshold_dbfs;
  agent_params.speaking.hangover_ms = settings.general.speaking_hangover_ms;
  agent_params.log_transcript_text = settings.general.log_transcript_text;
  Agent agent(agent_params, **room, timeline, *backends->primary, backends->fallback.get());
  auto ran = agent.run(stop);
  // Write what we have even after a failure: nothing is lost.
  auto written = timeline.write(m.timeline_json);
  if (!written) {
    err << "cannot write the timeline: " << written.error() << "\n";
    return 3;
  }
  if (!ran) {
    err << "agent failed: " << ran.error() << "\n";
    return 3;
  }
  print_summary(timeline, settings,
                static_cast<int64_t>((*room)->recording().size()) * 1000 / audio::kRoomRateHz, out);
  return 0;
}

} // namespace pv::agent
