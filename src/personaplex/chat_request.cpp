#include "personaplex/chat_request.hpp"

#include "net/url.hpp"
#include "util/text.hpp"

#include <algorithm>

namespace pv::personaplex {

namespace {

constexpr std::string_view kServerUrlVariable = "PERSONAPLEX_SERVER_URL";
constexpr std::string_view kVoiceVariable = "PERSONAPLEX_VOICE_PROMPT";

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

char ascii_upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_upper(x) == ascii_upper(y);
         });
}

// Size of `text` once percent-encoded by net::percent_encode.
std::size_t encoded_size(std::string_view text) {
  std::size_t size = 0;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    size += unreserved ? 1 : 3;
  }
  return size;
}

SettingError url_error(std::string_view server_url, const std::string& why) {
  return SettingError{std::string(kServerUrlVariable),
                      std::string(kServerUrlVariable) + "='" + std::string(server_url) +
                          "' is not usable: " + why +
                          "; accepted: http://, https://, ws:// or wss://host[:port][/prefix], "
                          "e.g. https://gpu-host:8998"};
}

} // namespace

tl::expected<std::string, SettingError> chat_endpoint(std::string_view server_url) {
  const std::string_view text = util::trim(server_url);
  if (text.empty()) {
    return tl::unexpected(url_error(server_url, "it is empty"));
  }
  if (text.find_first_of("?#") != std::string_view::npos) {
    return tl::unexpected(
        url_error(server_url, "it carries a query or fragment (the client builds the query)"));
  }
  auto url = net::parse_url(text);
  if (!url) {
    return tl::unexpected(url_error(server_url, url.error().message));
  }
  std::string scheme = url->scheme == "http" ? "ws" : url->scheme == "https" ? "wss" : url->scheme;
  std::string_view path = url->path();
  while (!path.empty() && path.back() == '/') {
    path.remove_suffix(1);
  }
  std::string out = scheme + "://";
  // host_header() omits the scheme's default port; ws/http and wss/https share them.
  out += url->host_header();
  out += path;
  if (!ends_with(path, kChatPath)) {
    out += kChatPath;
  }
  return out;
}

const std::vector<std::string>& shipped_voices() {
  static const std::vector<std::string> voices = [] {
    std::vector<std::string> names;
    const std::pair<const char*, int> families[] = {
        {"NATF", 4}, {"NATM", 4}, {"VARF", 5}, {"VARM", 5}};
    for (const auto& [prefix, count] : families) {
      for (int i = 0; i < count; ++i) {
        names.push_back(std::string(prefix) + std::to_string(i) + ".pt");
      }
    }
    return names;
  }();
  return voices;
}

tl::expected<VoicePrompt, SettingError> resolve_voice_prompt(std::string_view configured) {
  const std::string_view name = util::trim(configured);
  auto fail = [&](const std::string& why) {
    return tl::unexpected(SettingError{
        std::string(kVoiceVariable),
        std::string(kVoiceVariable) + "='" + std::string(configured) + "' is refused: " + why +
            "; accepted: a voice file name such as NATF2.pt (shipped: NATF0-3, NATM0-3, "
            "VARF0-4, VARM0-4)"});
  };
  if (name.empty()) {
    return fail("it is empty");
  }
  if (name.find_first_of("/\\") != std::string_view::npos ||
      name.find("..") != std::string_view::npos) {
    return fail("a path (the server joins it to its voice directory unchecked)");
  }
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return fail("it contains a control character");
    }
  }
  VoicePrompt voice;
  voice.file_name = std::string(name);
  if (name.find('.') == std::string_view::npos) {
    voice.file_name += ".pt";
  }
  const auto& shipped = shipped_voices();
  voice.shipped = std::find(shipped.begin(), shipped.end(), voice.file_name) != shipped.end();
  if (!voice.shipped) {
    std::string hint;
    for (const auto& known : shipped) {
      if (iequal(known, voice.file_name)) {
        hint = " (did you mean " + known + "? voice file names are case-sensitive)";
      }
    }
    voice.warning = std::string(kVoiceVariable) + "=" + std::string(configured) + ": '" +
                    voice.file_name +
                    "' is not one of the 18 shipped voices; the server must have it in its "
                    "voice directory, otherwise it drops every connection" +
                    hint;
  }
  return voice;
}

