#include "cascade/sentence_splitter.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace pv::cascade {

namespace {

constexpr std::size_t npos = std::string::npos;

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}
bool is_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}
bool is_upper(char c) {
  return std::isupper(static_cast<unsigned char>(c)) != 0;
}
bool is_terminator(char c) {
  return c == '.' || c == '!' || c == '?';
}

// Length of the UTF-8 sequence at `pos` if it is one of `seqs`, else 0.
std::size_t match_any(std::string_view text, std::size_t pos,
                      std::initializer_list<std::string_view> seqs) {
  for (const auto seq : seqs) {
    if (text.substr(pos, seq.size()) == seq) {
      return seq.size();
    }
  }
  return 0;
}

constexpr std::string_view kEllipsis = "\xE2\x80\xA6";    // …
constexpr std::string_view kEmDash = "\xE2\x80\x94";      // —
constexpr std::string_view kEnDash = "\xE2\x80\x93";      // –
constexpr std::string_view kRightDouble = "\xE2\x80\x9D"; // ”
constexpr std::string_view kRightSingle = "\xE2\x80\x99"; // ’

// Past closing quotes/brackets starting at `pos`.
std::size_t skip_closers(std::string_view text, std::size_t pos) {
  while (pos < text.size()) {
    const char c = text[pos];
    if (c == '"' || c == '\'' || c == ')' || c == ']' || c == '}') {
      ++pos;
    } else if (const auto n = match_any(text, pos, {kRightDouble, kRightSingle}); n != 0) {
      pos += n;
    } else {
      break;
    }
  }
  return pos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// "J." or "J.R.R." (upper-case single letters each followed by a dot).
bool is_initials(std::string_view word) {
  if (word.size() < 2 || word.size() % 2 != 0) {
    return false;
  }
  for (std::size_t i = 0; i < word.size(); i += 2) {
    if (!is_upper(word[i]) || word[i + 1] != '.') {
      return false;
    }
  }
  return true;
}

bool contains(const std::vector<std::string_view>& list, std::string_view word) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

enum class Decision { boundary, not_boundary, undecided };

// A terminator run ending before `after` (closers included) at `dot`. Decides whether the text
// may be cut at `after`.
Decision decide_terminator(std::string_view text, std::size_t run_start, std::size_t run_end,
                           std::size_t after, bool at_end) {
  if (after == text.size()) {
    return at_end ? Decision::boundary : Decision::undecided;
  }
  if (!is_space(text[after])) {
    return Decision::not_boundary; // 3.5, example.com/a.b, v2.0, "?!x"
  }
  const std::string_view run = text.substr(run_start, run_end - run_start);
  if ((run.find_first_not_of('.') == std::string_view::npos && run.size() >= 2) ||
      run == kEllipsis) {
    // An ellipsis trails off ("so... let me think") unless a new sentence starts after it.
    std::size_t next = after;
    while (next < text.size() && is_space(text[next])) {
      ++next;
    }
    if (next == text.size()) {
      return at_end ? Decision::boundary : Decision::undecided;
    }
    return is_upper(text[next]) || !is_alnum(text[next]) ? Decision::boundary
                                                         : Decision::not_boundary;
  }
  // Only a single '.' can belong to an abbreviation or initial.
  if (run.size() != 1 || run[0] != '.') {
    return Decision::boundary;
  }
  std::size_t word_start = run_start;
  while (word_start > 0 && !is_space(text[word_start - 1])) {
    --word_start;
  }
  while (word_start < run_start && (text[word_start] == '(' || text[word_start] == '"' ||
                                    text[word_start] == '\'' || text[word_start] == '[')) {
    ++word_start;
  }
  const std::string_view word = text.substr(word_start, run_end - word_start);
  const std::string word_lower = lower(word);
  if (contains(SentenceSplitter::abbreviations(), word_lower) || is_initials(word)) {
    return Decision::not_boundary;
  }
  if (contains(SentenceSplitter::sentence_final_abbreviations(), word_lower)) {
    std::size_t next = after;
    while (next < text.size() && is_space(text[next])) {
      ++next;
    }
    if (next == text.size()) {
      return at_end ? Decision::boundary : Decision::undecided;
    }
    return is_upper(text[next]) ? Decision::boundary : Decision::not_boundary;
  }
  return Decision::boundary;
}

std::size_t trimmed_length(std::string_view text) {
  std::size_t begin = 0;
  while (begin < text.size() && is_space(text[begin])) {
    ++begin;
  }
  std::size_t end = text.size();
  while (end > begin && is_space(text[end - 1])) {
    --end;
  }
  return end - begin;
}

struct Scan {
  std::size_t sentence_cut = npos; // first certain sentence boundary
  std::size_t clause_cut = npos;   // first usable clause boundary before any undecided point
};

Scan scan(std::string_view text, bool at_end, bool want_clause, std::size_t clause_min) {
  Scan result;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\n') {
      result.sentence_cut = i + 1;
      return result;
    }
    const std::size_t ellipsis = match_any(text, i, {kEllipsis});
    if (is_terminator(c) || ellipsis != 0) {
      std::size_t run_end = i;
      while (run_end < text.size()) {
        if (is_terminator(text[run_end])) {
          ++run_end;
        } else if (const auto n = match_any(text, run_end, {kEllipsis}); n != 0) {
          run_end += n;
        } else {
          break;
        }
      }
      const std::size_t after = skip_closers(text, run_end);
      switch (decide_terminator(text, i, run_end, after, at_end)) {
      case Decision::boundary:
        result.sentence_cut = after;
        return result;
      case Decision::undecided:
        // Nothing past an undecided point may be cut, and a probable sentence end one piece
        // away beats an earlier clause split.
        result.clause_cut = npos;
        return result;
      case Decision::not_boundary:
        break;
      }
      i = run_end;
      continue;
    }
    if (want_clause && result.clause_cut == npos) {
      std::size_t cut = npos;
      bool undecided = false;
      if (c == ',' || c == ';' || c == ':') {
        if (i + 1 == text.size()) {
          undecided = !at_end;
        } else if (is_space(text[i + 1])) {
          cut = i + 1;
        }
      } else if (const auto n = match_any(text, i, {kEmDash, kEnDash}); n != 0) {
        cut = i + n;
      } else if (c == '-' && i > 0 && is_space(text[i - 1]) && i + 1 < text.size() &&
                 is_space(text[i + 1])) {
        cut = i + 1;
      }
      if (undecided) {
        return result;
      }
      if (cut != npos && trimmed_length(text.substr(0, cut)) >= clause_min) {
        result.clause_cut = cut;
      }
    }
    ++i;
  }
  return result;
}

