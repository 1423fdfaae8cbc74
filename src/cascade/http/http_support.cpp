#include "cascade/http/http_support.hpp"

#include "log/log.hpp"
#include "net/url.hpp"

#include <algorithm>
#include <climits>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

namespace pv::cascade::http {

namespace {

// Cuts `text` to at most `max` bytes without splitting a UTF-8 sequence.
std::string bounded(std::string_view text, std::size_t max) {
  if (text.size() <= max) {
    return std::string(text);
  }
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
    --cut; // text[cut] is a continuation byte: back up to the start of its sequence
  }
  return std::string(text.substr(0, cut)) + "...";
}

std::string without_controls(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      c = ' ';
    }
  }
  return text;
}

const nlohmann::json* string_field(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) {
    return nullptr;
  }
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? &*it : nullptr;
}

} // namespace

std::string join_url(std::string_view base, std::string_view path) {
  while (!base.empty() && base.back() == '/') {
    base.remove_suffix(1);
  }
  while (!path.empty() && path.front() == '/') {
    path.remove_prefix(1);
  }
  return std::string(base) + "/" + std::string(path);
}

tl::expected<void, ProviderError> check_base_url(std::string_view url, std::string_view variable) {
  auto parsed = net::parse_url(url);
  if (!parsed || (parsed->scheme != "http" && parsed->scheme != "https")) {
    return tl::unexpected(
        make_error(ProviderErrorKind::config, std::string(variable) + "='" + pv::log::redact(url) +
                                                  "' is not an http:// or https:// URL"));
  }
  if (!parsed->query().empty()) {
    return tl::unexpected(
        make_error(ProviderErrorKind::config,
                   std::string(variable) + " must not carry a query string (keys go in headers)"));
  }
  return {};
}

std::string scrub(std::string_view text, const Secrets& secrets) {
  std::string out(text);
  for (const auto& secret : secrets) {
    if (secret.empty()) {
      continue;
    }
    for (auto pos = out.find(secret); pos != std::string::npos; pos = out.find(secret, pos)) {
      out.replace(pos, secret.size(), "****");
      pos += 4;
    }
  }
  return pv::log::redact(out);
}

std::string error_message_from_body(std::string_view body, std::size_t max_chars) {
  const auto json = nlohmann::json::parse(body, nullptr, false);
  std::string message;
  if (!json.is_discarded() && json.is_object()) {
    const auto error = json.find("error");
    if (error != json.end() && error->is_object()) {
      if (const auto* m = string_field(*error, "message")) {
        message = m->get<std::string>();
      }
    } else if (error != json.end() && error->is_string()) {
      message = error->get<std::string>();
    }
    for (const char* key : {"message", "detail", "error_description"}) {
      if (!message.empty()) {
        break;
      }
      if (const auto* m = string_field(json, key)) {
        message = m->get<std::string>();
      }
    }
  }
  if (message.empty()) {
    message = std::string(body);
  }
  // Trim surrounding whitespace after the control characters became spaces.
  message = without_controls(std::move(message));
  const auto first = message.find_first_not_of(' ');
  const auto last = message.find_last_not_of(' ');
  message = first == std::string::npos ? std::string() : message.substr(first, last - first + 1);
  return bounded(message, max_chars);
}

std::string error_type_from_body(std::string_view body) {
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return {};
  }
  const auto error = json.find("error");
  if (error == json.end() || !error->is_object()) {
    return {};
  }
  for (const char* key : {"type", "status", "code"}) {
    if (const auto* value = string_field(*error, key)) {
      return bounded(value->get<std::string>(), 80);
    }
  }
  return {};
}

