// Errors as values: ErrnoError() builds an absl::Status at the failing syscall,
// WithContext() lets callers add what they were doing, and the macros below
// propagate errors (Abseil 20220623 ships no status macros).
//
//   if (::fstat(fd, &st) != 0) {
//     const int err = errno;
//     return ErrnoError(err, absl::StrFormat("fstat(%d)", fd));
//   }
//   HANDOVER_ASSIGN_OR_RETURN(UniqueFd pidfd, sys::PidfdOpen(pid));
//   return WithContext(Take(pidfd), "taking over pid 42");
#ifndef HANDOVER_STATUS_H_
#define HANDOVER_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace handover {

// Returns a Status whose code comes from absl::ErrnoToStatusCode(err) and whose
// message reads "what: description [ENAME]". EPERM -> PERMISSION_DENIED,
// ESRCH/ENOENT -> NOT_FOUND, EBADF -> FAILED_PRECONDITION, ENOSYS -> UNIMPLEMENTED,
// EINVAL -> INVALID_ARGUMENT, EMFILE -> RESOURCE_EXHAUSTED.
absl::Status ErrnoError(int err, absl::string_view what);

// Same as ErrnoError, followed by "; hint" when hint is not empty.
absl::Status ErrnoError(int err, absl::string_view what, absl::string_view hint);

// Returns `status` with "context: " prepended to its message; keeps the code.
// An OK status is returned unchanged.
absl::Status WithContext(const absl::Status& status, absl::string_view context);

// The errno name ("EPERM"), or "errno N" when glibc does not know it.
std::string ErrnoName(int err);

}  // namespace handover

#define HANDOVER_CONCAT_INNER_(a, b) a##b
#define HANDOVER_CONCAT_(a, b) HANDOVER_CONCAT_INNER_(a, b)

#define HANDOVER_RETURN_IF_ERROR(expr)                               \
  do {                                                               \
    if (::absl::Status _ho_st = (expr); !_ho_st.ok()) return _ho_st; \
  } while (false)

#define HANDOVER_ASSIGN_OR_RETURN(lhs, rexpr) \
  HANDOVER_ASSIGN_OR_RETURN_IMPL_(HANDOVER_CONCAT_(_ho_sor_, __LINE__), lhs, rexpr)
#define HANDOVER_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                    \
  if (!tmp.ok()) return std::move(tmp).status();         \
  lhs = *std::move(tmp)

#endif  // HANDOVER_STATUS_H_
