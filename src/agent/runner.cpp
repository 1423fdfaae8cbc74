#include "agent/runner.hpp"

#include "agent/agent.hpp"
#include "agent/factory.hpp"
#include "config/settings.hpp"
#include "log/log.hpp"
#include "room/mock_room.hpp"

#include <algorithm>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <vector>

namespace pv::agent {

namespace {

std::string clip(const std::string& s, std::size_t n) {
  if (s.size() <= n) {
    return s;
  }
  std::size_t cut = n - 3;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) {
    --cut; // never split a UTF-8 character
  }
  return s.substr(0, cut) + "...";
}

// One row per turn: what the user said, what the agent said (cut at barge-in), and the latency
// (total = end of user speech -> first agent audio played) with the parts the backend reports.
void print_summary(const room::Timeline& timeline, const config::Settings& settings,
                   int64_t recorded_ms, std::ostream& out) {
  const auto turns = timeline.turns();
  const auto json = timeline.to_json();
  std::vector<double> stop_latencies;
  for (const auto& e : json["events"]) {
    if (e.value("type", "") == room::Timeline::kBargeIn) {
      stop_latencies.push_back(e.value("stop_latency_ms", 0.0));
    }
  }
  // Latency columns: total first, then every part in the order the turns report them.
  std::vector<std::string> columns;
  bool any_total = false;
  for (const auto& t : turns) {
    for (const auto& [name, ms] : t.latency_ms) {
      any_total |= name == "total";
    }
  }
  if (any_total) {
    columns.emplace_back("total");
  }
  for (const auto& t : turns) {
    for (const auto& [name, ms] : t.latency_ms) {
      if (std::find(columns.begin(), columns.end(), name) == columns.end()) {
        columns.push_back(name);
      }
    }
  }
  out << "\nConversation (" << config::to_string(settings.general.backend) << " backend, "
      << turns.size() << (turns.size() == 1 ? " turn" : " turns") << ", " << stop_latencies.size()
      << (stop_latencies.size() == 1 ? " barge-in" : " barge-ins") << "):\n";
  out << std::left << std::setw(4) << "#" << std::setw(32) << "user" << std::setw(42) << "agent"
      << std::setw(5) << "cut";
  for (const auto& c : columns) {
    out << std::right << std::setw(static_cast<int>(std::max<std::size_t>(c.size(), 5)) + 2) << c;
  }
  out << std::left << "\n";
  int n = 0;
  for (const auto& t : turns) {
    out << std::left << std::setw(4) << ++n << std::setw(32)
        << clip(t.user_text.empty() ? "-" : t.user_text, 30) << std::setw(42)
        << clip(t.agent_text.empty() ? "-" : t.agent_text, 40) << std::setw(5)
        << (t.interrupted ? "yes" : "");
    for (const auto& c : columns) {
      std::string cell = "-";
      for (const auto& [name, ms] : t.latency_ms) {
        if (name == c) {
          std::ostringstream v;
          v << std::fixed << std::setprecision(0) << ms;
          cell = v.str();
        }
      }
      out << std::right << std::setw(static_cast<int>(std::max<std::size_t>(c.size(), 5)) + 2)
          << cell;
    }
    out << std::left << "\n";
  }
  if (any_total) {
    out << "latency in ms; total = end of user speech -> first agent audio played";
    if (std::find(columns.begin(), columns.end(), "queue") != columns.end()) {
      out << "; queue = total - the other parts";
    }
    out << "\n";
  }
  if (!stop_latencies.empty()) {
    out << "barge-in: agent audio stopped " << std::fixed << std::setprecision(2);
    for (std::size_t i = 0; i < stop_latencies.size(); ++i) {
      out << (i == 0 ? "" : ", ") << stop_latencies[i];
    }
    out << " ms after the decision\n";
  }
  out << "\nWrote " << settings.room.mock.output_wav << " (" << std::fixed << std::setprecision(1)
      << static_cast<double>(recorded_ms) / 1000.0 << " s of agent audio, 48 kHz) and "
      << settings.room.mock.timeline_json << " (" << turns.size() << " turns, "
      << json["events"].size() << " events).\n";
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
