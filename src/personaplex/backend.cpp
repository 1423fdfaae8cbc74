#include "personaplex/backend.hpp"

#include "personaplex/duplex_backend.hpp"
#include "personaplex/turn_backend.hpp"

namespace pv::personaplex {

std::unique_ptr<conversation::ConversationBackend> make_backend(BackendOptions options) {
  if (options.mode == config::PersonaPlexMode::turn) {
    return std::make_unique<TurnBackend>(std::move(options));
  }
  return std::make_unique<DuplexBackend>(std::move(options));
}

} // namespace pv::personaplex
