#include "agent/speaking_detector.hpp"

#include "audio/mixer.hpp"

namespace pv::agent {

SpeakingDetector::Change SpeakingDetector::update(const audio::Frame& played) {
  last_audible_ = !played.empty() && audio::rms_dbfs(played.samples()) > params_.threshold_dbfs;
  if (last_audible_) {
    quiet_us_ = 0;
    if (!speaking_) {
      speaking_ = true;
      return Change::started;
    }
    return Change::none;
  }
  if (speaking_) {
    quiet_us_ += played.duration_us();
    if (quiet_us_ >= params_.hangover_ms * 1000) {
      speaking_ = false;
      return Change::stopped;
    }
  }
  return Change::none;
}

} // namespace pv::agent
