#include "audio/ogg_opus.hpp"

#include "util/thread_owner.hpp"

#include <array>
#include <cassert>
#include <cstring>
#include <optional>

#include <ogg/ogg.h>

namespace pv::audio {
namespace {

constexpr std::size_t kOpusHeadBytes = 19;
// A reader follows at most this many logical streams at once (chained streams end with EOS; a
// peer that keeps opening new serials without closing them is refused instead of growing memory).
constexpr std::size_t kMaxLiveStreams = 16;

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v & 0xFF);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    p[i] = static_cast<uint8_t>((v >> (8 * i)) & 0xFF);
  }
}

bool starts_with(const unsigned char* data, long size, const char* tag) {
  return size >= 8 && std::memcmp(data, tag, 8) == 0;
}

} // namespace

uint32_t ogg_crc32(std::span<const uint8_t> bytes) {
  // libogg exposes its CRC only through ogg_page_checksum_set(), which zeroes header bytes 22..25
  // and checksums header then body. With an all-zero header the register stays 0 (init 0, no
  // reflection), so the result is exactly the CRC of `bytes`.
  std::array<unsigned char, 27> header{};
  ogg_page page{};
  page.header = header.data();
  page.header_len = static_cast<long>(header.size());
  page.body = const_cast<unsigned char*>(bytes.data()); // read only
  page.body_len = static_cast<long>(bytes.size());
  ogg_page_checksum_set(&page);
  return static_cast<uint32_t>(header[22]) | (static_cast<uint32_t>(header[23]) << 8) |
         (static_cast<uint32_t>(header[24]) << 16) | (static_cast<uint32_t>(header[25]) << 24);
}

const char* to_string(OggErrorKind kind) {
  switch (kind) {
  case OggErrorKind::no_capture_pattern:
    return "no_capture_pattern";
  case OggErrorKind::crc_mismatch:
    return "crc_mismatch";
  case OggErrorKind::missing_bos:
    return "missing_bos";
  case OggErrorKind::duplicate_bos:
    return "duplicate_bos";
  case OggErrorKind::continued_mismatch:
    return "continued_mismatch";
  case OggErrorKind::invalid_page:
    return "invalid_page";
  case OggErrorKind::opus_decode:
    return "opus_decode";
  }
  return "unknown";
}

OggOpusWriterParams sphn_server_framing() {
  OggOpusWriterParams p;
  p.serial = 42;
  p.pre_skip_48k = 3840;
  p.input_rate_hz = 24000;
  p.vendor = "sphn-pyo3";
  p.codec_rate_hz = 24000;
  p.granule_units = GranuleUnits::codec_rate;
  return p;
}

OggOpusWriterParams standard_client_framing(uint32_t serial, uint16_t pre_skip_48k) {
  OggOpusWriterParams p;
  p.serial = serial;
  p.pre_skip_48k = pre_skip_48k;
  p.input_rate_hz = 24000;
  p.vendor = "podium-voices";
  p.codec_rate_hz = 24000;
  p.granule_units = GranuleUnits::rate_48k;
  return p;
}

// --- writer ----------------------------------------------------------------------------------

struct OggOpusWriter::Impl {
  ogg_stream_state os{};
  int64_t packetno = 0;
  int64_t codec_samples = 0;
  int64_t granule = 0;
  int64_t pages = 0;
  bool finished = false;
  util::ThreadOwner owner;

