#pragma once
// The agent's typed configuration, read from the environment and `.env.local` (environment wins).
// Variable names follow the original system (docs: original-system.md Appendix A); every variable,
// with its default, is documented in .env.example (a test keeps the two in step).
//
// Each section has its own header/source pair so that its home can grow it independently.

#include "config/cascade_settings.hpp"
#include "config/env_reader.hpp"
#include "config/general_settings.hpp"
#include "config/personaplex_settings.hpp"
#include "config/room_settings.hpp"

#include <string>
#include <vector>

namespace pv::config {

struct Settings {
  GeneralSettings general;
  LogSettings log;
  RoomSettings room;
  PersonaPlexSettings personaplex;
  CascadeSettings cascade;
};

struct LoadedSettings {
  Settings settings;
  std::vector<Diagnostic> diagnostics;   // errors and warnings, in reading order
  std::vector<VariableRecord> variables; // every variable read (secrets masked)
  bool ok() const;
  std::vector<std::string> secret_values; // raw secret values, for log redaction
};

LoadedSettings load_settings(const EnvSource& source);

// Human-readable dump of the effective configuration (secrets masked), for --check-config.
std::string describe(const LoadedSettings& loaded);

} // namespace pv::config