// Whether `text` has anything a TTS would say: an ASCII letter/digit or a non-ASCII character
// outside the general-punctuation (U+2000..U+206F) and Latin-1 punctuation (U+00A0..U+00BF)
// blocks.
bool has_speakable(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (std::isalnum(c) != 0) {
        return true;
      }
      continue;
    }
    if ((c & 0xC0U) == 0x80U) {
      continue; // continuation byte
    }
    uint32_t cp = 0;
    if ((c & 0xE0U) == 0xC0U && i + 1 < text.size()) {
      cp = ((c & 0x1FU) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3FU);
    } else if ((c & 0xF0U) == 0xE0U && i + 2 < text.size()) {
      cp = ((c & 0x0FU) << 12) | ((static_cast<unsigned char>(text[i + 1]) & 0x3FU) << 6) |
           (static_cast<unsigned char>(text[i + 2]) & 0x3FU);
    } else {
      return true; // 4-byte sequences (emoji aside) and anything unusual: keep it
    }
    const bool punctuation = (cp >= 0x2000 && cp <= 0x206F) || (cp >= 0xA0 && cp <= 0xBF);
    if (!punctuation) {
      return true;
    }
  }
  return false;
}

// Largest position <= `limit` that does not fall inside a UTF-8 sequence.
std::size_t utf8_floor(std::string_view text, std::size_t limit) {
  std::size_t pos = std::min(limit, text.size());
  while (pos > 0 && pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0U) == 0x80U) {
    --pos;
  }
  return pos;
}

} // namespace

