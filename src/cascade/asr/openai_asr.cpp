#include "cascade/asr/openai_asr.hpp"

#include "audio/wav.hpp"
#include "cascade/http/http_stream.hpp"
#include "cascade/owner.hpp"
#include "net/http_client.hpp"

#include <random>

#include <nlohmann/json.hpp>

namespace pv::cascade {

namespace {

using nlohmann::json;

constexpr const char* kWhat = "openai ASR";
constexpr std::size_t kMaxAnswerBytes = 4u << 20;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string random_boundary() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "----podium-voices-";
  for (int i = 0; i < 32; ++i) {
    out += kHex[rng() % 16];
  }
  return out;
}

// multipart/form-data (RFC 7578) with the text fields and one file part.
struct Multipart {
  std::string content_type;
  std::string body;
};

Multipart build_multipart(const std::vector<std::pair<std::string, std::string>>& fields,
                          std::string_view wav) {
  std::string boundary = random_boundary();
  // A boundary must not occur inside any part; with 128 random bits it practically never does,
  // but checking costs little.
  auto occurs = [&](const std::string& b) {
    if (wav.find(b) != std::string_view::npos) {
      return true;
    }
    for (const auto& [name, value] : fields) {
      if (value.find(b) != std::string::npos) {
        return true;
      }
    }
    return false;
  };
  while (occurs(boundary)) {
    boundary = random_boundary();
  }
  Multipart out;
  out.content_type = "multipart/form-data; boundary=" + boundary;
  out.body.reserve(wav.size() + 1024);
  out.body += "--" + boundary + "\r\n";
  out.body += "Content-Disposition: form-data; name=\"file\"; filename=\"utterance.wav\"\r\n";
  out.body += "Content-Type: audio/wav\r\n\r\n";
  out.body.append(wav);
  out.body += "\r\n";
  for (const auto& [name, value] : fields) {
    out.body += "--" + boundary + "\r\n";
    out.body += "Content-Disposition: form-data; name=\"" + name + "\"\r\n\r\n";
    out.body += value + "\r\n";
  }
  out.body += "--" + boundary + "--\r\n";
  return out;
}

std::string trim(std::string text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return {};
  }
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

} // namespace

struct OpenAiAsr::Shared {
  OpenAiAsrParams params;
  http::ProviderHttp http;
};

namespace {

class OpenAiAsrSession final : public AsrSession {
public:
  OpenAiAsrSession(std::shared_ptr<OpenAiAsr::Shared> shared, AsrUtteranceParams params)
      : shared_(std::move(shared)), params_(std::move(params)) {
    max_samples_ = static_cast<std::size_t>(static_cast<int64_t>(params_.sample_rate_hz) *
                                            params_.max_audio_ms / 1000);
  }

  tl::expected<void, ProviderError> push(std::span<const int16_t> pcm) override {
    PV_ASSERT_OWNER(owner_);
    if (closed_) {
      return tl::unexpected(
          make_error(ProviderErrorKind::bad_input, "openai ASR: push() after finish/cancel"));
    }
    if (params_.cancel.cancelled()) {
      closed_ = true;
      return tl::unexpected(make_error(ProviderErrorKind::cancelled, "openai ASR: cancelled"));
    }
    if (samples_.size() + pcm.size() > max_samples_) {
      return tl::unexpected(make_error(ProviderErrorKind::bad_input,
                                       "openai ASR: the utterance is longer than " +
                                           std::to_string(params_.max_audio_ms) + " ms"));
    }
    samples_.insert(samples_.end(), pcm.begin(), pcm.end());
    return {};
  }

  tl::expected<Transcript, ProviderError> finish() override {
    PV_ASSERT_OWNER(owner_);
    if (closed_) {
      return tl::unexpected(
          make_error(ProviderErrorKind::bad_input, "openai ASR: finish() after finish/cancel"));
    }
    closed_ = true;
    const auto started = Clock::now();
    if (params_.cancel.cancelled()) {
      return tl::unexpected(make_error(ProviderErrorKind::cancelled, "openai ASR: cancelled"));
    }
    Transcript transcript;
    transcript.audio_ms =
        static_cast<int64_t>(samples_.size()) * 1000 / std::max(1, params_.sample_rate_hz);
    if (samples_.empty()) {
      return transcript; // nothing said: no request (servers reject empty files)
    }
    auto text = transcribe(started);
    if (!text) {
      return tl::unexpected(text.error());
    }
    transcript.text = std::move(*text);
    transcript.finish_ms = ms_since(started);
    return transcript;
  }

