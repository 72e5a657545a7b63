/* cli.h — subcommands of the tsasr executable; each returns the process exit code. */
#ifndef TS_CLI_H
#define TS_CLI_H

int cli_doctor(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_synth(int argc, char **argv);
int cli_speaker(int argc, char **argv);

#endif
