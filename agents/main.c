/*  main.c: the meshdl command-line tool: one executable, subcommands. */
#include <stdio.h>
#include <string.h>

int
main (int argc, char **argv)
{
    (void) argc; (void) argv;
    fprintf (stderr, "meshdl: under construction\n");
    return 2;
}
