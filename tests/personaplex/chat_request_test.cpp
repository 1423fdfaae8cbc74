// The /api/chat request: endpoint from PERSONAPLEX_SERVER_URL, voice prompts, query encoding,
// the request-line budget (context trimmed, never the persona), the session key, and the
// settings checks --check-config reports.

#include "net/url.hpp"
#include "personaplex/chat_request.hpp"
#include "personaplex/options.hpp"

#include "pp_test_util.hpp"

#include <fstream>

#include <gtest/gtest.h>

namespace pv::personaplex {
namespace {

TEST(ChatEndpoint, MapsSchemesKeepsPrefixesAndAppendsApiChat) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"http://gpu:8998", "ws://gpu:8998/api/chat"},
      {"https://gpu:8998/", "wss://gpu:8998/api/chat"},
      {"ws://gpu:8998///", "ws://gpu:8998/api/chat"},
      {"wss://gpu", "wss://gpu/api/chat"},
      {"https://gpu:443", "wss://gpu/api/chat"},
      {"http://gpu:80/", "ws://gpu/api/chat"},
      {"https://proxy.example/pp1/", "wss://proxy.example/pp1/api/chat"},
      {"http://gpu:8998/api/chat", "ws://gpu:8998/api/chat"},
      {"wss://gpu:8998/api/chat/", "wss://gpu:8998/api/chat"},
      {"HTTPS://gpu:8998", "wss://gpu:8998/api/chat"},
      {"http://[::1]:8998", "ws://[::1]:8998/api/chat"},
      {"  http://10.0.0.7:9000 \n", "ws://10.0.0.7:9000/api/chat"},
  };
  for (const auto& [in, expected] : cases) {
    auto endpoint = chat_endpoint(in);
    ASSERT_TRUE(endpoint.has_value()) << in << ": " << endpoint.error().message;
    EXPECT_EQ(*endpoint, expected) << in;
  }
}

TEST(ChatEndpoint, OtherSchemesMissingHostsQueriesAreErrorsNamingTheVariable) {
  const std::vector<std::string> bad = {"",
                                        "   ",
                                        "ftp://gpu:8998",
                                        "gpu:8998",
                                        "//gpu:8998",
                                        "http://",
                                        "http://:8998",
                                        "http://gpu:99999",
                                        "http://gpu:8998/?voice_prompt=x",
                                        "http://gpu:8998/#frag",
                                        "http://user:pw@gpu:8998"};
  for (const auto& in : bad) {
    auto endpoint = chat_endpoint(in);
    ASSERT_FALSE(endpoint.has_value()) << in << " -> " << *endpoint;
    EXPECT_EQ(endpoint.error().variable, "PERSONAPLEX_SERVER_URL") << in;
    EXPECT_NE(endpoint.error().message.find("PERSONAPLEX_SERVER_URL"), std::string::npos) << in;
  }
}

TEST(VoicePrompt, TheEighteenShippedVoicesAndBareNames) {
  const auto& voices = shipped_voices();
  ASSERT_EQ(voices.size(), 18u);
  for (const auto& name : voices) {
    auto voice = resolve_voice_prompt(name);
    ASSERT_TRUE(voice.has_value()) << name;
    EXPECT_TRUE(voice->shipped) << name;
    EXPECT_TRUE(voice->warning.empty()) << name;
    // A bare name gets ".pt".
    auto bare = resolve_voice_prompt(name.substr(0, name.size() - 3));
    ASSERT_TRUE(bare.has_value());
    EXPECT_EQ(bare->file_name, name);
    EXPECT_TRUE(bare->shipped);
  }
  for (const char* expected : {"NATF0.pt", "NATF3.pt", "NATM3.pt", "VARF4.pt", "VARM0.pt"}) {
    EXPECT_NE(std::find(voices.begin(), voices.end(), expected), voices.end()) << expected;
  }
  EXPECT_EQ(std::find(voices.begin(), voices.end(), "NATF4.pt"), voices.end());
  EXPECT_EQ(std::find(voices.begin(), voices.end(), "VARM5.pt"), voices.end());
}

