#include "cascade/feedback.hpp"
#include "cascade/prompts.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pv::cascade {
namespace {

using nlohmann::json;

TEST(Feedback, WindowReallySlides) {
  FeedbackCollector c;
  // A steady trickle: one cheer every 10 s for 3 minutes. The original never reset because a
  // reaction always arrived within 60 s; here only the last minute counts.
  for (int64_t t = 0; t <= 180000; t += 10000) {
    EXPECT_TRUE(c.record(Reaction::cheer, 1, t));
  }
  EXPECT_EQ(c.counts(180000).cheers, 6); // t = 130 s .. 180 s
  EXPECT_EQ(c.counts(189999).cheers, 6);
  EXPECT_EQ(c.counts(190000).cheers, 5); // the cheer at 130 s is now 60 s old
  EXPECT_EQ(c.counts(240000).cheers, 0);
}

TEST(Feedback, IngestsPodiumMessagesAndLegacyForms) {
  FeedbackCollector c;
  EXPECT_TRUE(
      c.ingest(json{{"name", "user.liked"}, {"data", {{"react_to_user_address", "0xA"}}}}, 0));
  EXPECT_TRUE(c.ingest(json{{"name", "user.disliked"}, {"data", json::object()}}, 0));
  EXPECT_TRUE(c.ingest(json{{"name", "user.cheered"}, {"data", {{"amount", 3}}}}, 0));
  EXPECT_TRUE(c.ingest(json{{"name", "user.booed"}, {"data", {{"amount", 2.0}}}}, 0));
  EXPECT_TRUE(c.ingest(json{{"name", "reactions"}, {"data", {{"type", "LIKE"}}}}, 0));
  EXPECT_TRUE(c.ingest(json{{"name", "reactions"}, {"data", {{"reaction", "cheer"}}}}, 0));
  // Ignored: unknown names, malformed fields, non-positive amounts.
  EXPECT_FALSE(c.ingest(json{{"name", "user.joined"}, {"data", json::object()}}, 0));
  EXPECT_FALSE(c.ingest(json{{"name", 5}}, 0));
  EXPECT_FALSE(c.ingest(json::array(), 0));
  EXPECT_FALSE(c.ingest(json{{"name", "user.cheered"}, {"data", {{"amount", "lots"}}}}, 0));
  EXPECT_FALSE(c.ingest(json{{"name", "user.cheered"}, {"data", {{"amount", -4}}}}, 0));
  EXPECT_FALSE(c.ingest(json{{"name", "reactions"}, {"data", {{"type", "LOVE"}}}}, 0));
  EXPECT_EQ(c.counts(1), (ReactionCounts{2, 1, 2, 4}));
}

TEST(Feedback, AmountsAndMemoryAreBounded) {
  FeedbackParams p;
  p.max_events = 10;
  p.max_amount = 50;
  FeedbackCollector c(p);
  EXPECT_TRUE(c.ingest(json{{"name", "user.cheered"}, {"data", {{"amount", 1e12}}}}, 0));
  EXPECT_EQ(c.counts(0).cheers, 50);
  for (int i = 0; i < 100; ++i) {
    c.record(Reaction::like, 1, 1);
  }
  const auto counts = c.counts(1);
  EXPECT_EQ(counts.likes + counts.cheers / 50, 10);
}

TEST(Feedback, TargetFilter) {
  FeedbackCollector all;
  EXPECT_TRUE(all.record(Reaction::like, 1, 0, "0xabc"));
  EXPECT_TRUE(all.record(Reaction::like, 1, 0, ""));

  FeedbackCollector self({60000, "self", 4096, 100});
  EXPECT_FALSE(self.record(Reaction::like, 1, 0, "0xAbC")) << "own address not known yet";
  self.set_self_address("0xABC");
  EXPECT_TRUE(self.record(Reaction::like, 1, 0, "0xabc"));
  EXPECT_FALSE(self.record(Reaction::like, 1, 0, "0xdef"));
  EXPECT_FALSE(self.record(Reaction::like, 1, 0, ""));

  FeedbackCollector fixed({60000, "0xDEF", 4096, 100});
  EXPECT_TRUE(fixed.record(Reaction::boo, 1, 0, "0xdef"));
  EXPECT_FALSE(fixed.record(Reaction::boo, 1, 0, "0xabc"));
  EXPECT_EQ(fixed.counts(0).boos, 1);
}

TEST(Feedback, SentimentIsSymmetric) {
  EXPECT_EQ(sentiment_of({}), Sentiment::neutral);
  EXPECT_EQ(sentiment_of({3, 0, 0, 0}), Sentiment::cheer) << "likes alone are positive";
  EXPECT_EQ(sentiment_of({0, 3, 0, 0}), Sentiment::boo);
  EXPECT_EQ(sentiment_of({2, 0, 1, 0}), Sentiment::neutral) << "a boo weighs two likes";
  EXPECT_EQ(sentiment_of({0, 0, 1, 2}), Sentiment::cheer);
}

TEST(Feedback, BehaviourLevelsWithPersonaThresholds) {
  const auto& def = find_persona("default").thresholds;
  const auto& calm = find_persona("calm").thresholds;
  EXPECT_EQ(behaviour_level({}, def), BehaviourLevel::neutral);
  EXPECT_EQ(behaviour_level({4, 0, 0, 0}, def), BehaviourLevel::positive);
  EXPECT_EQ(behaviour_level({0, 0, 0, 2}, def), BehaviourLevel::positive);
  EXPECT_EQ(behaviour_level({8, 0, 0, 0}, def), BehaviourLevel::high_positive);
  EXPECT_EQ(behaviour_level({0, 0, 0, 5}, def), BehaviourLevel::high_positive);
  EXPECT_EQ(behaviour_level({0, 0, 2, 0}, def), BehaviourLevel::negative);
  EXPECT_EQ(behaviour_level({0, 8, 0, 0}, def), BehaviourLevel::high_negative);
  // Negative tiers win over positive ones (de-escalation first).
  EXPECT_EQ(behaviour_level({0, 0, 2, 9}, def), BehaviourLevel::negative);
  // One boo: neutral for the default persona, negative for calm.
  EXPECT_EQ(behaviour_level({0, 0, 1, 0}, def), BehaviourLevel::neutral);
  EXPECT_EQ(behaviour_level({0, 0, 1, 0}, calm), BehaviourLevel::negative);
  EXPECT_EQ(behaviour_level({0, 0, 2, 0}, calm), BehaviourLevel::high_negative);
  FeedbackCollector c;
  c.record(Reaction::boo, 1, 0);
  EXPECT_EQ(c.snapshot(10, calm).level, BehaviourLevel::negative);
  EXPECT_EQ(c.snapshot(10, def).level, BehaviourLevel::neutral);
  EXPECT_EQ(c.snapshot(10, def).sentiment, Sentiment::boo);
}

TEST(Prompts, FeedbackLineReflectsLevelAndCounts) {
  FeedbackSnapshot s;
  const std::string neutral = build_feedback_line(s);
  EXPECT_NE(neutral.find("neutral"), std::string::npos);
  EXPECT_NE(neutral.find("0 cheers"), std::string::npos);
  s.counts = {1, 0, 0, 5};
  s.level = BehaviourLevel::high_positive;
  s.sentiment = Sentiment::cheer;
  const std::string high = build_feedback_line(s);
  EXPECT_NE(high.find("5 cheers"), std::string::npos);
  EXPECT_NE(high.find("1 like,"), std::string::npos);
  EXPECT_NE(high.find("loving"), std::string::npos);
  s.level = BehaviourLevel::high_negative;
  EXPECT_NE(build_feedback_line(s).find("strong pushback"), std::string::npos);
  std::set<std::string> distinct;
  for (auto level :
       {BehaviourLevel::high_negative, BehaviourLevel::negative, BehaviourLevel::neutral,
        BehaviourLevel::positive, BehaviourLevel::high_positive}) {
    s.level = level;
    distinct.insert(build_feedback_line(s));
  }
  EXPECT_EQ(distinct.size(), 5U);
}

std::vector<MemoryTurn> history(std::initializer_list<std::pair<Role, std::string>> turns) {
  std::vector<MemoryTurn> out;
  for (const auto& [role, text] : turns) {
    out.push_back({role, text, 0, false});
  }
  return out;
}

TEST(Prompts, ReplyMessagesPutFeedbackInTheSystemMessageAndEndOnUser) {
  const auto& persona = find_persona("hype");
  const auto h = history({{Role::user, "hi"}, {Role::assistant, "Hey!"}, {Role::user, "news?"}});
  const auto m = build_reply_messages(persona, h, "Audience feedback: X");
  ASSERT_EQ(m.size(), 4U);
  EXPECT_EQ(m[0].role, Role::system);
  EXPECT_NE(m[0].content.find(persona.prompt_addendum), std::string::npos);
  EXPECT_NE(m[0].content.find("Audience feedback: X"), std::string::npos);
  for (std::size_t i = 1; i < m.size(); ++i) {
    EXPECT_EQ(m[i].content.find("Audience feedback"), std::string::npos) << "no fake user turn";
  }
  EXPECT_EQ(m[1], (ChatMessage{Role::user, "hi"}));
  EXPECT_EQ(m[2], (ChatMessage{Role::assistant, "Hey!"}));
  EXPECT_EQ(m.back(), (ChatMessage{Role::user, "news?"}));
}

TEST(Prompts, ReplyMessagesMergeRolesAndHandleAssistantFirst) {
  auto h = history({{Role::assistant, "Welcome everyone!"},
                    {Role::user, "hello"},
                    {Role::user, "anyone there"}});
  h[0].interrupted = false;
  const auto m = build_reply_messages(find_persona("default"), h, "");
  ASSERT_EQ(m.size(), 4U);
  EXPECT_EQ(m[1].role, Role::user) << "never open with the assistant";
  EXPECT_EQ(m[2], (ChatMessage{Role::assistant, "Welcome everyone!"}));
  EXPECT_EQ(m[3], (ChatMessage{Role::user, "hello\n\nanyone there"}));
  // Ending on an assistant turn: a short user nudge is appended.
  const auto tail = build_reply_messages(
      find_persona("default"), history({{Role::user, "hi"}, {Role::assistant, "Hey"}}), "");
  EXPECT_EQ(tail.back().role, Role::user);
  EXPECT_TRUE(validate_llm_request({tail,
                                    10,
                                    LlmPurpose::reply,
                                    std::chrono::milliseconds(1),
                                    std::chrono::milliseconds(1),
                                    {}}));
}

TEST(Prompts, InterruptedTurnsShowTheCut) {
  auto h = history(
      {{Role::user, "tell me"}, {Role::assistant, "The best part is"}, {Role::user, "stop"}});
  h[1].interrupted = true;
  const auto m = build_reply_messages(find_persona("default"), h, "");
  EXPECT_EQ(m[2].content, "The best part is\xE2\x80\x94");
}

TEST(Prompts, OpenerMessagesEndWithTheTask) {
  const auto h = history({{Role::assistant, "Hi all, welcome in."}});
  OpenerContext ctx{"the future of football", "Sunday sports talk"};
  const auto m = build_opener_messages(find_persona("storyteller"), h, "Audience feedback: Y", ctx);
  ASSERT_GE(m.size(), 3U);
  EXPECT_EQ(m[0].role, Role::system);
  EXPECT_NE(m[0].content.find("opening the room"), std::string::npos);
  EXPECT_NE(m[0].content.find("Audience feedback: Y"), std::string::npos);
  EXPECT_EQ(m.back().role, Role::user);
  EXPECT_NE(m.back().content.find("Topic: the future of football\n"), std::string::npos);
  EXPECT_NE(m.back().content.find("Room context: Sunday sports talk"), std::string::npos);
  EXPECT_NE(m.back().content.find("Task:"), std::string::npos);
  // The history comes before the task.
  EXPECT_EQ(m[m.size() - 2], (ChatMessage{Role::assistant, "Hi all, welcome in."}));
  const auto bare = build_opener_messages(find_persona("default"), {}, "", {});
  ASSERT_EQ(bare.size(), 2U);
  EXPECT_EQ(bare[1].content.find("Topic:"), std::string::npos);
}

TEST(Prompts, PersonaPlexPromptFitsTheBudgetWithNewestTurns) {
  const auto& persona = find_persona("podcast_host");
  std::vector<MemoryTurn> h;
  for (int i = 0; i < 200; ++i) {
    h.push_back({i % 2 == 0 ? Role::user : Role::assistant,
                 "message number " + std::to_string(i) + " with some words in it", 0, false});
  }
  const std::size_t budget = 4000;
  const auto p = build_personaplex_prompt(persona, h, "Audience feedback: Z", budget);
  EXPECT_LE(url_encoded_size(p.text), budget);
  EXPECT_EQ(p.measured_bytes, url_encoded_size(p.text));
  EXPECT_FALSE(p.persona_over_budget);
  EXPECT_EQ(p.text.find(persona_prompt(persona)), 0U) << "persona first, untrimmed";
  EXPECT_NE(p.text.find("Audience feedback: Z"), std::string::npos);
  EXPECT_GT(p.turns_included, 0);
  EXPECT_LT(p.turns_included, 200);
  // The newest turn is in, the oldest is not, and the order is chronological.
  EXPECT_NE(p.text.find("message number 199 "), std::string::npos);
  EXPECT_EQ(p.text.find("message number 0 "), std::string::npos);
  EXPECT_LT(p.text.find("message number 198 "), p.text.find("message number 199 "));
  // The next older turn would not have fitted.
  const auto bigger = build_personaplex_prompt(persona, h, "Audience feedback: Z", budget + 200);
  EXPECT_GT(bigger.turns_included, p.turns_included);

  const auto raw = build_personaplex_prompt(persona, h, "", budget, PromptBudgetUnit::raw_bytes);
  EXPECT_LE(raw.text.size(), budget);
  EXPECT_GT(raw.turns_included, p.turns_included) << "raw bytes fit more than URL-encoded";
}

TEST(Prompts, PersonaPlexPromptNeverTrimsThePersona) {
  const auto& persona = find_persona("orator");
  const auto h = history({{Role::user, "hello"}});
  const auto p = build_personaplex_prompt(persona, h, "Audience feedback: Z", 50);
  EXPECT_TRUE(p.persona_over_budget);
  EXPECT_EQ(p.text, persona_prompt(persona));
  EXPECT_EQ(p.turns_included, 0);
  // Room for the persona but not the feedback line: the feedback goes first.
  const std::size_t persona_size = url_encoded_size(persona_prompt(persona));
  const auto q = build_personaplex_prompt(persona, h, "Audience feedback: Z", persona_size + 10);
  EXPECT_FALSE(q.persona_over_budget);
  EXPECT_EQ(q.text, persona_prompt(persona));
}

TEST(Prompts, UrlEncodedSize) {
  EXPECT_EQ(url_encoded_size("abc-_.~"), 7U);
  EXPECT_EQ(url_encoded_size("a b"), 5U);
  EXPECT_EQ(url_encoded_size("\xC3\xA9"), 6U);
}

} // namespace
} // namespace pv::cascade
