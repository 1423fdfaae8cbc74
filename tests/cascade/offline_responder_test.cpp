#include "cascade/llm/llm_registry.hpp"
#include "cascade/llm/offline_responder.hpp"
#include "cascade/prompts.hpp"

#include <gtest/gtest.h>

namespace pv::cascade {
namespace {

LlmRequest reply_to(const std::string& user_text) {
  std::vector<MemoryTurn> h{{Role::user, user_text, 0, false}};
  LlmRequest r;
  r.messages = build_reply_messages(find_persona("default"), h, "Audience feedback: neutral.");
  return r;
}

struct Streamed {
  std::vector<std::string> pieces;
  std::string joined;
};

tl::expected<LlmResult, ProviderError> run(const LlmRequest& request, Streamed& out,
                                           int stop_after = -1) {
  OfflineResponder responder;
  return responder.generate(request, [&](std::string_view piece) {
    out.pieces.emplace_back(piece);
    out.joined += piece;
    return stop_after < 0 || static_cast<int>(out.pieces.size()) < stop_after;
  });
}

std::string lower(std::string s) {
  for (auto& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

TEST(OfflineResponder, IsLabelledAsNotALanguageModel) {
  OfflineResponder r;
  EXPECT_EQ(r.name(), "offline");
  EXPECT_FALSE(r.is_language_model());
}

TEST(OfflineResponder, EchoesKeyWordsAndAsksAFollowUp) {
  Streamed out;
  auto result = run(reply_to("i have been learning to play the guitar and the piano"), out);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->text, out.joined);
  const std::string reply = lower(result->text);
  EXPECT_NE(reply.find("learning"), std::string::npos) << reply;
  EXPECT_NE(reply.find("guitar"), std::string::npos) << reply;
  EXPECT_EQ(reply.find(" the guitar"), std::string::npos) << "stop words are not echoed";
  EXPECT_EQ(result->text.back(), '?') << "ends on a follow-up question";
}

TEST(OfflineResponder, ReactsToGreetingsThanksAndQuestions) {
  Streamed a;
  auto greeting = run(reply_to("hello there"), a);
  ASSERT_TRUE(greeting);
  const std::string g = lower(greeting->text);
  EXPECT_TRUE(g.find("hi") == 0 || g.find("hello") == 0 || g.find("hey") == 0) << g;
  EXPECT_EQ(greeting->text.back(), '?');

  Streamed b;
  auto thanks = run(reply_to("thanks a lot"), b);
  ASSERT_TRUE(thanks);
  EXPECT_TRUE(lower(thanks->text).find("welcome") != std::string::npos ||
              lower(thanks->text).find("happy to help") != std::string::npos)
      << thanks->text;

  Streamed c;
  auto question = run(reply_to("what do you think about electric cars"), c);
  ASSERT_TRUE(question);
  const std::string q = lower(question->text);
  EXPECT_NE(q.find("electric"), std::string::npos) << q;
  EXPECT_NE(q.find("offline"), std::string::npos) << "says it cannot look things up";

  Streamed d;
  auto hi_question = run(reply_to("hi, how is the football season going?"), d);
  ASSERT_TRUE(hi_question);
  EXPECT_NE(lower(hi_question->text).find("football"), std::string::npos);
}

TEST(OfflineResponder, DeterministicAndInputDependent) {
  Streamed a;
  Streamed b;
  Streamed c;
  auto first = run(reply_to("my dog loves long walks on the beach"), a);
  auto second = run(reply_to("my dog loves long walks on the beach"), b);
  auto other = run(reply_to("the new restaurant downtown serves ramen"), c);
  ASSERT_TRUE(first && second && other);
  EXPECT_EQ(first->text, second->text);
  EXPECT_EQ(a.pieces, b.pieces);
  EXPECT_NE(first->text, other->text);
}

TEST(OfflineResponder, StreamsWordByWordWithSpacesInsideThePieces) {
  Streamed out;
  auto result = run(reply_to("tell me about astronomy and telescopes"), out);
  ASSERT_TRUE(result);
  ASSERT_GT(out.pieces.size(), 5U);
  EXPECT_EQ(result->pieces, static_cast<int>(out.pieces.size()));
  EXPECT_NE(out.pieces[0].front(), ' ');
  for (std::size_t i = 1; i < out.pieces.size(); ++i) {
    EXPECT_EQ(out.pieces[i].front(), ' ') << i;
    EXPECT_EQ(out.pieces[i].find(' ', 1), std::string::npos) << "one word per piece";
  }
  EXPECT_EQ(result->finish, FinishReason::complete);
}

TEST(OfflineResponder, MaxTokensSinkStopAndCancel) {
  auto request = reply_to("let us talk about the history of jazz music in new orleans");
  request.max_tokens = 3;
  Streamed capped;
  auto r = run(request, capped);
  ASSERT_TRUE(r);
  EXPECT_EQ(capped.pieces.size(), 3U);
  EXPECT_EQ(r->finish, FinishReason::max_tokens);

  request.max_tokens = 150;
  Streamed stopped;
  auto s = run(request, stopped, 2);
  ASSERT_TRUE(s);
  EXPECT_EQ(stopped.pieces.size(), 2U);
  EXPECT_EQ(s->finish, FinishReason::stopped_by_caller);
  EXPECT_EQ(s->text, stopped.joined);

  CancelSource cancel;
  request.cancel = cancel.token();
  OfflineResponder responder;
  int pieces = 0;
  auto c = responder.generate(request, [&](std::string_view) {
    if (++pieces == 2) {
      cancel.cancel();
    }
    return true;
  });
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind, ProviderErrorKind::cancelled);
  EXPECT_EQ(pieces, 2);
}

TEST(OfflineResponder, OpenerUsesTheTopic) {
  LlmRequest r;
  r.purpose = LlmPurpose::opener;
  r.messages =
      build_opener_messages(find_persona("default"), {}, "", {"the best pizza in town", ""});
  Streamed out;
  auto result = run(r, out);
  ASSERT_TRUE(result);
  EXPECT_NE(result->text.find("the best pizza in town"), std::string::npos) << result->text;
  EXPECT_EQ(result->text.back(), '?');
  r.messages = build_opener_messages(find_persona("default"), {}, "", {});
  Streamed bare;
  auto no_topic = run(r, bare);
  ASSERT_TRUE(no_topic);
  EXPECT_EQ(no_topic->text.find("Topic"), std::string::npos);
}

TEST(OfflineResponder, RejectsInvalidRequests) {
  OfflineResponder responder;
  auto sink = [](std::string_view) {
    return true;
  };
  LlmRequest empty;
  auto e = responder.generate(empty, sink);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().kind, ProviderErrorKind::bad_input);
  LlmRequest ends_on_assistant;
  ends_on_assistant.messages = {{Role::system, "x"}, {Role::assistant, "y"}};
  auto a = responder.generate(ends_on_assistant, sink);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("user"), std::string::npos);
  auto zero = reply_to("hi");
  zero.max_tokens = 0;
  EXPECT_FALSE(responder.generate(zero, sink));
  EXPECT_FALSE(responder.generate(reply_to("hi"), TokenSink{}));
}

