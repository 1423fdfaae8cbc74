#include "config/settings.hpp"

#include <algorithm>
#include <sstream>

namespace pv::config {

bool LoadedSettings::ok() const {
  return std::none_of(diagnostics.begin(), diagnostics.end(), [](const Diagnostic& d) {
    return d.severity == Diagnostic::Severity::error;
  });
}

LoadedSettings load_settings(const EnvSource& source) {
  LoadedSettings loaded;
  EnvReader env(source);
  auto& s = loaded.settings;
  read_general_settings(env, s.general);
  read_log_settings(env, s.log);
  read_room_settings(env, s.general.output_dir, s.room);
  read_personaplex_settings(env, s.general.backend == BackendKind::personaplex, s.personaplex);
  const bool cascade_used =
      s.general.backend == BackendKind::cascade ||
      (s.general.backend == BackendKind::personaplex && s.personaplex.fallback_to_llm);
  read_cascade_settings(env, cascade_used, s.cascade);

  loaded.diagnostics = env.diagnostics();
  loaded.variables = env.records();
  for (const std::string* secret :
       {&s.room.podium.token, &s.cascade.asr.openai_api_key, &s.cascade.llm.anthropic_api_key,
        &s.cascade.tts.google_api_key, &s.cascade.tts.azure_key}) {
    if (!secret->empty()) {
      loaded.secret_values.push_back(*secret);
    }
  }
  // Secrets only used by scripts (the PersonaPlex launcher) are still never to be logged.
  for (const char* name : {"HF_TOKEN", "HUGGINGFACE_API_KEY", "JITSI_JWT"}) {
    if (auto v = source.get(name); v && !v->empty()) {
      loaded.secret_values.push_back(*v);
    }
  }
  return loaded;
}

namespace {
const char* origin_label(ValueOrigin o) {
  switch (o) {
  case ValueOrigin::command_line:
    return "command line";
  case ValueOrigin::process_env:
    return "env";
  case ValueOrigin::env_file:
    return "file";
  case ValueOrigin::unset:
    return "default";
  }
  return "";
}
} // namespace

std::string describe(const LoadedSettings& loaded) {
  std::ostringstream out;
  std::string section;
  std::size_t width = 0;
  for (const auto& v : loaded.variables) {
    width = std::max(width, v.name.size());
  }
  for (const auto& v : loaded.variables) {
    if (v.section != section) {
      section = v.section;
      out << "[" << section << "]\n";
    }
    out << "  " << v.name << std::string(width - v.name.size() + 1, ' ') << "= "
        << (v.effective.empty() ? "\"\"" : v.effective) << "  (" << origin_label(v.origin) << ")\n";
  }
  for (const auto& d : loaded.diagnostics) {
    out << (d.severity == Diagnostic::Severity::error ? "ERROR   " : "WARNING ") << d.message
        << "\n";
  }
  return out.str();
}

} // namespace pv::config