ProviderError to_provider_error(const net::HttpError& error, std::string_view what,
                                const Secrets& secrets) {
  const std::string prefix(what);
  switch (error.kind) {
  case net::HttpErrorKind::http_status: {
    const std::string server_message = error_message_from_body(error.body_snippet);
    std::string message = prefix + ": HTTP " + std::to_string(error.status);
    if (!server_message.empty()) {
      message += ": " + server_message;
    }
    ProviderErrorKind kind = ProviderErrorKind::http;
    if (error.status == 401 || error.status == 403) {
      kind = ProviderErrorKind::auth;
    } else if (error.status == 429) {
      kind = ProviderErrorKind::rate_limited;
    }
    ProviderError out = make_error(kind, scrub(message, secrets), error.status);
    out.retry_after = error.retry_after;
    return out;
  }
  case net::HttpErrorKind::timeout:
    return make_error(error.timeout == net::HttpTimeout::first_byte
                          ? ProviderErrorKind::first_token_timeout
                          : ProviderErrorKind::timeout,
                      scrub(prefix + ": " + error.describe(), secrets));
  case net::HttpErrorKind::cancelled:
    return make_error(ProviderErrorKind::cancelled, prefix + ": cancelled");
  case net::HttpErrorKind::connect_failed:
  case net::HttpErrorKind::disconnected:
  case net::HttpErrorKind::tls_error:
    return make_error(ProviderErrorKind::disconnected,
                      scrub(prefix + ": " + error.describe(), secrets));
  case net::HttpErrorKind::invalid_argument:
    return make_error(ProviderErrorKind::config, scrub(prefix + ": " + error.describe(), secrets));
  case net::HttpErrorKind::protocol:
    return make_error(ProviderErrorKind::protocol,
                      scrub(prefix + ": " + error.describe(), secrets));
  }
  return make_error(ProviderErrorKind::internal, scrub(prefix + ": " + error.describe(), secrets));
}

tl::expected<ProviderHttp, ProviderError> make_provider_http(std::string name,
                                                             const std::string& api_key) {
  net::HttpClientParams params;
  params.name = std::move(name);
  auto client = net::HttpClient::create(std::move(params));
  if (!client) {
    return tl::unexpected(
        make_error(ProviderErrorKind::internal,
                   "cannot create the HTTP client: " + client.error().describe()));
  }
  ProviderHttp out;
  out.client = std::move(*client);
  if (!api_key.empty()) {
    pv::log::add_secret(api_key);
    out.secrets.push_back(api_key);
  }
  return out;
}

net::HttpRequest post_request(std::string url, net::Headers headers, std::string body,
                              std::chrono::milliseconds connect_timeout) {
  net::HttpRequest request;
  request.method = "POST";
  request.url = std::move(url);
  request.headers = std::move(headers);
  request.body = std::move(body);
  request.timeouts.connect_ms = static_cast<int>(connect_timeout.count());
  return request;
}

void add_bearer(net::HttpRequest& request, const std::string& api_key) {
  if (!api_key.empty()) {
    request.headers.push_back({"Authorization", "Bearer " + api_key});
  }
}

std::optional<std::vector<uint8_t>> decode_base64(std::string_view text) {
  if (text.size() > static_cast<std::size_t>(INT_MAX / 2)) {
    return std::nullopt;
  }
  std::unique_ptr<EVP_ENCODE_CTX, decltype(&EVP_ENCODE_CTX_free)> ctx(EVP_ENCODE_CTX_new(),
                                                                      &EVP_ENCODE_CTX_free);
  if (!ctx) {
    return std::nullopt;
  }
  EVP_DecodeInit(ctx.get());
  std::vector<uint8_t> out(text.size() / 4 * 3 + 80);
  int written = 0;
  if (EVP_DecodeUpdate(ctx.get(), out.data(), &written,
                       reinterpret_cast<const unsigned char*>(text.data()),
                       static_cast<int>(text.size())) < 0) {
    return std::nullopt;
  }
  int tail = 0;
  if (EVP_DecodeFinal(ctx.get(), out.data() + written, &tail) != 1) {
    return std::nullopt; // a quantum of fewer than 4 characters was left over
  }
  out.resize(static_cast<std::size_t>(written + tail));
  return out;
}

std::string ms_text(std::chrono::milliseconds ms) {
  return std::to_string(ms.count()) + " ms";
}

std::span<const int16_t> PcmDecoder::decode(std::string_view bytes) {
  samples_.clear();
  std::size_t pos = 0;
  auto sample = [](uint8_t lo, uint8_t hi) {
    return static_cast<int16_t>(static_cast<uint16_t>(lo | (hi << 8)));
  };
  if (carry_ && !bytes.empty()) {
    samples_.push_back(sample(*carry_, static_cast<uint8_t>(bytes[0])));
    carry_.reset();
    pos = 1;
  }
  const std::size_t whole = (bytes.size() - pos) / 2;
  samples_.reserve(samples_.size() + whole);
  for (std::size_t i = 0; i < whole; ++i, pos += 2) {
    samples_.push_back(
        sample(static_cast<uint8_t>(bytes[pos]), static_cast<uint8_t>(bytes[pos + 1])));
  }
  if (pos < bytes.size()) {
    carry_ = static_cast<uint8_t>(bytes[pos]);
  }
  return samples_;
}

} // namespace pv::cascade::http