TEST(LlmRegistry, OfflineBuiltInOthersRegisteredLater) {
  auto registry = builtin_llm_registry();
  config::LlmSettings settings;
  auto offline = registry.create("offline", settings);
  ASSERT_TRUE(offline);
  EXPECT_FALSE((*offline)->is_language_model());
  EXPECT_EQ(registry.names(), (std::vector<std::string>{"anthropic", "offline", "openai"}));
  auto unknown = registry.create("llamafile", settings);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, ProviderErrorKind::config);
  EXPECT_NE(unknown.error().message.find("MODEL_PROVIDER='llamafile'"), std::string::npos);
}

TEST(StreamDeadlines, FirstTokenAndTotal) {
  using std::chrono::milliseconds;
  StreamDeadlines d(milliseconds(100), milliseconds(1000));
  const auto t0 = Clock::time_point{} + std::chrono::hours(1);
  d.start(t0);
  EXPECT_FALSE(d.check(t0 + milliseconds(99)));
  EXPECT_EQ(d.check(t0 + milliseconds(100)), ProviderErrorKind::first_token_timeout);
  d.on_piece(t0 + milliseconds(50));
  EXPECT_TRUE(d.got_first());
  EXPECT_DOUBLE_EQ(d.first_token_ms(), 50.0);
  EXPECT_FALSE(d.check(t0 + milliseconds(500)));
  EXPECT_EQ(d.check(t0 + milliseconds(1000)), ProviderErrorKind::timeout);
  d.on_piece(t0 + milliseconds(900)); // later pieces do not move the first-token time
  EXPECT_DOUBLE_EQ(d.first_token_ms(), 50.0);
}

TEST(ProviderError, TransienceAndNames) {
  EXPECT_TRUE(make_error(ProviderErrorKind::rate_limited, "x").retryable);
  EXPECT_TRUE(make_error(ProviderErrorKind::http, "x", 503).retryable);
  EXPECT_FALSE(make_error(ProviderErrorKind::http, "x", 400).retryable);
  EXPECT_FALSE(make_error(ProviderErrorKind::auth, "x", 401).retryable);
  EXPECT_FALSE(make_error(ProviderErrorKind::cancelled, "x").retryable);
  EXPECT_STREQ(to_string(ProviderErrorKind::first_token_timeout), "first_token_timeout");
}

} // namespace
} // namespace pv::cascade
