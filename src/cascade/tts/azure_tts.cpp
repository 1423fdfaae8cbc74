#include "cascade/tts/azure_tts.hpp"

#include "cascade/tts/tts_http.hpp"
#include "net/http_client.hpp"

#include <algorithm>
#include <charconv>

namespace pv::cascade {

namespace {

constexpr const char* kWhat = "azure TTS";

std::string signed_percent(int value) {
  std::string out;
  if (value >= 0) {
    out.push_back('+');
  }
  out.append(std::to_string(value));
  out.push_back('%');
  return out;
}

bool valid_region(std::string_view region) {
  return !region.empty() && std::all_of(region.begin(), region.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

} // namespace

int AzureTts::raw_format_rate(std::string_view format) {
  // raw-<N>khz-16bit-mono-pcm or raw-<N>hz-16bit-mono-pcm
  constexpr std::string_view kPrefix = "raw-";
  constexpr std::string_view kSuffix = "-16bit-mono-pcm";
  if (format.size() <= kPrefix.size() + kSuffix.size() || format.substr(0, 4) != kPrefix ||
      format.substr(format.size() - kSuffix.size()) != kSuffix) {
    return 0;
  }
  std::string_view rate =
      format.substr(kPrefix.size(), format.size() - kPrefix.size() - kSuffix.size());
  int scale = 1;
  if (rate.size() > 3 && rate.substr(rate.size() - 3) == "khz") {
    scale = 1000;
    rate.remove_suffix(3);
  } else if (rate.size() > 2 && rate.substr(rate.size() - 2) == "hz") {
    rate.remove_suffix(2);
  } else {
    return 0;
  }
  int value = 0;
  const auto [end, ec] = std::from_chars(rate.data(), rate.data() + rate.size(), value);
  if (ec != std::errc{} || end != rate.data() + rate.size()) {
    return 0;
  }
  const int hz = value * scale;
  return hz >= 8000 && hz <= 48000 ? hz : 0;
}

std::string AzureTts::xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (char c : text) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&apos;";
      break;
    default:
      // XML 1.0 allows only tab, LF and CR below 0x20; Azure rejects the document otherwise.
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
        out += ' ';
      } else {
        out += c;
      }
    }
  }
  return out;
}

tl::expected<std::unique_ptr<AzureTts>, ProviderError> AzureTts::create(AzureTtsParams params) {
  std::string url;
  if (!params.base_url.empty()) {
    if (auto ok = http::check_base_url(params.base_url, "AZURE_TTS_BASE_URL"); !ok) {
      return tl::unexpected(ok.error());
    }
    url = http::join_url(params.base_url, "cognitiveservices/v1");
  } else if (valid_region(params.region)) {
    url = "https://" + params.region + ".tts.speech.microsoft.com/cognitiveservices/v1";
  } else {
    return tl::unexpected(make_error(ProviderErrorKind::config,
                                     "AZURE_TTS_REGION='" + params.region +
                                         "' is not a region name (e.g. westeurope); set it or "
                                         "AZURE_TTS_BASE_URL"));
  }
  if (params.api_key.empty()) {
    return tl::unexpected(
        make_error(ProviderErrorKind::config, "TTS_PROVIDER=azure needs AZURE_TTS_KEY"));
  }
  if (!http::is_azure_voice_name(params.voice)) {
    return tl::unexpected(make_error(
        ProviderErrorKind::config, "AZURE_TTS_VOICE_NAME='" + params.voice +
                                       "' is not an Azure neural voice (e.g. en-US-JennyNeural)"));
  }
  const int rate = raw_format_rate(params.output_format);
  if (rate == 0) {
    return tl::unexpected(
        make_error(ProviderErrorKind::config, "AZURE_TTS_OUTPUT_FORMAT='" + params.output_format +
                                                  "' is not a raw 16-bit mono PCM format (e.g. "
                                                  "raw-24khz-16bit-mono-pcm)"));
  }
  if (params.connect_timeout.count() <= 0) {
    return tl::unexpected(
        make_error(ProviderErrorKind::config, "azure TTS connect timeout must be positive"));
  }
  auto http = http::make_provider_http("tts-azure", params.api_key);
  if (!http) {
    return tl::unexpected(http.error());
  }
  return std::unique_ptr<AzureTts>(
      new AzureTts(std::move(params), std::move(url), rate, std::move(*http)));
}

AzureTts::AzureTts(AzureTtsParams params, std::string url, int sample_rate_hz,
                   http::ProviderHttp http)
    : params_(std::move(params)), url_(std::move(url)), sample_rate_hz_(sample_rate_hz),
      http_(std::move(http)) {}

AzureTts::~AzureTts() = default;

tl::expected<std::string, ProviderError> AzureTts::ssml(const TtsRequest& request) const {
  const std::string& voice = request.voice.voice.empty() ? params_.voice : request.voice.voice;
  if (!http::is_azure_voice_name(voice)) {
    return tl::unexpected(make_error(ProviderErrorKind::bad_input,
                                     "azure TTS: '" + voice +
                                         "' is not an Azure voice name (a Google or OpenAI "
                                         "voice is never sent to Azure)"));
  }
  std::string out = "<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' xml:lang='";
  out += xml_escape(http::voice_locale(voice));
  out += "'><voice name='";
  out += xml_escape(voice);
  out += "'><prosody rate='";
  out += signed_percent(request.voice.rate_percent - 100);
  out += "' pitch='";
  out += signed_percent(request.voice.pitch_percent);
  out += "'>";
  out += xml_escape(request.text);
  out += "</prosody></voice></speak>";
  return out;
}

tl::expected<TtsResult, ProviderError> AzureTts::synthesize(const TtsRequest& request,
                                                            const TtsChunkSink& sink) {
  auto document = http::checked_body(request, ssml(request), kWhat);
  if (!document) {
    return tl::unexpected(document.error());
  }
  net::HttpRequest http_request =
      http::post_request(url_,
                         {{"Ocp-Apim-Subscription-Key", params_.api_key},
                          {"Content-Type", "application/ssml+xml"},
                          {"X-Microsoft-OutputFormat", params_.output_format}},
                         std::move(*document), std::min(params_.connect_timeout, request.timeout));

  http::TtsHttpParams transfer;
  transfer.what = kWhat;
  transfer.secrets = &http_.secrets;
  return http::run_pcm_stream(*http_.client, std::move(http_request), request, sink,
                              sample_rate_hz_, transfer);
}

} // namespace pv::cascade
