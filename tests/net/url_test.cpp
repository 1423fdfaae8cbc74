#include "net/headers.hpp"
#include "net/retry_after.hpp"
#include "net/url.hpp"

#include <gtest/gtest.h>

namespace pv::net {
namespace {

using namespace std::chrono_literals;

TEST(Url, ParsesSchemesHostsPortsAndTargets) {
  auto u = parse_url("wss://pp.example.com:8998/api/chat?text_prompt=hi%20there#frag");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->scheme, "wss");
  EXPECT_TRUE(u->tls());
  EXPECT_EQ(u->host, "pp.example.com");
  EXPECT_EQ(u->port, 8998);
  EXPECT_EQ(u->target, "/api/chat?text_prompt=hi%20there");
  EXPECT_EQ(u->path(), "/api/chat");
  EXPECT_EQ(u->query(), "text_prompt=hi%20there");
  EXPECT_EQ(u->host_header(), "pp.example.com:8998");

  auto d = parse_url("HTTPS://api.openai.com");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->scheme, "https");
  EXPECT_EQ(d->port, 443);
  EXPECT_EQ(d->target, "/");
  EXPECT_EQ(d->host_header(), "api.openai.com");

  auto q = parse_url("ws://host?x=1");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->target, "/?x=1");
  EXPECT_EQ(q->port, 80);

  auto v6 = parse_url("ws://[::1]:9000/a");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->host_header(), "[::1]:9000");
}

TEST(Url, RejectsMalformedInput) {
  for (const char* text :
       {"", "ws:/x", "ftp://host/", "ws://:80/", "ws://host:0/", "ws://host:65536/",
        "ws://host:12a/", "ws://user@host/", "ws://[::1/", "ws://host/a b", "ws://host/\x01"}) {
    auto u = parse_url(text);
    EXPECT_FALSE(u) << text;
    if (!u) {
      EXPECT_FALSE(u.error().message.empty());
    }
  }
}

TEST(Url, PercentEncodingRoundTrips) {
  const std::string text = "You are a wise + friendly teacher. 100% \xC3\xA9 & more=yes";
  const std::string encoded = percent_encode(text);
  EXPECT_EQ(encoded.find_first_of(" +&=\xC3"), std::string::npos); // all escaped
  EXPECT_NE(encoded.find("%2B"), std::string::npos);
  EXPECT_NE(encoded.find("%20"), std::string::npos);
  EXPECT_EQ(percent_decode(encoded), text);
  EXPECT_EQ(percent_decode("a+b%2Bc"), "a b+c");
  EXPECT_EQ(percent_decode("a+b", false), "a+b");
  EXPECT_EQ(percent_decode("bad%zzescape%4"), "bad%zzescape%4");
}

TEST(Url, QueryParameters) {
  const std::string query = "voice_prompt=NATF2.pt&text_prompt=a%20b+c&empty=&flag";
  EXPECT_EQ(query_param(query, "voice_prompt"), "NATF2.pt");
  EXPECT_EQ(query_param(query, "text_prompt"), "a b c");
  EXPECT_EQ(query_param(query, "empty"), "");
  EXPECT_EQ(query_param(query, "flag"), "");
  EXPECT_FALSE(query_param(query, "seed"));
}

TEST(Headers, CaseInsensitiveLookup) {
  const Headers headers = {{"Content-Type", "text/plain"}, {"retry-after", "3"}};
  EXPECT_EQ(find_header(headers, "content-type"), "text/plain");
  EXPECT_EQ(find_header(headers, "Retry-After"), "3");
  EXPECT_FALSE(find_header(headers, "Retry"));
}

TEST(RetryAfter, SecondsAndHttpDates) {
  EXPECT_EQ(parse_retry_after("7"), 7000ms);
  EXPECT_EQ(parse_retry_after(" 0 "), 0ms);
  EXPECT_FALSE(parse_retry_after(""));
  EXPECT_FALSE(parse_retry_after("-1"));
  EXPECT_FALSE(parse_retry_after("3.5"));
  EXPECT_FALSE(parse_retry_after("soon"));
  const auto now = std::chrono::system_clock::from_time_t(1445412480); // 2015-10-21 07:28:00 GMT
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), 30000ms);
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now), 0ms); // in the past
}

} // namespace
} // namespace pv::net
