#pragma once
// The cascade's name for util::MovableThreadOwner.

#include "util/thread_owner.hpp"

namespace pv::cascade {

using util::MovableThreadOwner;

} // namespace pv::cascade
