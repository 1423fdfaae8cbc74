// SSE parser: spec behaviour, and identical results however the stream is split.

#include "net/sse.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace pv::net {
namespace {

struct Parsed {
  std::vector<SseEvent> events;
  std::vector<std::string> comments;
  std::string last_id;
  std::optional<int> retry;
};

// Feeds `pieces` in order and returns what came out.
Parsed parse(const std::vector<std::string>& pieces) {
  Parsed out;
  SseParser parser([&](const SseEvent& e) { out.events.push_back(e); }, {},
                   [&](std::string_view c) { out.comments.emplace_back(c); });
  for (const auto& piece : pieces) {
    EXPECT_TRUE(parser.feed(piece));
  }
  out.last_id = parser.last_event_id();
  out.retry = parser.retry_ms();
  return out;
}

// A sample exercising every rule: BOM, CRLF/CR/LF endings, comments, multi-line data, ids,
// retry, unknown fields, fields without a colon or without the space, empty data.
const std::string kSample = "\xEF\xBB\xBF"
                            ": welcome\r\n"
                            "retry: 2500\r\n"
                            "\r\n"
                            "event: delta\r\n"
                            "data: {\"t\":\"Hel\"}\r\n"
                            "id: 1\r\n"
                            "\r\n"
                            "data:first line\n"
                            "data: second line\n"
                            "data\n"
                            "unknown: ignored\n"
                            "\n"
                            "event: ping\r"
                            "\r"
                            "data: caf\xC3\xA9 \xE2\x96\x81\r"
                            "id: 2\r"
                            "\r"
                            "event: end\n"
                            "data: \n"
                            "\n"
                            "retry: soon\n"
                            "data: [DONE]\n"
                            "\n";

TEST(SseParser, ParsesEveryFieldAccordingToTheSpec) {
  const Parsed p = parse({kSample});
  ASSERT_EQ(p.events.size(), 5u);
  EXPECT_EQ(p.events[0].type, "delta");
  EXPECT_EQ(p.events[0].data, "{\"t\":\"Hel\"}");
  EXPECT_EQ(p.events[0].id, "1");
  EXPECT_EQ(p.events[1].type, "message");
  EXPECT_EQ(p.events[1].data, "first line\nsecond line\n"); // bare "data" adds an empty line
  EXPECT_EQ(p.events[1].id, "1");                           // ids persist
  EXPECT_EQ(p.events[2].type, "message"); // "event: ping" had no data, so it was dropped
  EXPECT_EQ(p.events[2].data, "caf\xC3\xA9 \xE2\x96\x81");
  EXPECT_EQ(p.events[2].id, "2");
  EXPECT_EQ(p.events[3].type, "end");
  EXPECT_EQ(p.events[3].data, ""); // "data: " dispatches an empty string
  EXPECT_EQ(p.events[4].type, "message");
  EXPECT_EQ(p.events[4].data, "[DONE]");
  ASSERT_EQ(p.comments.size(), 1u);
  EXPECT_EQ(p.comments[0], " welcome");
  EXPECT_EQ(p.retry, 2500); // "retry: soon" is ignored
  EXPECT_EQ(p.last_id, "2");
}

TEST(SseParser, LastEventWithoutBlankLineIsNotDispatched) {
  SseParser parser([](const SseEvent&) { FAIL() << "no event expected"; });
  ASSERT_TRUE(parser.feed("data: unfinished\n"));
  const auto end = parser.finish();
  ASSERT_FALSE(end);
  EXPECT_EQ(end.error().kind, SseErrorKind::incomplete);
}

TEST(SseParser, SplittingAtEveryByteBoundaryGivesIdenticalEvents) {
  const Parsed whole = parse({kSample});
  ASSERT_EQ(whole.events.size(), 5u);
  for (std::size_t cut = 0; cut <= kSample.size(); ++cut) {
    const Parsed split = parse({kSample.substr(0, cut), kSample.substr(cut)});
    ASSERT_EQ(split.events, whole.events) << "split at byte " << cut;
    ASSERT_EQ(split.comments, whole.comments) << "split at byte " << cut;
    ASSERT_EQ(split.retry, whole.retry);
  }
  for (std::size_t first = 1; first < kSample.size(); first += 7) {
    for (std::size_t second = first; second <= kSample.size(); second += 3) {
      const Parsed split = parse({kSample.substr(0, first), kSample.substr(first, second - first),
                                  kSample.substr(second)});
      ASSERT_EQ(split.events, whole.events) << "split at " << first << " and " << second;
    }
  }
}

TEST(SseParser, OneByteAtATime) {
  std::vector<std::string> bytes;
  for (char c : kSample) {
    bytes.emplace_back(1, c);
  }
  EXPECT_EQ(parse(bytes).events, parse({kSample}).events);
}

TEST(SseParser, OversizedLineIsAnErrorAndTheParserStaysFailed) {
  SseParams params;
  params.max_event_bytes = 64;
  int events = 0;
  SseParser parser([&](const SseEvent&) { ++events; }, params);
  ASSERT_TRUE(parser.feed("data: ok\n\n"));
  EXPECT_EQ(events, 1);
  const auto big = parser.feed("data: " + std::string(100, 'x'));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().kind, SseErrorKind::too_large);
  EXPECT_FALSE(parser.feed("\n\ndata: more\n\n"));
  EXPECT_EQ(events, 1);
}

TEST(SseParser, OversizedEventAcrossManyLinesIsAnError) {
  SseParams params;
  params.max_event_bytes = 64;
  SseParser parser([](const SseEvent&) {}, params);
  tl::expected<void, SseError> result;
  for (int i = 0; i < 20 && result; ++i) {
    result = parser.feed("data: 0123456789\n");
  }
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, SseErrorKind::too_large);
}

TEST(SseParser, IdWithNulIsIgnored) {
  const Parsed p = parse({std::string("id: a\0b\ndata: x\n\n", 17)});
  ASSERT_EQ(p.events.size(), 1u);
  EXPECT_EQ(p.events[0].id, "");
}

} // namespace
} // namespace pv::net