const std::vector<std::string_view>& SentenceSplitter::abbreviations() {
  static const std::vector<std::string_view> list = {
      "e.g.", "i.e.", "mr.",  "mrs.", "ms.",   "dr.", "prof.", "sr.",     "st.",
      "vs.",  "cf.",  "mt.",  "gen.", "capt.", "lt.", "col.",  "sgt.",    "rev.",
      "hon.", "fig.", "vol.", "ch.",  "pp.",   "ca.", "al.",   "approx.", "dept.",
  };
  return list;
}

const std::vector<std::string_view>& SentenceSplitter::sentence_final_abbreviations() {
  static const std::vector<std::string_view> list = {
      "etc.", "inc.", "ltd.", "co.", "corp.", "jr.", "a.m.", "p.m.", "u.s.", "u.k.", "e.u.",
  };
  return list;
}

SentenceSplitter::SentenceSplitter(const SentenceSplitterParams& params) : params_(params) {
  if (params_.max_chunk_chars < 16) {
    params_.max_chunk_chars = 16;
  }
  buffer_.reserve(params_.max_chunk_chars * 2);
}

void SentenceSplitter::emit(std::size_t cut, std::vector<std::string>& out) {
  const std::string_view chunk(buffer_.data(), cut);
  std::size_t begin = 0;
  while (begin < chunk.size() && is_space(chunk[begin])) {
    ++begin;
  }
  std::size_t end = chunk.size();
  while (end > begin && is_space(chunk[end - 1])) {
    --end;
  }
  const std::string_view trimmed = chunk.substr(begin, end - begin);
  if (has_speakable(trimmed)) {
    out.emplace_back(trimmed);
    ++emitted_;
  }
  buffer_.erase(0, cut);
}

void SentenceSplitter::drain(bool at_end, std::vector<std::string>& out) {
  for (;;) {
    const bool want_clause = params_.split_first_clause && emitted_ == 0;
    const Scan found = scan(buffer_, at_end, want_clause, params_.first_chunk_min_chars);
    const std::size_t limit = params_.max_chunk_chars;
    // A boundary beyond the limit (decided only now, e.g. by a long piece) is not used: the
    // forced split below keeps every chunk within max_chunk_chars.
    if (found.sentence_cut != npos && found.sentence_cut <= limit) {
      emit(found.sentence_cut, out);
      continue;
    }
    if (found.clause_cut != npos && found.clause_cut <= limit) {
      emit(found.clause_cut, out);
      continue;
    }
    if (buffer_.size() >= limit) {
      std::size_t cut = npos;
      for (std::size_t i = limit; i > limit / 2; --i) {
        if (is_space(buffer_[i - 1])) {
          cut = i;
          break;
        }
      }
      if (cut == npos) {
        cut = utf8_floor(buffer_, limit);
        if (cut == 0) {
          cut = limit; // not UTF-8 at all: cut anyway rather than loop
        }
      }
      emit(cut, out);
      continue;
    }
    break;
  }
}

void SentenceSplitter::push(std::string_view piece, std::vector<std::string>& out) {
  PV_ASSERT_OWNER(owner_);
  buffer_.append(piece);
  drain(false, out);
}

void SentenceSplitter::flush(std::vector<std::string>& out) {
  PV_ASSERT_OWNER(owner_);
  drain(true, out);
  if (!buffer_.empty()) {
    emit(buffer_.size(), out);
  }
  emitted_ = 0;
}

void SentenceSplitter::reset() {
  PV_ASSERT_OWNER(owner_);
  buffer_.clear();
  emitted_ = 0;
}

} // namespace pv::cascade
