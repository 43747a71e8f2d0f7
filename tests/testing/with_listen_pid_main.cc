// with_listen_pid: sets LISTEN_PID to its own pid, then execs the rest of its
// arguments. Socket activation passes fds only to the pid named in LISTEN_PID, and a
// test cannot know a child's pid before fork; exec keeps the pid, so the program run
// here sees LISTEN_PID == getpid().
//
//   with_listen_pid /path/to/demo_proxy --print_ready ...   (LISTEN_FDS set by the caller)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>

int main(int argc, char** argv) {
  if (argc < 2) {
    ::fprintf(stderr, "usage: with_listen_pid PROGRAM [ARGS...]\n");
    return 2;
  }
  const std::string pid = std::to_string(::getpid());
  if (::setenv("LISTEN_PID", pid.c_str(), 1) != 0) {
    ::perror("with_listen_pid: setenv");
    return 1;
  }
  ::execv(argv[1], argv + 1);
  ::fprintf(stderr, "with_listen_pid: execv(%s): %s\n", argv[1], ::strerror(errno));
  return 127;
}
