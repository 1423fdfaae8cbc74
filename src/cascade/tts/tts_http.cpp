#include "cascade/tts/tts_http.hpp"

#include "cascade/http/http_stream.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace pv::cascade::http {

namespace {

const Secrets& secrets_of(const TtsHttpParams& params) {
  static const Secrets kNone;
  return params.secrets != nullptr ? *params.secrets : kNone;
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

ProviderError map_http_error(const net::HttpError& error, const TtsHttpParams& params) {
  return params.on_http_error ? params.on_http_error(error)
                              : to_provider_error(error, params.what, secrets_of(params));
}

ProviderError timed_out(const TtsRequest& request, const TtsHttpParams& params) {
  return make_error(ProviderErrorKind::timeout, params.what + ": synthesis exceeded its " +
                                                    ms_text(request.timeout) + " limit");
}

bool content_type_is(const std::optional<net::HttpResponseHead>& head, std::string_view prefix) {
  if (!head) {
    return false;
  }
  const auto type = net::find_header(head->headers, "Content-Type");
  return type && type->substr(0, prefix.size()) == prefix;
}

} // namespace

tl::expected<std::string, ProviderError> checked_body(const TtsRequest& request,
                                                      tl::expected<std::string, ProviderError> body,
                                                      std::string_view what) {
  if (auto valid = validate_tts_request(request); !valid) {
    return tl::unexpected(valid.error());
  }
  if (body && request.cancel.cancelled()) {
    return tl::unexpected(
        make_error(ProviderErrorKind::cancelled, std::string(what) + ": cancelled"));
  }
  return body;
}

tl::expected<TtsResult, ProviderError>
run_pcm_stream(net::HttpClient& client, net::HttpRequest http_request, const TtsRequest& request,
               const TtsChunkSink& sink, int sample_rate_hz, const TtsHttpParams& params) {
  const auto started = Clock::now();
  const auto deadline = started + request.timeout;
  http_request.timeouts.total_ms = static_cast<int>(request.timeout.count()) + 1000; // backstop
  HttpStream stream(client, std::move(http_request));

  TtsResult result;
  result.sample_rate_hz = sample_rate_hz;
  PcmDecoder decoder;
  std::string bytes;
  std::string probe; // the first bytes, held until we know they are not a header or JSON
  bool probed = false;
  bool json_body = false;
  std::string json_text;

  auto deliver = [&](std::string_view data) -> tl::expected<void, ProviderError> {
    const auto samples = decoder.decode(data);
    if (samples.empty()) {
      return {};
    }
    if (request.cancel.cancelled()) {
      stream.cancel();
      return tl::unexpected(make_error(ProviderErrorKind::cancelled, params.what + ": cancelled"));
    }
    if (result.chunks == 0) {
      result.first_chunk_ms = ms_since(started);
    }
    ++result.chunks;
    result.samples += static_cast<int64_t>(samples.size());
    sink(TtsChunk{samples, sample_rate_hz, false});
    return {};
  };
  // Decides what the first bytes are once there are enough of them (or the body ended).
  auto check_probe = [&](bool at_end) -> tl::expected<void, ProviderError> {
    if (probed || (probe.size() < 12 && !at_end)) {
      return {};
    }
    probed = true;
    if (probe.size() >= 12 && probe.compare(0, 4, "RIFF") == 0 &&
        probe.compare(8, 4, "WAVE") == 0) {
      stream.cancel();
      return tl::unexpected(make_error(ProviderErrorKind::protocol,
                                       params.what +
                                           ": the server sent a WAV file where raw PCM was "
                                           "requested (its header would play as a click)"));
    }
    return deliver(probe);
  };

  for (;;) {
    bytes.clear();
    switch (stream.wait(bytes, deadline, request.cancel)) {
    case HttpStream::Wait::data: {
      if (!probed && probe.empty() && content_type_is(stream.head(), "application/json")) {
        json_body = true;
      }
      if (json_body) {
        json_text.append(bytes, 0, std::min<std::size_t>(bytes.size(), 4096));
        break;
      }
      if (!probed) {
        probe += bytes;
        if (auto ok = check_probe(false); !ok) {
          return tl::unexpected(ok.error());
        }
        break;
      }
      if (auto ok = deliver(bytes); !ok) {
        return tl::unexpected(ok.error());
      }
      break;
    }
    case HttpStream::Wait::finished: {
      if (!stream.result()) {
        ProviderError error = map_http_error(stream.result().error(), params);
        if (error.kind == ProviderErrorKind::disconnected && result.samples > 0) {
          error.message += " (after " + std::to_string(result.samples) + " samples)";
        }
        return tl::unexpected(std::move(error));
      }
      if (json_body) {
        return tl::unexpected(make_error(
            ProviderErrorKind::protocol,
            scrub(params.what + ": expected audio, got JSON: " + error_message_from_body(json_text),
                  secrets_of(params))));
      }
      if (auto ok = check_probe(true); !ok) {
        return tl::unexpected(ok.error());
      }
      if (decoder.has_partial_sample()) {
        spdlog::debug("{}: the audio ended with half a sample (odd byte count); dropped it",
                      params.what);
      }
      if (result.samples == 0) {
        return tl::unexpected(
            make_error(ProviderErrorKind::protocol, params.what + ": the answer held no audio"));
      }
      if (request.cancel.cancelled()) {
        return tl::unexpected(
            make_error(ProviderErrorKind::cancelled, params.what + ": cancelled"));
      }
      sink(TtsChunk{{}, sample_rate_hz, true});
      result.total_ms = ms_since(started);
      return result;
    }
    case HttpStream::Wait::cancelled:
      return tl::unexpected(make_error(ProviderErrorKind::cancelled, params.what + ": cancelled"));
    case HttpStream::Wait::deadline:
      stream.cancel();
      return tl::unexpected(timed_out(request, params));
    }
  }
}

tl::expected<std::string, ProviderError>
fetch_body(net::HttpClient& client, net::HttpRequest http_request, const TtsRequest& request,
           std::size_t max_bytes, const TtsHttpParams& params) {
  const auto deadline = Clock::now() + request.timeout;
  http_request.timeouts.total_ms = static_cast<int>(request.timeout.count()) + 1000; // backstop
  HttpStream stream(client, std::move(http_request));
  std::string body;
  for (;;) {
    switch (stream.wait(body, deadline, request.cancel)) {
    case HttpStream::Wait::data:
      if (body.size() > max_bytes) {
        stream.cancel();
        return tl::unexpected(
            make_error(ProviderErrorKind::protocol, params.what + ": the answer exceeds " +
                                                        std::to_string(max_bytes) + " bytes"));
      }
      break;
    case HttpStream::Wait::finished:
      if (!stream.result()) {
        return tl::unexpected(map_http_error(stream.result().error(), params));
      }
      return body;
    case HttpStream::Wait::cancelled:
      return tl::unexpected(make_error(ProviderErrorKind::cancelled, params.what + ": cancelled"));
    case HttpStream::Wait::deadline:
      stream.cancel();
      return tl::unexpected(timed_out(request, params));
    }
  }
}

tl::expected<void, ProviderError> deliver_pcm(std::span<const int16_t> samples, int sample_rate_hz,
                                              int chunk_ms, const TtsRequest& request,
                                              const TtsChunkSink& sink, Clock::time_point started,
                                              TtsResult& result, std::string_view what) {
  const std::size_t step =
      std::max<std::size_t>(1, static_cast<std::size_t>(sample_rate_hz) *
                                   static_cast<std::size_t>(std::max(1, chunk_ms)) / 1000);
  result.sample_rate_hz = sample_rate_hz;
  for (std::size_t pos = 0; pos < samples.size(); pos += step) {
    if (request.cancel.cancelled()) {
      return tl::unexpected(
          make_error(ProviderErrorKind::cancelled, std::string(what) + ": cancelled"));
    }
    const std::size_t n = std::min(step, samples.size() - pos);
    if (result.chunks == 0) {
      result.first_chunk_ms = ms_since(started);
    }
    ++result.chunks;
    result.samples += static_cast<int64_t>(n);
    sink(TtsChunk{samples.subspan(pos, n), sample_rate_hz, pos + n == samples.size()});
  }
  return {};
}

namespace {

bool all_of_chars(std::string_view text, std::string_view extra) {
  return std::all_of(text.begin(), text.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           extra.find(c) != std::string_view::npos;
  });
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

} // namespace

bool has_locale_prefix(std::string_view voice) {
  // <lang: 2-3 lower-case letters>-<region: 2-4 letters or digits>-<rest>
  const auto first = voice.find('-');
  if (first == std::string_view::npos || first < 2 || first > 3) {
    return false;
  }
  const std::string_view lang = voice.substr(0, first);
  if (!std::all_of(lang.begin(), lang.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
    return false;
  }
  const auto second = voice.find('-', first + 1);
  if (second == std::string_view::npos || second + 1 >= voice.size()) {
    return false;
  }
  const std::string_view region = voice.substr(first + 1, second - first - 1);
  return region.size() >= 2 && region.size() <= 4 && all_of_chars(region, "");
}

bool is_google_voice_name(std::string_view voice) {
  return has_locale_prefix(voice) && !ends_with(voice, "Neural") && all_of_chars(voice, "-");
}

bool is_azure_voice_name(std::string_view voice) {
  return has_locale_prefix(voice) && ends_with(voice, "Neural") && all_of_chars(voice, "-_:");
}

bool is_plain_voice_name(std::string_view voice) {
  return !voice.empty() && voice.size() <= 64 && !has_locale_prefix(voice) &&
         all_of_chars(voice, "-_.+");
}

std::string voice_locale(std::string_view voice) {
  const auto first = voice.find('-');
  const auto second = first == std::string_view::npos ? first : voice.find('-', first + 1);
  return second == std::string_view::npos ? std::string() : std::string(voice.substr(0, second));
}

} // namespace pv::cascade::http