  explicit Impl(uint32_t serial) { ogg_stream_init(&os, static_cast<int>(serial)); }
  ~Impl() { ogg_stream_clear(&os); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // Adds one packet and flushes it into its own page(s), written to `out`.
  void write(const uint8_t* data, std::size_t size, bool bos, bool eos, std::vector<uint8_t>& out) {
    ogg_packet op{};
    op.packet = const_cast<unsigned char*>(data); // libogg copies it
    op.bytes = static_cast<long>(size);
    op.b_o_s = bos ? 1 : 0;
    op.e_o_s = eos ? 1 : 0;
    op.granulepos = granule;
    op.packetno = packetno++;
    ogg_stream_packetin(&os, &op);
    out.clear();
    ogg_page page;
    // Opus packets fit one page (< 65025 bytes); the loop covers the general case anyway.
    while (ogg_stream_flush(&os, &page) != 0) {
      out.insert(out.end(), page.header, page.header + page.header_len);
      out.insert(out.end(), page.body, page.body + page.body_len);
      ++pages;
    }
  }
};

OggOpusWriter::OggOpusWriter(const OggOpusWriterParams& params)
    : params_(params), impl_(std::make_unique<Impl>(params.serial)) {
  assert(params.codec_rate_hz > 0);
}

OggOpusWriter::OggOpusWriter(OggOpusWriter&& other) noexcept
    : params_(std::move(other.params_)), impl_(std::move(other.impl_)) {
  if (impl_) {
    impl_->owner.release();
  }
}

OggOpusWriter& OggOpusWriter::operator=(OggOpusWriter&& other) noexcept {
  params_ = std::move(other.params_);
  impl_ = std::move(other.impl_);
  if (impl_) {
    impl_->owner.release();
  }
  return *this;
}

OggOpusWriter::~OggOpusWriter() = default;

std::vector<uint8_t> OggOpusWriter::head_page() {
  PV_ASSERT_OWNER(impl_->owner);
  assert(impl_->packetno == 0 && "head_page must be the first page");
  std::array<uint8_t, kOpusHeadBytes> head{};
  std::memcpy(head.data(), "OpusHead", 8);
  head[8] = 1; // version
  head[9] = 1; // channels
  put16(&head[10], params_.pre_skip_48k);
  put32(&head[12], params_.input_rate_hz);
  put16(&head[16], 0); // output gain
  head[18] = 0;        // channel mapping family
  std::vector<uint8_t> out;
  impl_->write(head.data(), head.size(), true, false, out);
  return out;
}

std::vector<uint8_t> OggOpusWriter::tags_page() {
  PV_ASSERT_OWNER(impl_->owner);
  assert(impl_->packetno == 1 && "tags_page must follow head_page");
  std::vector<uint8_t> tags(8 + 4 + params_.vendor.size() + 4, 0);
  std::memcpy(tags.data(), "OpusTags", 8);
  put32(&tags[8], static_cast<uint32_t>(params_.vendor.size()));
  std::memcpy(&tags[12], params_.vendor.data(), params_.vendor.size());
  // user comment count stays 0
  std::vector<uint8_t> out;
  impl_->write(tags.data(), tags.size(), false, false, out);
  return out;
}

void OggOpusWriter::packet_page(std::span<const uint8_t> packet, int samples_at_codec_rate,
                                std::vector<uint8_t>& out, bool end_of_stream) {
  PV_ASSERT_OWNER(impl_->owner);
  assert(impl_->packetno >= 2 && "head_page and tags_page come first");
  assert(!impl_->finished && "no pages after end of stream");
  assert(!packet.empty() && "zero-length packets mean loss to a decoder");
  impl_->codec_samples += samples_at_codec_rate;
  impl_->granule = params_.granule_units == GranuleUnits::rate_48k
                       ? impl_->codec_samples * 48000 / params_.codec_rate_hz
                       : impl_->codec_samples;
  impl_->write(packet.data(), packet.size(), false, end_of_stream, out);
  impl_->finished = end_of_stream;
}

int64_t OggOpusWriter::pages_written() const {
  return impl_->pages;
}
int64_t OggOpusWriter::granule() const {
  return impl_->granule;
}

// --- reader ----------------------------------------------------------------------------------

namespace {

struct LogicalStream {
  uint32_t serial = 0;
  ogg_stream_state os{};
  bool packet_open = false; // the last page ended inside a packet (last lacing value 255)
};

} // namespace

struct OggOpusReader::Impl {
  OggOpusReaderParams params;
  ogg_sync_state sync{};
  std::vector<std::unique_ptr<LogicalStream>> streams;
  std::optional<OpusDecoder> decoder;
  OggOpusReaderStats stats;
  std::optional<OggError> error;
  std::size_t resync_run = 0; // junk bytes skipped since the last good page
  util::ThreadOwner owner;