TEST(VoicePrompt, OtherFilesWarnPathsAreRefused) {
  auto custom = resolve_voice_prompt("my_voice.wav");
  ASSERT_TRUE(custom.has_value());
  EXPECT_EQ(custom->file_name, "my_voice.wav");
  EXPECT_FALSE(custom->shipped);
  EXPECT_NE(custom->warning.find("not one of the 18 shipped voices"), std::string::npos);

  auto wrong_case = resolve_voice_prompt("natf2");
  ASSERT_TRUE(wrong_case.has_value());
  EXPECT_EQ(wrong_case->file_name, "natf2.pt");
  EXPECT_NE(wrong_case->warning.find("did you mean NATF2.pt"), std::string::npos)
      << wrong_case->warning;

  const std::vector<std::string> refused = {
      "",         "  ",      "../NATF2.pt", "voices/NATF2.pt",          "/etc/passwd",
      "..\\x.pt", "a\\b.pt", "..",          std::string("NATF2\x01.pt")};
  for (const std::string& bad : refused) {
    auto voice = resolve_voice_prompt(bad);
    ASSERT_FALSE(voice.has_value()) << bad;
    EXPECT_EQ(voice.error().variable, "PERSONAPLEX_VOICE_PROMPT");
    EXPECT_NE(voice.error().message.find("PERSONAPLEX_VOICE_PROMPT"), std::string::npos);
  }
}

TEST(ChatQuery, PercentEncodesPlusAsPercent2BAndSpaceAsPercent20AndRoundTrips) {
  const std::string prompt = "You are Ada+Bob: 1 + 1 = 2 & \"quotes\" / ü ▁ 100%";
  const std::string target = chat_target("/api/chat", ChatQuery{prompt, "NATF2.pt", {}});
  const std::string_view query = std::string_view(target).substr(target.find('?') + 1);
  EXPECT_EQ(target.rfind("/api/chat?text_prompt=You%20are%20Ada%2BBob%3A%201%20%2B%201", 0), 0u)
      << target;
  EXPECT_EQ(query.find('+'), std::string_view::npos);
  EXPECT_EQ(query.find(' '), std::string_view::npos);
  // A server decoding '+' as a space (aiohttp/yarl) gets the prompt back exactly.
  EXPECT_EQ(net::query_param(query, "text_prompt"), prompt);
  EXPECT_EQ(net::query_param(query, "voice_prompt"), "NATF2.pt");
  EXPECT_FALSE(net::query_param(query, "seed").has_value());

  const std::string seeded = chat_target("/api/chat", ChatQuery{"Hi", "NATM1.pt", 1234});
  EXPECT_EQ(seeded, "/api/chat?text_prompt=Hi&voice_prompt=NATM1.pt&seed=1234");
  EXPECT_EQ(request_line_bytes("/x"), std::string("GET /x HTTP/1.1").size());
}

TEST(ChatRequest, LongMemoryIsTrimmedToTheRequestLineLimitNeverThePersona) {
  const std::string persona = "You are Nova, the upbeat co-host of a space podcast. Keep it short.";
  PromptContext context;
  for (int i = 0; i < 200; ++i) {
    context.agent_said.push_back("Reply number " + std::to_string(i) +
                                 " talked at length about rockets, orbits & the price of fuel.");
  }
  ChatRequestParams params;
  params.endpoint = "wss://gpu.example:8998/api/chat";
  params.voice_file = "NATF2.pt";
  params.prompt = fixed_prompt_builder(persona);
  auto request = build_chat_request(params, context);
  ASSERT_TRUE(request.has_value()) << request.error().message;
  EXPECT_LE(request->request_line_bytes, kMaxRequestLineBytes);
  EXPECT_GT(request->request_line_bytes, kMaxRequestLineBytes - 400); // the budget is used
  EXPECT_EQ(request->text_prompt.rfind(persona, 0), 0u);              // persona first, whole
  EXPECT_NE(request->text_prompt.find("Reply number 199 "), std::string::npos); // newest kept
  EXPECT_EQ(request->text_prompt.find("Reply number 0 "), std::string::npos);   // oldest dropped
  EXPECT_FALSE(request->context_dropped);
  // Lines are whole and in order.
  EXPECT_LT(request->text_prompt.find("Reply number 198 "),
            request->text_prompt.find("Reply number 199 "));
  auto url = net::parse_url(request->url);
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(request_line_bytes(url->target), request->request_line_bytes);
  EXPECT_EQ(net::query_param(url->query(), "text_prompt"), request->text_prompt);

  // A longer voice name or a seed leaves less room: still within the limit.
  params.voice_file = std::string(300, 'v') + ".pt";
  params.seed = 4294967295LL;
  auto tighter = build_chat_request(params, context);
  ASSERT_TRUE(tighter.has_value());
  EXPECT_LE(tighter->request_line_bytes, kMaxRequestLineBytes);
  EXPECT_LT(tighter->text_prompt.size(), request->text_prompt.size());
}

