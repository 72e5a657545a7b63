/* cli.h — subcommands of the tsasr executable; each returns the process exit code. */
#ifndef TS_CLI_H
#define TS_CLI_H

int cli_doctor(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_synth(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_select(int argc, char **argv);
int cli_train(int argc, char **argv);
int cli_decode(int argc, char **argv);
int cli_model(int argc, char **argv);
int cli_mix(int argc, char **argv);
int cli_speaker(int argc, char **argv);
int cli_demo(int argc, char **argv);
int cli_run(int argc, char **argv); /* scripting/lua_runner.c (TSASR_LUA) */
int cli_lua(int argc, char **argv);

#endif
