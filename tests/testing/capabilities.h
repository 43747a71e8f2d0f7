// Running test code with fewer capabilities than the test process has.
//
//   RunWithoutCapSysAdmin([&] { EXPECT_THAT(EnterTheirNetns(), IsPermissionDenied()); });
#ifndef HANDOVER_TESTS_TESTING_CAPABILITIES_H_
#define HANDOVER_TESTS_TESTING_CAPABILITIES_H_

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <thread>

#include "gtest/gtest.h"

namespace handover::testing {

// Runs `fn` on a new thread whose EFFECTIVE set lacks CAP_SYS_ADMIN, so setns()
// fails with a real EPERM. Capabilities are per thread: the test's own stay intact.
template <typename Fn>
void RunWithoutCapSysAdmin(Fn fn) {
  std::thread thread([&] {
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    ASSERT_EQ(::syscall(SYS_capget, &header, data), 0);
    data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
    ASSERT_EQ(::syscall(SYS_capset, &header, data), 0);
    fn();
  });
  thread.join();
}

}  // namespace handover::testing

#endif  // HANDOVER_TESTS_TESTING_CAPABILITIES_H_