TEST(ChatRequest, APersonaOverTheLimitOrABlankPromptIsAnErrorNamingTheVariable) {
  ChatRequestParams params;
  params.endpoint = "ws://gpu:8998/api/chat";
  params.voice_file = "NATF2.pt";
  params.prompt = fixed_prompt_builder(std::string(5000, 'x') + " " + std::string(5000, 'y'));
  params.prompt_variable = "PERSONA_ID";
  auto over = build_chat_request(params, {});
  ASSERT_FALSE(over.has_value());
  EXPECT_EQ(over.error().variable, "PERSONA_ID");
  EXPECT_NE(over.error().message.find("8190"), std::string::npos) << over.error().message;

  params.prompt = fixed_prompt_builder("  \n ");
  params.prompt_variable = "PERSONAPLEX_TEXT_PROMPT";
  auto blank = build_chat_request(params, {});
  ASSERT_FALSE(blank.has_value());
  EXPECT_EQ(blank.error().variable, "PERSONAPLEX_TEXT_PROMPT");
  EXPECT_NE(blank.error().message.find("empty"), std::string::npos);

  // No builder: the web UI's default prompt, never empty.
  params.prompt = nullptr;
  auto fallback = build_chat_request(params, {});
  ASSERT_TRUE(fallback.has_value());
  EXPECT_EQ(fallback->text_prompt, kDefaultTextPrompt);
}

TEST(ChatRequest, ABuilderThatIgnoresTheBudgetIsRetriedWithoutContext) {
  int calls = 0;
  ChatRequestParams params;
  params.endpoint = "ws://gpu:8998/api/chat";
  params.voice_file = "NATF2.pt";
  params.prompt = [&](std::size_t budget, const PromptContext& context) {
    ++calls;
    EXPECT_GT(budget, 7000u);
    std::string text = "Persona.";
    for (const auto& line : context.agent_said) {
      text += " " + line; // no trimming at all
    }
    return text;
  };
  PromptContext context{std::vector<std::string>(100, std::string(100, 'z'))};
  auto request = build_chat_request(params, context);
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(request->context_dropped);
  EXPECT_EQ(request->text_prompt, "Persona.");
}

TEST(SessionKey, OutpostOrMockThenAgent) {
  EXPECT_EQ(session_key("", "bot-1"), "mock:bot-1");
  EXPECT_EQ(session_key("5f1c-uuid", "ada"), "5f1c-uuid:ada");
}

