#include "cascade/llm/llm_provider.hpp"

namespace pv::cascade {

const char* to_string(Role role) {
  switch (role) {
  case Role::system:
    return "system";
  case Role::user:
    return "user";
  case Role::assistant:
    return "assistant";
  }
  return "user";
}

tl::expected<void, ProviderError> validate_llm_request(const LlmRequest& request) {
  if (request.messages.empty()) {
    return tl::unexpected(make_error(ProviderErrorKind::bad_input, "LLM request has no messages"));
  }
  if (request.messages.back().role != Role::user) {
    return tl::unexpected(make_error(ProviderErrorKind::bad_input,
                                     "LLM request must end on a user message (got " +
                                         std::string(to_string(request.messages.back().role)) +
                                         ")"));
  }
  if (request.max_tokens <= 0) {
    return tl::unexpected(make_error(ProviderErrorKind::bad_input, "max_tokens must be > 0"));
  }
  if (request.first_token_timeout.count() <= 0 || request.total_timeout.count() <= 0) {
    return tl::unexpected(make_error(ProviderErrorKind::bad_input, "LLM timeouts must be > 0"));
  }
  return {};
}

} // namespace pv::cascade