  explicit Impl(const OggOpusReaderParams& p) : params(p) { ogg_sync_init(&sync); }
  ~Impl() {
    for (auto& s : streams) {
      ogg_stream_clear(&s->os);
    }
    ogg_sync_clear(&sync);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  tl::expected<void, OggError> fail(OggErrorKind kind, std::string message) {
    error = OggError{kind, "ogg: " + std::move(message)};
    return tl::unexpected(*error);
  }

  // Packet consumer: returns an error message to fail the reader.
  using Sink = std::optional<OggError> (*)(Impl&, const ogg_packet&, void*);

  tl::expected<void, OggError> feed(std::span<const uint8_t> bytes, Sink sink, void* ctx) {
    if (error) {
      return tl::unexpected(*error);
    }
    if (!bytes.empty()) {
      char* buffer = ogg_sync_buffer(&sync, static_cast<long>(bytes.size()));
      if (buffer == nullptr) {
        return fail(OggErrorKind::invalid_page, "ogg_sync_buffer failed (out of memory)");
      }
      std::memcpy(buffer, bytes.data(), bytes.size());
      ogg_sync_wrote(&sync, static_cast<long>(bytes.size()));
    }
    for (;;) {
      // libogg drops a page with a bad CRC and resyncs silently; to report it, look at whether the
      // unread bytes start with the capture pattern before asking for a page: a negative result
      // from a position holding "OggS" can only be a checksum failure.
      long const unread = sync.fill - sync.returned;
      bool const at_capture = unread >= 4 && std::memcmp(sync.data + sync.returned, "OggS", 4) == 0;
      ogg_page page;
      long const r = ogg_sync_pageseek(&sync, &page);
      if (r == 0) {
        return {}; // need more bytes
      }
      if (r < 0) {
        if (at_capture) {
          return fail(OggErrorKind::crc_mismatch,
                      "page " + std::to_string(stats.pages) + " has a wrong CRC");
        }
        auto const skipped = static_cast<std::size_t>(-r);
        stats.skipped_bytes += static_cast<int64_t>(skipped);
        resync_run += skipped;
        if (resync_run > params.max_resync_bytes) {
          return fail(OggErrorKind::no_capture_pattern,
                      "no \"OggS\" capture pattern in " + std::to_string(resync_run) + " bytes");
        }
        continue;
      }
      resync_run = 0;
      if (auto e = on_page(page, sink, ctx)) {
        error = std::move(*e);
        return tl::unexpected(*error);
      }
    }
  }

  std::optional<OggError> on_page(ogg_page& page, Sink sink, void* ctx) {
    auto err = [](OggErrorKind kind, std::string msg) {
      return std::optional<OggError>(OggError{kind, "ogg: " + std::move(msg)});
    };
    if (ogg_page_version(&page) != 0) {
      return err(OggErrorKind::invalid_page,
                 "stream structure version " + std::to_string(ogg_page_version(&page)));
    }
    auto const serial = static_cast<uint32_t>(ogg_page_serialno(&page));
    bool const bos = ogg_page_bos(&page) != 0;
    bool const continued = ogg_page_continued(&page) != 0;
    // Built only on the error paths: no allocation per page.
    auto where = [&] {
      return "page " + std::to_string(stats.pages) + " (serial " + std::to_string(serial) + ")";
    };

    LogicalStream* stream = nullptr;
    for (auto& s : streams) {
      if (s->serial == serial) {
        stream = s.get();
      }
    }
    if (stream == nullptr) {
      if (!bos) {
        return err(OggErrorKind::missing_bos, where() + ": first page of the stream lacks BOS");
      }
      if (continued) {
        return err(OggErrorKind::continued_mismatch,
                   where() + ": first page of the stream starts with a continued packet");
      }
      if (streams.size() >= kMaxLiveStreams) {
        return err(OggErrorKind::invalid_page, where() + ": too many open logical streams");
      }
      auto fresh = std::make_unique<LogicalStream>();
      fresh->serial = serial;
      ogg_stream_init(&fresh->os, static_cast<int>(serial));
      stream = fresh.get();
      streams.push_back(std::move(fresh));
      ++stats.streams;
      if (decoder) {
        decoder->reset(); // a new encoder: forget the previous stream's state
      }
    } else {
      if (bos) {
        return err(OggErrorKind::duplicate_bos, where() + ": second BOS for a live stream");
      }
      if (continued != stream->packet_open) {
        return err(OggErrorKind::continued_mismatch,
                   where() + (continued
                                  ? ": continued flag set but the previous page ended a packet"
                                  : ": continued flag missing but the previous page ended "
                                    "inside a packet"));
      }
    }
    int const segments = page.header[26];
    if (segments > 0) {
      stream->packet_open = page.header[27 + segments - 1] == 255;
    }
    if (ogg_stream_pagein(&stream->os, &page) != 0) {
      return err(OggErrorKind::invalid_page, where() + ": rejected by ogg_stream_pagein");
    }
    ++stats.pages;

    ogg_packet packet;
    for (;;) {
      int const r = ogg_stream_packetout(&stream->os, &packet);
      if (r == 0) {
        break;
      }
      if (r < 0) {
        ++stats.holes; // sequence gap: not checked by the real server either
        continue;
      }
      if (starts_with(packet.packet, packet.bytes, "OpusHead") ||
          starts_with(packet.packet, packet.bytes, "OpusTags")) {
        ++stats.header_packets;
        continue;
      }
      ++stats.audio_packets;
      if (auto e = sink(*this, packet, ctx)) {
        return e;
      }
    }
    if (ogg_page_eos(&page) != 0) {
      ogg_stream_clear(&stream->os);
      std::erase_if(streams, [&](const auto& s) { return s.get() == stream; });
    }
    return std::nullopt;
  }

  static std::optional<OggError> decode_sink(Impl& impl, const ogg_packet& packet, void* ctx) {
    if (!impl.params.decode_audio) {
      return std::nullopt;
    }
    auto& pcm = *static_cast<std::vector<int16_t>*>(ctx);
    auto n = impl.decoder->decode(
        std::span<const uint8_t>(packet.packet, static_cast<std::size_t>(packet.bytes)), pcm);
    if (!n) {
      return OggError{OggErrorKind::opus_decode, "ogg: audio packet " +
                                                     std::to_string(impl.stats.audio_packets - 1) +
                                                     ": " + n.error().message};
    }
    impl.stats.decoded_samples += *n;
    return std::nullopt;
  }

  static std::optional<OggError> collect_sink(Impl&, const ogg_packet& packet, void* ctx) {
    auto& packets = *static_cast<std::vector<std::vector<uint8_t>>*>(ctx);
    packets.emplace_back(packet.packet, packet.packet + packet.bytes);
    return std::nullopt;
  }

  // A moved reader may continue on another thread: release ownership of it and its decoder.
  void release_owner() {
    owner.release();
    if (decoder) {
      OpusDecoder moved = std::move(*decoder); // moving an OpusDecoder releases its owner
      decoder.emplace(std::move(moved));
    }
  }
};

OggOpusReader::OggOpusReader(const OggOpusReaderParams& params)
    : impl_(std::make_unique<Impl>(params)) {
  if (params.decode_audio) {
    auto decoder = OpusDecoder::create(params.decode_rate_hz);
    if (decoder) {
      impl_->decoder.emplace(std::move(*decoder));
    } else {
      impl_->error = OggError{OggErrorKind::opus_decode,
                              "ogg: cannot create the Opus decoder: " + decoder.error().message};
    }
  }
}

OggOpusReader::OggOpusReader(OggOpusReader&& other) noexcept : impl_(std::move(other.impl_)) {
  if (impl_) {
    impl_->release_owner();
  }
}

OggOpusReader& OggOpusReader::operator=(OggOpusReader&& other) noexcept {
  impl_ = std::move(other.impl_);
  if (impl_) {
    impl_->release_owner();
  }
  return *this;
}

OggOpusReader::~OggOpusReader() = default;

tl::expected<void, OggError> OggOpusReader::feed(std::span<const uint8_t> bytes,
                                                 std::vector<int16_t>& pcm) {
  PV_ASSERT_OWNER(impl_->owner);
  return impl_->feed(bytes, &Impl::decode_sink, &pcm);
}

tl::expected<void, OggError>
OggOpusReader::feed_packets(std::span<const uint8_t> bytes,
                            std::vector<std::vector<uint8_t>>& packets) {
  PV_ASSERT_OWNER(impl_->owner);
  return impl_->feed(bytes, &Impl::collect_sink, &packets);
}

const OggOpusReaderStats& OggOpusReader::stats() const {
  return impl_->stats;
}
bool OggOpusReader::failed() const {
  return impl_->error.has_value();
}
const OggError* OggOpusReader::error() const {
  return impl_->error ? &*impl_->error : nullptr;
}

} // namespace pv::audio
