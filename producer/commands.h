/* The brig subcommands: each takes its own argv (argv[0] is its name) and
 * returns the process exit status. */
#ifndef BRIG_PRODUCER_COMMANDS_H
#define BRIG_PRODUCER_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_audit(int argc, char **argv);
/* brig audit sync: argv[0] is "sync". */
int cmd_audit_sync(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_session(int argc, char **argv);
/* brig session show: argv[0] is "show". */
int cmd_session_show(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_runtimes(int argc, char **argv);
/* brig mcp: execs the installed MCP server; returns only on failure. */
int cmd_mcp(int argc, char **argv);
int cmd_keygen(int argc, char **argv);

#endif
