#include "handover/status.h"

#include <string.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace handover {

std::string ErrnoName(int err) {
  const char* name = ::strerrorname_np(err);  // glibc >= 2.32
  return name != nullptr ? std::string(name) : absl::StrCat("errno ", err);
}

absl::Status ErrnoError(int err, absl::string_view what) {
  const char* desc = ::strerrordesc_np(err);  // strerror() without its static buffer
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrFormat("%s: %s [%s]", what, desc ? desc : "unknown error",
                                      ErrnoName(err)));
}

absl::Status ErrnoError(int err, absl::string_view what, absl::string_view hint) {
  absl::Status base = ErrnoError(err, what);
  if (hint.empty()) return base;
  return absl::Status(base.code(), absl::StrCat(base.message(), "; ", hint));
}

absl::Status WithContext(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

}  // namespace handover
