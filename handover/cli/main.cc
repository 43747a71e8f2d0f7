// handover CLI entry point. Subcommands are added in later commits.
#include <cstdio>

int main(int argc, char** argv) {
  (void)argc;
  (void)argv;
  std::fprintf(stderr, "handover: no subcommands yet\n");
  return 2;
}