std::string chat_target(std::string_view path, const ChatQuery& query) {
  std::string target(path);
  target += "?text_prompt=";
  target += net::percent_encode(query.text_prompt);
  target += "&voice_prompt=";
  target += net::percent_encode(query.voice_prompt);
  if (query.seed) {
    target += "&seed=";
    target += std::to_string(*query.seed);
  }
  return target;
}

std::size_t request_line_bytes(std::string_view target) {
  return std::string_view("GET ").size() + target.size() + std::string_view(" HTTP/1.1").size();
}

std::size_t text_prompt_budget(std::string_view endpoint, std::string_view voice_file,
                               std::optional<int64_t> seed) {
  auto url = net::parse_url(endpoint);
  const std::string path = url ? std::string(url->path()) : std::string(kChatPath);
  const std::size_t fixed =
      request_line_bytes(chat_target(path, ChatQuery{"", std::string(voice_file), seed}));
  const std::size_t limit = kMaxRequestLineBytes - kRequestLineMargin;
  return fixed >= limit ? 0 : limit - fixed;
}

std::string session_key(std::string_view outpost_uuid, std::string_view agent_id) {
  std::string key = outpost_uuid.empty() ? std::string("mock") : std::string(outpost_uuid);
  key += ':';
  key += agent_id;
  return key;
}

PromptBuilder fixed_prompt_builder(std::string persona_text) {
  return [persona = std::move(persona_text)](std::size_t max_encoded_bytes,
                                             const PromptContext& context) {
    std::string text = persona;
    std::size_t used = encoded_size(text);
    const std::string header = "\n\nEarlier in this conversation you said:";
    const std::size_t header_cost = encoded_size(header);
    std::vector<std::string> lines; // newest first
    std::size_t lines_cost = 0;
    for (auto it = context.agent_said.rbegin(); it != context.agent_said.rend(); ++it) {
      const std::string_view said = util::trim(*it);
      if (said.empty()) {
        continue;
      }
      std::string line = "\n- " + std::string(said);
      const std::size_t cost = encoded_size(line);
      if (used + header_cost + lines_cost + cost > max_encoded_bytes) {
        break; // the most recent lines win; older ones are dropped
      }
      lines_cost += cost;
      lines.push_back(std::move(line));
    }
    if (!lines.empty()) {
      text += header;
      for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
        text += *it;
      }
    }
    return text;
  };
}

tl::expected<ChatRequest, SettingError> build_chat_request(const ChatRequestParams& params,
                                                           const PromptContext& context) {
  auto url = net::parse_url(params.endpoint);
  if (!url) {
    return tl::unexpected(SettingError{std::string(kServerUrlVariable), url.error().message});
  }
  ChatRequest request;
  request.prompt_budget = text_prompt_budget(params.endpoint, params.voice_file, params.seed);
  const PromptBuilder builder =
      params.prompt ? params.prompt : fixed_prompt_builder(std::string(kDefaultTextPrompt));
  request.text_prompt = builder(request.prompt_budget, context);
  if (encoded_size(request.text_prompt) > request.prompt_budget && !context.agent_said.empty()) {
    request.text_prompt = builder(request.prompt_budget, PromptContext{});
    request.context_dropped = true;
  }
  const std::size_t encoded = encoded_size(request.text_prompt);
  if (util::trim(request.text_prompt).empty()) {
    return tl::unexpected(
        SettingError{params.prompt_variable,
                     "the PersonaPlex text prompt is empty (check " + params.prompt_variable +
                         "); the server crashes its prompt phase on an empty text_prompt"});
  }
  if (encoded > request.prompt_budget) {
    return tl::unexpected(SettingError{
        params.prompt_variable, "the PersonaPlex text prompt (" + params.prompt_variable + ") is " +
                                    std::to_string(encoded) +
                                    " bytes percent-encoded, but the request line limit of " +
                                    std::to_string(kMaxRequestLineBytes) + " bytes leaves " +
                                    std::to_string(request.prompt_budget) + " for it; shorten it"});
  }
  const std::string path(url->path());
  const std::string target =
      chat_target(path, ChatQuery{request.text_prompt, params.voice_file, params.seed});
  request.request_line_bytes = request_line_bytes(target);
  request.url = params.endpoint + target.substr(path.size());
  return request;
}

} // namespace pv::personaplex
