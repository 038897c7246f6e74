// Runs the built `elephant` binary (ELEPHANT_CLI_PATH) as a child process with stdout and stderr
// captured, for the tests that check what a user sees: messages, output and exit status.
#pragma once

#include <fmt/format.h>
#include <sys/wait.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "format/scratch_checkpoint.h"

namespace elephant::testing {

struct CliResult {
  int exit_code = -1;  // the exit status; 128 + signal number when a signal ended the process
  std::string out;
  std::string err;
};

// Quotes one argument for /bin/sh.
inline std::string shell_quote(const std::string& arg) {
  std::string quoted = "'";
  for (char c : arg) {
    if (c == '\'') {
      quoted.append("'\\''");
    } else {
      quoted.push_back(c);
    }
  }
  quoted.push_back('\'');
  return quoted;
}

// environment: "NAME=value" settings for the child only; stdin_file: what the child reads.
inline CliResult run_cli(const std::vector<std::string>& args, const std::vector<std::string>& environment = {},
                         const std::string& stdin_file = "/dev/null") {
  const ScratchDir capture;
  std::string command = environment.empty() ? "" : "env ";
  for (const auto& setting : environment) command += shell_quote(setting) + " ";
  command += shell_quote(ELEPHANT_CLI_PATH);
  for (const auto& arg : args) command += fmt::format(" {}", shell_quote(arg));
  command += fmt::format(" <{} >{} 2>{}", shell_quote(stdin_file), shell_quote((capture / "out").string()),
                         shell_quote((capture / "err").string()));
  const int status = std::system(command.c_str());
  CliResult result;
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  result.out = read_file_bytes(capture / "out");
  result.err = read_file_bytes(capture / "err");
  return result;
}

}  // namespace elephant::testing