TEST(CheckSettings, ReportsUrlVoiceCaFileAndPromptProblemsNamingTheVariable) {
  using Severity = config::Diagnostic::Severity;
  auto find = [](const std::vector<config::Diagnostic>& all, const std::string& variable) {
    for (const auto& d : all) {
      if (d.variable == variable) {
        return std::optional<config::Diagnostic>(d);
      }
    }
    return std::optional<config::Diagnostic>();
  };
  config::PersonaPlexSettings good;
  good.server_url = "https://gpu:8998";
  EXPECT_TRUE(check_settings(good).empty());

  config::PersonaPlexSettings bad = good;
  bad.server_url = "ftp://gpu";
  bad.voice_prompt = "../../etc/passwd";
  bad.ca_file = "/nonexistent/rootCA.pem";
  auto diagnostics = check_settings(bad);
  for (const char* variable :
       {"PERSONAPLEX_SERVER_URL", "PERSONAPLEX_VOICE_PROMPT", "PERSONAPLEX_CA_FILE"}) {
    auto d = find(diagnostics, variable);
    ASSERT_TRUE(d.has_value()) << variable;
    EXPECT_EQ(d->severity, Severity::error) << variable;
    EXPECT_NE(d->message.find(variable), std::string::npos) << d->message;
  }

  config::PersonaPlexSettings odd = good;
  odd.voice_prompt = "custom.pt";
  odd.text_prompt = std::string(9000, 'a');
  diagnostics = check_settings(odd);
  auto voice = find(diagnostics, "PERSONAPLEX_VOICE_PROMPT");
  ASSERT_TRUE(voice.has_value());
  EXPECT_EQ(voice->severity, Severity::warning);
  auto prompt = find(diagnostics, "PERSONAPLEX_TEXT_PROMPT");
  ASSERT_TRUE(prompt.has_value());
  EXPECT_EQ(prompt->severity, Severity::error);

  // A horizon whose hard limit (+ swap_force_after_s) lies past the context window is risky in
  // duplex mode only (turn mode opens a session per utterance).
  config::PersonaPlexSettings long_horizon = good;
  long_horizon.session_max_s = kContextWindowS - BackendOptions{}.swap_force_after_s;
  EXPECT_FALSE(find(check_settings(long_horizon), "PERSONAPLEX_SESSION_MAX_S").has_value());
  long_horizon.session_max_s += 1;
  auto horizon = find(check_settings(long_horizon), "PERSONAPLEX_SESSION_MAX_S");
  ASSERT_TRUE(horizon.has_value());
  EXPECT_EQ(horizon->severity, Severity::warning);
  EXPECT_NE(horizon->message.find("PERSONAPLEX_SESSION_MAX_S=226"), std::string::npos)
      << horizon->message;
  long_horizon.mode = config::PersonaPlexMode::turn;
  EXPECT_FALSE(find(check_settings(long_horizon), "PERSONAPLEX_SESSION_MAX_S").has_value());
}

TEST(OptionsFromSettings, CarriesEverySettingAndTheSessionKey) {
  config::PersonaPlexSettings s;
  s.server_url = "https://gpu:8998/";
  s.voice_prompt = "VARM3";
  s.text_prompt = "Be brief.";
  s.ssl_insecure = true;
  s.ca_file = "/tmp/ca.pem";
  s.seed = 7;
  s.mode = config::PersonaPlexMode::turn;
  s.jitter_ms = 80;
  s.session_max_s = 60;
  s.reconnect_min_ms = 100;
  s.reconnect_max_ms = 900;
  s.turn_quiet_ms = 700;
  auto options = options_from_settings(s, "", "agent-7");
  ASSERT_TRUE(options.has_value());
  EXPECT_EQ(options->endpoint, "wss://gpu:8998/api/chat");
  EXPECT_EQ(options->voice_file, "VARM3.pt");
  EXPECT_EQ(options->seed, 7);
  EXPECT_EQ(options->mode, config::PersonaPlexMode::turn);
  EXPECT_FALSE(options->tls.verify);
  EXPECT_EQ(options->tls.ca_file, "/tmp/ca.pem");
  EXPECT_EQ(options->jitter_ms, 80);
  EXPECT_EQ(options->session_max_s, 60);
  EXPECT_EQ(options->reconnect_min_ms, 100);
  EXPECT_EQ(options->reconnect_max_ms, 900);
  EXPECT_EQ(options->turn_quiet_ms, 700);
  ASSERT_EQ(options->headers.size(), 1u);
  EXPECT_EQ(options->headers[0].name, "X-Session-Key");
  EXPECT_EQ(options->headers[0].value, "mock:agent-7");
  ASSERT_TRUE(options->prompt);
  EXPECT_EQ(options->prompt(1000, {}), "Be brief.");

  s.server_url = "gopher://x";
  auto bad = options_from_settings(s, "", "a");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().variable, "PERSONAPLEX_SERVER_URL");
}

} // namespace
} // namespace pv::personaplex
