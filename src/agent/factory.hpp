#pragma once
// Builds the conversation backend(s) the configuration asks for, and runs the domain validation
// that the config home cannot do itself (protocol rules of PersonaPlex, provider availability).

#include "config/settings.hpp"
#include "conversation/backend.hpp"

#include <memory>
#include <string>

#include <tl/expected.hpp>

namespace pv::agent {

struct Backends {
  std::unique_ptr<conversation::ConversationBackend> primary;
  std::unique_ptr<conversation::ConversationBackend> fallback; // may be null
};

// Adds domain diagnostics (errors/warnings naming the variable) to `loaded`.
void validate_settings(config::LoadedSettings& loaded);

tl::expected<Backends, std::string> make_backends(const config::Settings& settings);

} // namespace pv::agent
