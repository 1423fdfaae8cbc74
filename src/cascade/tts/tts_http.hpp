#pragma once
// The transfer loops shared by the HTTP TTS providers (openai, google, azure), run on the
// synthesize() caller's thread:
//  * run_pcm_stream: a response body of raw mono s16le PCM at a known rate, delivered to the sink
//    chunk by chunk as it arrives (odd byte counts split across network chunks are rejoined);
//    a body that starts with a RIFF/WAVE header or is JSON is refused (protocol), so header bytes
//    are never played as audio.
//  * fetch_body: a whole (bounded) response body, for non-streaming APIs.
//  * deliver_pcm: hands a decoded clip to the sink in chunk_ms pieces, checking cancellation
//    between pieces.
// All three honour request.timeout (whole call) and request.cancel (noticed within ~5 ms). With
// run_pcm_stream the final chunk is an EMPTY chunk with last = true (the end of the stream is only
// known after the last audio bytes have been delivered); TtsResult::chunks counts the chunks that
// carried samples.

#include "cascade/http/http_support.hpp"
#include "cascade/tts/tts_provider.hpp"
#include "net/http_client.hpp"

#include <functional>
#include <span>
#include <string>

namespace pv::cascade::http {

struct TtsHttpParams {
  std::string what;                 // "azure TTS": prefixes messages
  const Secrets* secrets = nullptr; // scrubbed from every message
  // Maps an HTTP failure (providers refine the generic to_provider_error).
  std::function<ProviderError(const net::HttpError&)> on_http_error;
};

// What synthesize() checks before any request, in this order: a valid request, then the
// provider's `body` (its error, e.g. a foreign voice name, is returned), then no cancellation yet.
tl::expected<std::string, ProviderError> checked_body(const TtsRequest& request,
                                                      tl::expected<std::string, ProviderError> body,
                                                      std::string_view what);

tl::expected<TtsResult, ProviderError>
run_pcm_stream(net::HttpClient& client, net::HttpRequest http_request, const TtsRequest& request,
               const TtsChunkSink& sink, int sample_rate_hz, const TtsHttpParams& params);

tl::expected<std::string, ProviderError>
fetch_body(net::HttpClient& client, net::HttpRequest http_request, const TtsRequest& request,
           std::size_t max_bytes, const TtsHttpParams& params);

// Delivers `samples` in pieces of `chunk_ms`, the final one flagged last; updates `result`
// (chunks, samples, first_chunk_ms from `started`). Cancelled -> error, nothing more delivered.
tl::expected<void, ProviderError> deliver_pcm(std::span<const int16_t> samples, int sample_rate_hz,
                                              int chunk_ms, const TtsRequest& request,
                                              const TtsChunkSink& sink, Clock::time_point started,
                                              TtsResult& result, std::string_view what);

// Voice-name namespaces, so a name meant for one provider never reaches another (the original
// sent Google names to Azure):
//  * Google: "<lang>-<REGION>-<family>-<variant>", e.g. en-US-Neural2-D, en-US-Chirp3-HD-Achernar;
//  * Azure:  "<lang>-<REGION>-<Name>Neural", e.g. en-US-JennyNeural,
//  en-US-Ava:DragonHDLatestNeural;
//  * OpenAI: a plain word (alloy, onyx; compatible servers: af_bella), never locale-prefixed.
bool has_locale_prefix(std::string_view voice);
bool is_google_voice_name(std::string_view voice);
bool is_azure_voice_name(std::string_view voice);
bool is_plain_voice_name(std::string_view voice);
// "en-US" of "en-US-JennyNeural" (the part before the second '-').
std::string voice_locale(std::string_view voice);

} // namespace pv::cascade::http