  void cancel() override {
    PV_ASSERT_OWNER(owner_);
    closed_ = true;
    samples_.clear();
  }

private:
  tl::expected<std::string, ProviderError> transcribe(Clock::time_point started) {
    const OpenAiAsrParams& settings = shared_->params;
    audio::PcmBuffer pcm;
    pcm.sample_rate = params_.sample_rate_hz;
    pcm.samples = std::move(samples_);
    const std::vector<uint8_t> wav = audio::encode_wav(pcm);
    if (wav.empty()) {
      return tl::unexpected(
          make_error(ProviderErrorKind::bad_input, "openai ASR: cannot encode the utterance"));
    }
    std::vector<std::pair<std::string, std::string>> fields = {{"model", settings.model},
                                                               {"response_format", "json"}};
    if (!params_.language.empty()) {
      fields.emplace_back("language", params_.language);
    }
    Multipart multipart = build_multipart(
        fields, std::string_view(reinterpret_cast<const char*>(wav.data()), wav.size()));

    net::HttpRequest request = http::post_request(
        http::join_url(settings.base_url, "audio/transcriptions"),
        {{"Content-Type", multipart.content_type}, {"Accept", "application/json"}},
        std::move(multipart.body), std::min(settings.connect_timeout, params_.timeout));
    http::add_bearer(request, settings.api_key);
    request.timeouts.total_ms = static_cast<int>(params_.timeout.count()) + 1000; // backstop

    const auto deadline = started + params_.timeout;
    http::HttpStream stream(*shared_->http.client, std::move(request));
    std::string answer;
    for (;;) {
      switch (stream.wait(answer, deadline, params_.cancel)) {
      case http::HttpStream::Wait::data:
        if (answer.size() > kMaxAnswerBytes) {
          return tl::unexpected(make_error(ProviderErrorKind::protocol,
                                           std::string(kWhat) + ": the answer is too large"));
        }
        break;
      case http::HttpStream::Wait::cancelled:
        return tl::unexpected(make_error(ProviderErrorKind::cancelled, "openai ASR: cancelled"));
      case http::HttpStream::Wait::deadline:
        stream.cancel();
        return tl::unexpected(
            make_error(ProviderErrorKind::timeout, std::string(kWhat) + ": no transcript within " +
                                                       http::ms_text(params_.timeout)));
      case http::HttpStream::Wait::finished: {
        if (!stream.result()) {
          return tl::unexpected(
              http::to_provider_error(stream.result().error(), kWhat, shared_->http.secrets));
        }
        const json reply = json::parse(answer, nullptr, false);
        const auto text = reply.is_object() ? reply.find("text") : reply.end();
        if (reply.is_discarded() || !reply.is_object() || text == reply.end() ||
            !text->is_string()) {
          return tl::unexpected(
              make_error(ProviderErrorKind::protocol,
                         http::scrub(std::string(kWhat) + ": the answer has no \"text\": " +
                                         http::error_message_from_body(answer, 120),
                                     shared_->http.secrets)));
        }
        return trim(text->get<std::string>());
      }
      }
    }
  }

  std::shared_ptr<OpenAiAsr::Shared> shared_;
  AsrUtteranceParams params_;
  std::vector<int16_t> samples_;
  std::size_t max_samples_ = 0;
  bool closed_ = false;
  MovableThreadOwner owner_; // binds to the first thread that pushes
};

} // namespace

tl::expected<std::unique_ptr<OpenAiAsr>, ProviderError> OpenAiAsr::create(OpenAiAsrParams params) {
  if (auto ok = http::check_base_url(params.base_url, "ASR_BASE_URL"); !ok) {
    return tl::unexpected(ok.error());
  }
  if (params.model.empty()) {
    return tl::unexpected(make_error(ProviderErrorKind::config, "ASR_MODEL is empty"));
  }
  if (params.connect_timeout.count() <= 0) {
    return tl::unexpected(
        make_error(ProviderErrorKind::config, "openai ASR connect timeout must be positive"));
  }
  auto http = http::make_provider_http("asr-openai", params.api_key);
  if (!http) {
    return tl::unexpected(http.error());
  }
  auto shared = std::make_shared<Shared>();
  shared->params = std::move(params);
  shared->http = std::move(*http);
  return std::unique_ptr<OpenAiAsr>(new OpenAiAsr(std::move(shared)));
}

OpenAiAsr::OpenAiAsr(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

OpenAiAsr::~OpenAiAsr() = default;

tl::expected<std::unique_ptr<AsrSession>, ProviderError>
OpenAiAsr::start_utterance(const AsrUtteranceParams& params) {
  if (params.sample_rate_hz < 8000 || params.sample_rate_hz > 48000) {
    return tl::unexpected(
        make_error(ProviderErrorKind::bad_input, "openai ASR: sample rate " +
                                                     std::to_string(params.sample_rate_hz) +
                                                     " Hz is outside 8000..48000"));
  }
  if (params.max_audio_ms <= 0 || params.timeout.count() <= 0) {
    return tl::unexpected(make_error(ProviderErrorKind::bad_input,
                                     "openai ASR: max_audio_ms and timeout must be > 0"));
  }
  if (params.cancel.cancelled()) {
    return tl::unexpected(make_error(ProviderErrorKind::cancelled, "openai ASR: cancelled"));
  }
  return std::unique_ptr<AsrSession>(std::make_unique<OpenAiAsrSession>(shared_, params));
}

} // namespace pv::cascade
