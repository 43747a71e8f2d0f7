#include "demo_proxy/stats.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "handover/sys.h"

namespace handover::demo {

std::string Stats::Format() const {
  return absl::StrFormat(
      "stats accepted=%d active=%d bytes_client_to_backend=%d bytes_backend_to_client=%d "
      "backend_connect_errors=%d backend_give_ups=%d relay_errors=%d drained_closed=%d "
      "takeover_pidfd=%d takeover_scm=%d takeover_fallbacks=%d taken_sockets=%d "
      "unclaimed_closed=%d old_exited=%d old_killed=%d scm_served=%d scm_refused=%d",
      accepted, active, bytes_client_to_backend, bytes_backend_to_client,
      backend_connect_errors, backend_give_ups, relay_errors, drained_closed, takeover_pidfd,
      takeover_scm, takeover_fallbacks, taken_sockets, unclaimed_closed, old_exited, old_killed,
      scm_served, scm_refused);
}

void PrintLine(absl::string_view line) {
  (void)sys::WriteAll(1, absl::StrCat(line, "\n"));
}

}  // namespace handover::demo
