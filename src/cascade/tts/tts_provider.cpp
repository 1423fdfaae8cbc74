#include "cascade/tts/tts_provider.hpp"

#include <algorithm>
#include <cctype>

namespace pv::cascade {

tl::expected<void, ProviderError> validate_tts_request(const TtsRequest& request) {
  const bool blank = std::all_of(request.text.begin(), request.text.end(),
                                 [](unsigned char c) { return std::isspace(c) != 0; });
  if (blank) {
    return tl::unexpected(make_error(ProviderErrorKind::bad_input, "TTS text is empty"));
  }
  if (request.text.size() > kMaxTtsTextChars) {
    return tl::unexpected(make_error(ProviderErrorKind::bad_input,
                                     "TTS text has " + std::to_string(request.text.size()) +
                                         " bytes; the limit is " +
                                         std::to_string(kMaxTtsTextChars) + " (split it first)"));
  }
  if (request.voice.rate_percent < 50 || request.voice.rate_percent > 200) {
    return tl::unexpected(make_error(ProviderErrorKind::bad_input,
                                     "TTS rate " + std::to_string(request.voice.rate_percent) +
                                         "% is out of range (50..200)"));
  }
  if (request.voice.pitch_percent < -50 || request.voice.pitch_percent > 100) {
    return tl::unexpected(make_error(ProviderErrorKind::bad_input,
                                     "TTS pitch " + std::to_string(request.voice.pitch_percent) +
                                         "% is out of range (-50..100)"));
  }
  if (request.timeout.count() <= 0) {
    return tl::unexpected(make_error(ProviderErrorKind::bad_input, "TTS timeout must be > 0"));
  }
  return {};
}

} // namespace pv::cascade
