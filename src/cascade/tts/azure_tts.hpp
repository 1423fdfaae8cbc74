#pragma once
// TTS_PROVIDER=azure: Azure AI Speech text-to-speech REST.
//
// Request: POST https://<AZURE_TTS_REGION>.tts.speech.microsoft.com/cognitiveservices/v1 (or
// {AZURE_TTS_BASE_URL}/cognitiveservices/v1) with `Ocp-Apim-Subscription-Key`,
// `Content-Type: application/ssml+xml`, `X-Microsoft-OutputFormat: <AZURE_TTS_OUTPUT_FORMAT>`
// (raw-24khz-16bit-mono-pcm by default; any raw-*-16bit-mono-pcm) and the SSML
//   <speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' xml:lang='en-US'>
//     <voice name='en-US-JennyNeural'><prosody rate='+0%' pitch='+0%'>text</prosody></voice>
//   </speak>
// with the text XML-escaped (& < > " ') and characters XML 1.0 forbids replaced by spaces.
// Response: raw mono s16le PCM at the output format's rate, streamed chunk by chunk to the sink,
// EVERY chunk tagged with that rate (the original played 16 kHz audio as 48 kHz: 3x speed).
// Voice options: prosody rate = rate_percent - 100 ("+N%" / "-N%"), pitch = pitch_percent
// ("+N%"). `voice` = the persona's azureVoiceName or AZURE_TTS_VOICE_NAME; only Azure neural
// voice names ("<locale>-<Name>Neural") are sent: a Google name (e.g. en-US-Neural2-D, which the
// original forced onto Azure) is refused as bad_input. xml:lang is the voice's locale.
// Errors: auth (401/403), rate_limited (429 + retry_after), http (e.g. 400 bad SSML), protocol (a
// WAV/JSON body or no audio), timeout (request.timeout, whole call), cancelled, disconnected.
//
// Thread-safety: synthesize() may run concurrently (one HTTP worker thread per provider).

#include "cascade/http/http_support.hpp"
#include "cascade/tts/tts_provider.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace pv::cascade {

struct AzureTtsParams {
  std::string region;                                     // AZURE_TTS_REGION, e.g. "westeurope"
  std::string base_url;                                   // AZURE_TTS_BASE_URL (overrides region)
  std::string api_key;                                    // AZURE_TTS_KEY
  std::string voice = "en-US-JennyNeural";                // AZURE_TTS_VOICE_NAME
  std::string output_format = "raw-24khz-16bit-mono-pcm"; // AZURE_TTS_OUTPUT_FORMAT
  std::chrono::milliseconds connect_timeout{5000};
};

class AzureTts final : public TtsProvider {
public:
  static tl::expected<std::unique_ptr<AzureTts>, ProviderError> create(AzureTtsParams params);
  ~AzureTts() override;

  std::string_view name() const override { return "azure"; }
  tl::expected<TtsResult, ProviderError> synthesize(const TtsRequest& request,
                                                    const TtsChunkSink& sink) override;

  // The SSML document synthesize() sends (exposed for tests and docs).
  tl::expected<std::string, ProviderError> ssml(const TtsRequest& request) const;
  int sample_rate_hz() const { return sample_rate_hz_; }

  // The sample rate of a raw PCM output format name ("raw-16khz-16bit-mono-pcm" -> 16000), or 0
  // for formats this provider does not accept (compressed, RIFF, stereo, 8-bit...).
  static int raw_format_rate(std::string_view output_format);
  // XML 1.0 escaping of text or attribute content.
  static std::string xml_escape(std::string_view text);

private:
  AzureTts(AzureTtsParams params, std::string url, int sample_rate_hz, http::ProviderHttp http);

  AzureTtsParams params_;
  std::string url_;
  int sample_rate_hz_ = 0;
  http::ProviderHttp http_;
};

} // namespace pv::cascade
