#include "agent/factory.hpp"

#include "agent/loopback_backend.hpp"

namespace pv::agent {

void validate_settings(config::LoadedSettings& loaded) {
  (void)loaded;
}

tl::expected<Backends, std::string> make_backends(const config::Settings& settings) {
  Backends backends;
  switch (settings.general.backend) {
  case config::BackendKind::loopback:
    backends.primary = std::make_unique<LoopbackBackend>();
    return backends;
  case config::BackendKind::cascade:
  case config::BackendKind::personaplex:
    break;
  }
  return tl::make_unexpected(std::string("CONVERSATION_BACKEND=") +
                             config::to_string(settings.general.backend) +
                             " is not available in this build yet; accepted: loopback");
}

} // namespace pv::agent
